from __future__ import annotations

from django.db.models import Exists, OuterRef

from microstax.teams.choices import Role
from microstax.teams.models import Membership
from microstax.teams.permissions import is_auditor, teams_for

NAVIGATION = [
    ("environments:list", "Environments"),
    ("blueprints:list", "Blueprints"),
    ("snapshots:list", "Snapshots"),
    ("audit:events", "Audit"),
    ("environments:clusters", "Clusters"),
]
# Shown to platform admins and team owners only (``environments.fleet_view.scope_for``).
FLEET = ("environments:fleet", "Fleet")


def navigation(request) -> dict:
    """The team switcher and the navigation, on every page of a signed-in user."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    teams = navigation_teams(request)
    current = current_team_from(request, teams)
    sees_fleet = user.is_superuser or any(t.viewer_owns for t in teams)
    return {
        "nav_items": [*NAVIGATION, FLEET] if sees_fleet else NAVIGATION,
        "nav_teams": teams,
        "current_team": current,
        "viewer_is_auditor": is_auditor(user),
        # The first path segment, so a section's sub-pages highlight its navigation entry too.
        "nav_section": "/" + request.path.strip("/").split("/")[0] + "/",
    }


def navigation_teams(request) -> list:
    """The teams the signed-in user sees, by slug, read once per request (the page's view and the
    navigation both need them). Whether the user owns each rides along as a subquery."""
    if not hasattr(request, "_msx_teams"):
        owned = Membership.objects.filter(team=OuterRef("pk"), user=request.user, role=Role.OWNER)
        teams = teams_for(request.user).only("public_id", "slug", "name").annotate(viewer_owns=Exists(owned))
        request._msx_teams = list(teams.order_by("slug"))
    return request._msx_teams


def current_team(request):
    """The team the pages of a signed-in user show (see ``current_team_from``)."""
    return current_team_from(request, navigation_teams(request))


def current_team_from(request, teams):
    """The team chosen in the switcher (kept in the session), else the first visible team."""
    if hasattr(request, "_msx_current_team"):
        return request._msx_current_team
    wanted = request.session.get("team")
    current = next((t for t in teams if t.public_id == wanted), teams[0] if teams else None)
    request._msx_current_team = current
    return current
