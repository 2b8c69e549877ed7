from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
import strawberry_django
from django.db.models import Prefetch
from strawberry.types import Info

from microstax.teams import models, permissions
from microstax.teams.choices import ROLE_PERMISSIONS, TeamPermission
from microstax.teams.choices import Role as RoleChoices

Role = strawberry.enum(Enum("Role", {r.name: r.value for r in RoleChoices}), description="A member's role in a team")


@strawberry.enum(description="Stable codes of team and token errors")
class TeamErrorCode(Enum):
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    CONFLICT = "CONFLICT"
    LAST_OWNER = "LAST_OWNER"
    UNAUTHENTICATED = "UNAUTHENTICATED"


@strawberry.type
class TeamError:
    code: TeamErrorCode
    field: str | None
    message: str


@strawberry_django.type(models.Membership)
class Member:
    role: Role
    created_at: datetime = strawberry_django.field(name="joinedAt")

    @strawberry.field
    def username(self, root: models.Membership) -> str:
        return root.user.username

    @strawberry.field
    def full_name(self, root: models.Membership) -> str:
        return root.user.get_full_name()


def memberships_prefetch() -> Prefetch:
    return Prefetch("memberships", queryset=models.Membership.objects.select_related("user"))


@strawberry_django.type(models.Team)
class Team:
    id: strawberry.ID = strawberry_django.field(field_name="public_id")
    slug: str
    name: str
    created_at: datetime

    @strawberry.field(description="Members and their roles, sorted by username")
    def members(self, root: models.Team) -> list[Member]:
        return list(root.memberships.all())

    @strawberry.field(description="The caller's role in this team (null for platform admins who are not members)")
    def viewer_role(self, root: models.Team, info: Info) -> Role | None:
        user = info.context.request.user
        for membership in root.memberships.all():
            if membership.user_id == user.pk:
                return membership.role
        return None

    @strawberry.field(description="What the caller may do in this team")
    def viewer_permissions(self, root: models.Team, info: Info) -> list[str]:
        # Derived from the prefetched membership and the same role table the guardian grants come
        # from, so listing many teams costs no query per team.
        user = info.context.request.user
        if user.is_superuser:
            return sorted(TeamPermission.values)
        role = next((m.role for m in root.memberships.all() if m.user_id == user.pk), None)
        return sorted(ROLE_PERMISSIONS.get(role, ()))

    @classmethod
    def get_queryset(cls, queryset, info: Info, **kwargs):
        # Every list, nested relation and lookup of teams is filtered here, in SQL.
        return queryset.filter(pk__in=permissions.teams_for(info.context.request.user).values("pk"))


@strawberry_django.type(models.ApiToken)
class ApiToken:
    id: strawberry.ID = strawberry_django.field(field_name="public_id")
    name: str
    display_prefix: str = strawberry_django.field(description="The token's first characters, to recognise it")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    status: str = strawberry_django.field(description="active, expired or revoked")


@strawberry.type
class Viewer:
    username: str
    full_name: str
    email: str
    is_platform_admin: bool
    is_auditor: bool
    token_name: str | None = strawberry.field(description="The API token this request authenticated with, if any")
