"""GraphQL types of the snapshots app: snapshots with their lineage, sanitization policies, errors.

A snapshot may be visible beyond its team (a sanitized one restored elsewhere), so its team and
environments are shown as small references rather than the full Team/Environment types, whose
members and details stay with their team. Restores into environments the caller cannot see are
shown to the snapshot's own team only.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
import strawberry_django
from strawberry.scalars import JSON
from strawberry.types import Info

from blueprints.graphql.types import Problem
from environments.graphql.types import Operation
from microstax.graphql.context import user_of
from microstax.teams import permissions
from snapshots import models
from snapshots.queries import redacted_source


@strawberry.enum(description="Stable codes of snapshot-app errors")
class SnapshotErrorCode(Enum):
    INVALID = "INVALID"
    INVALID_POLICY = "INVALID_POLICY"
    NOT_FOUND = "NOT_FOUND"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    CONFLICT = "CONFLICT"
    NOT_READY = "NOT_READY"
    UNSANITIZED = "UNSANITIZED"
    UNSUPPORTED = "UNSUPPORTED"
    # What replaying (which creates an environment) may also answer:
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    POLICY_LIMIT = "POLICY_LIMIT"
    INVALID_BLUEPRINT = "INVALID_BLUEPRINT"


@strawberry.type
class SnapshotError:
    code: SnapshotErrorCode
    field: str | None
    message: str
    problems: list[Problem] = strawberry.field(
        default_factory=list, description="Policy problems, located in the YAML (line, column, path)"
    )


@strawberry.type(description="A team, as far as a snapshot's lineage shows it")
class TeamRef:
    id: strawberry.ID
    slug: str
    name: str


@strawberry.type(description="An environment, as far as a snapshot's lineage shows it")
class EnvironmentRef:
    id: strawberry.ID
    name: str
    state: str
    team: str = strawberry.field(description="The team's slug")


def team_ref(team) -> TeamRef:
    return TeamRef(id=team.public_id, slug=team.slug, name=team.name)


def environment_ref(env) -> EnvironmentRef:
    return EnvironmentRef(id=env.public_id, name=env.name, state=env.state, team=env.team.slug)


def visible_team_ids(info: Info) -> frozenset[int]:
    """The primary keys of the caller's teams, read once per request."""
    request = info.context if isinstance(info.context, dict) else info.context.request
    cached = getattr(request, "_msx_visible_team_ids", None)
    if cached is None:
        cached = frozenset(permissions.teams_for(user_of(info)).values_list("pk", flat=True))
        try:
            request._msx_visible_team_ids = cached
        except AttributeError:  # a context that takes no attributes: read again next time
            pass
    return cached


@strawberry_django.type(models.SanitizationPolicy, description="One immutable version of a team's sanitization policy")
class SanitizationPolicy:
    id: strawberry.ID = strawberry_django.field(field_name="public_id")
    name: str
    version: int
    strict: bool
    keep_unsanitized: bool
    content_hash: str
    created_at: datetime

    @strawberry.field(description="The policy YAML, with its salt redacted (the salt never leaves the server)")
    def source(self, root: models.SanitizationPolicy) -> str:
        return redacted_source(root.source)

    @strawberry.field
    def team(self, root: models.SanitizationPolicy) -> TeamRef:
        return team_ref(root.team)

    @strawberry.field
    def created_by(self, root: models.SanitizationPolicy) -> str:
        return root.created_by.username

    @classmethod
    def get_queryset(cls, queryset, info: Info, **kwargs):
        return queryset.filter(team__in=permissions.teams_for(user_of(info)))


@strawberry_django.type(models.SnapshotRestore, description="One restore of a snapshot: a line of its lineage")
class SnapshotRestore:
    service: str
    state: str
    state_reason: str
    created_at: datetime
    finished_at: datetime | None

    @strawberry.field(description="The target environment (null when the caller cannot see it)")
    def environment(self, root: models.SnapshotRestore, info: Info) -> EnvironmentRef | None:
        teams = visible_team_ids(info)
        if root.environment.team_id in teams or root.snapshot.team_id in teams:
            return environment_ref(root.environment)
        return None

    @strawberry.field
    def requested_by(self, root: models.SnapshotRestore) -> str:
        return root.requested_by.username

    @strawberry.field
    def operation(self, root: models.SnapshotRestore, info: Info) -> Operation | None:
        if root.operation_id is None or root.environment.team_id not in visible_team_ids(info):
            return None
        return root.operation


@strawberry_django.type(models.Snapshot, description="A (sanitized unless its policy says otherwise) database snapshot")
class Snapshot:
    id: strawberry.ID = strawberry_django.field(field_name="public_id")
    service: str
    engine: str
    state: str
    state_reason: str
    sanitized: bool
    size_bytes: float | None = strawberry_django.field(description="Artifact size in bytes (a float: may exceed 2³¹)")
    sha256: str
    row_counts: JSON = strawberry_django.field(description="table → rows captured")
    policy_name: str
    policy_version: str = strawberry_django.field(description="The policy version recorded in the artifact")
    storage_backend: str
    expires_at: datetime | None
    created_at: datetime
    completed_at: datetime | None
    deleted_at: datetime | None

    @strawberry.field
    def team(self, root: models.Snapshot) -> TeamRef:
        return team_ref(root.team)

    @strawberry.field(description="The source environment")
    def environment(self, root: models.Snapshot) -> EnvironmentRef:
        return environment_ref(root.environment)

    @strawberry.field
    def created_by(self, root: models.Snapshot) -> str:
        return root.created_by.username

    @strawberry.field(description="The policy version used (null when none, or when it is another team's)")
    def policy(self, root: models.Snapshot, info: Info) -> SanitizationPolicy | None:
        if root.policy_id is None or root.policy.team_id not in visible_team_ids(info):
            return None
        return root.policy

    @strawberry.field(description="The version number of the team policy used (null when none)")
    def policy_number(self, root: models.Snapshot) -> int | None:
        return root.policy.version if root.policy_id else None

    @strawberry.field(description="The capture operation")
    def operation(self, root: models.Snapshot, info: Info) -> Operation | None:
        if root.operation_id is None or root.environment.team_id not in visible_team_ids(info):
            return None
        return root.operation

    @strawberry.field(
        description="Teams this sanitized snapshot is shared with (all of them for its own team; "
        "for a team it was shared with, that team alone)"
    )
    def shared_with(self, root: models.Snapshot, info: Info) -> list[TeamRef]:
        teams = visible_team_ids(info)
        shares = [share for share in root.shares.all() if root.team_id in teams or share.team_id in teams]
        return [team_ref(share.team) for share in shares]

    @strawberry.field(description="Every restore of this snapshot, newest first: where its data went")
    def restores(self, root: models.Snapshot, info: Info) -> list[SnapshotRestore]:
        teams = visible_team_ids(info)
        rows = list(root.restores.all())
        if root.team_id in teams:
            return rows
        return [r for r in rows if r.environment.team_id in teams]

    @classmethod
    def get_queryset(cls, queryset, info: Info, **kwargs):
        from snapshots.queries import snapshots_for  # imports the actions, which import much

        return queryset.filter(pk__in=snapshots_for(user_of(info), include_deleted=True).values("pk"))


@strawberry.type(description="The static check of a policy YAML")
class PolicyValidation:
    valid: bool
    problems: list[Problem]
    name: str | None = None
    strict: bool | None = None
    version: str | None = strawberry.field(default=None, description="The content version the agent would record")
