from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    """A member's role in a team, from most to least privileged."""

    OWNER = "owner", "Owner"
    MAINTAINER = "maintainer", "Maintainer"
    DEVELOPER = "developer", "Developer"
    VIEWER = "viewer", "Viewer"


class TeamPermission(models.TextChoices):
    """Object permissions on a Team, granted to the team's role groups through guardian.

    Team-owned objects (blueprints, environments, snapshots) are authorised against their team's
    permissions, so one grant per role covers everything the team owns.
    """

    VIEW = "view_team", "Can view the team and everything it owns"
    CHANGE = "change_team", "Can rename the team"
    MANAGE_MEMBERS = "manage_members", "Can add, remove and change the role of members"
    USE_ENVIRONMENTS = "use_environments", "Can create and operate environments"
    MANAGE_BLUEPRINTS = "manage_blueprints", "Can publish blueprints"
    MANAGE_BASELINES = "manage_baselines", "Can create and promote baselines, set team policy"


ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.VIEWER: frozenset({TeamPermission.VIEW}),
    Role.DEVELOPER: frozenset({TeamPermission.VIEW, TeamPermission.USE_ENVIRONMENTS, TeamPermission.MANAGE_BLUEPRINTS}),
    Role.MAINTAINER: frozenset(
        {
            TeamPermission.VIEW,
            TeamPermission.CHANGE,
            TeamPermission.USE_ENVIRONMENTS,
            TeamPermission.MANAGE_BLUEPRINTS,
            TeamPermission.MANAGE_BASELINES,
        }
    ),
    Role.OWNER: frozenset(TeamPermission.values),
}
