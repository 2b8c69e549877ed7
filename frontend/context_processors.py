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
    # Whether the user owns a team rides along the teams query as a subquery: no query of its own.
    owned = Membership.objects.filter(team=OuterRef("pk"), user=user, role=Role.OWNER)
    teams = list(teams_for(user).only("public_id", "slug", "name").annotate(viewer_owns=Exists(owned)).order_by("slug"))
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


def current_team_from(request, teams):
    """The team chosen in the switcher (kept in the session), else the first visible team."""
    if hasattr(request, "_msx_current_team"):
        return request._msx_current_team
    wanted = request.session.get("team")
    current = next((t for t in teams if t.public_id == wanted), teams[0] if teams else None)
    request._msx_current_team = current
    return current
