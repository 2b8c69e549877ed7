"""The one code path for team authorisation, used by GraphQL, views and commands alike.

Permissions live on the Team object in guardian's direct foreign-key tables, granted to one auth
Group per (team, role); a membership puts its user in exactly one of those groups. Lists are
filtered in SQL through ``teams_for``.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.db.models import Q, QuerySet
from guardian.shortcuts import assign_perm

from microstax.teams.choices import ROLE_PERMISSIONS, Role, TeamPermission
from microstax.teams.models import (
    Membership,
    Team,
    TeamGroupObjectPermission,
    TeamRoleGroup,
    TeamUserObjectPermission,
)

AUDITOR_PERMISSION = "audit.view_all_events"


def _qualified(perm: str) -> str:
    return perm if "." in perm else f"teams.{perm}"


def ensure_role_groups(team: Team) -> dict[str, Group]:
    """Create the team's role groups and grant their object permissions (idempotent)."""
    groups: dict[str, Group] = {}
    existing = {rg.role: rg.group for rg in TeamRoleGroup.objects.filter(team=team).select_related("group")}
    for role in Role:
        group = existing.get(role)
        if group is None:
            group, _ = Group.objects.get_or_create(name=team.role_group_name(role))
            TeamRoleGroup.objects.create(team=team, role=role, group=group)
            for perm in ROLE_PERMISSIONS[role]:
                assign_perm(_qualified(perm), group, team)
        groups[role] = group
    return groups


def set_membership_group(membership: Membership) -> None:
    """Put the member in exactly the group of their current role on that team."""
    groups = ensure_role_groups(membership.team)
    membership.user.groups.remove(*[g for role, g in groups.items() if role != membership.role])
    membership.user.groups.add(groups[membership.role])


def clear_membership_group(team: Team, user) -> None:
    membership_groups = Group.objects.filter(team_role__team=team)
    user.groups.remove(*membership_groups)


def has_team_perm(user, team: Team, perm: str | TeamPermission) -> bool:
    if user is None or isinstance(user, AnonymousUser) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    app_label, codename = _qualified(str(perm)).split(".", 1)
    return app_label == Team._meta.app_label and codename in team_perms(user, team)


def team_perms(user, team: Team) -> frozenset[str]:
    """Every permission ``user`` holds on ``team``, read at once (a page needing several of them pays
    one lookup instead of one per ``has_team_perm``); the same rules as ``has_team_perm``."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset(TeamPermission.values)
    # What guardian's ObjectPermissionChecker answers, in one query instead of two.
    through_groups = TeamGroupObjectPermission.objects.filter(group__user=user, content_object=team)
    direct = TeamUserObjectPermission.objects.filter(user=user, content_object=team)
    return frozenset(
        through_groups.values_list("permission__codename", flat=True).union(
            direct.values_list("permission__codename", flat=True)
        )
    )


def teams_for(user, perm: str | TeamPermission = TeamPermission.VIEW) -> QuerySet[Team]:
    """Teams on which ``user`` holds ``perm``, as a queryset filtered in SQL.

    What guardian's ``get_objects_for_user`` answers (superusers: every team; others: the team
    permission granted to one of their groups or to them directly, no global permissions), read
    straight from the two foreign-key tables: every list and page asks this, and guardian's general
    version costs a few milliseconds of Python per call to find the tables this one names.
    """
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Team.objects.none()
    if user.is_superuser:
        return Team.objects.all()
    app_label, codename = _qualified(str(perm)).split(".", 1)
    granted = {"permission__codename": codename, "permission__content_type__app_label": app_label}
    return Team.objects.filter(
        Q(pk__in=TeamGroupObjectPermission.objects.filter(group__user=user, **granted).values("content_object"))
        | Q(pk__in=TeamUserObjectPermission.objects.filter(user=user, **granted).values("content_object"))
    )


def role_of(user, team: Team) -> str | None:
    membership = Membership.objects.filter(team=team, user=user).only("role").first()
    return membership.role if membership else None


def is_auditor(user) -> bool:
    """Compliance reviewers (and platform admins) read every audit event."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    # user.has_perm's answer (granted to the user or one of their groups) in one query instead of the
    # two that load every permission the user has; every page asks it for the navigation.
    app_label, codename = AUDITOR_PERMISSION.split(".")
    return Permission.objects.filter(
        Q(user=user) | Q(group__user=user), content_type__app_label=app_label, codename=codename
    ).exists()


def require_team_perm(actor, team: Team, perm: TeamPermission, *, doing: str | None = None) -> None:
    """Raise unless ``actor`` holds ``perm`` on ``team``.

    Outsiders get NOT_FOUND, so a team's existence is not leaked; members whose role lacks the
    permission get PERMISSION_DENIED naming what was refused.
    """
    from microstax.lib.errors import NotVisible, PermissionDenied

    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise PermissionDenied("authentication required")
    if not has_team_perm(actor, team, TeamPermission.VIEW):
        raise NotVisible("team not found", field="team", team=team)
    if not has_team_perm(actor, team, perm):
        raise PermissionDenied(
            f"your role in team '{team.slug}' does not allow {doing or perm.label.lower()}", team=team
        )
