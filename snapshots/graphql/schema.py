"""Snapshot queries and mutations. Resolvers resolve ids with the visibility rule (what the caller
cannot see is NOT_FOUND) and call :mod:`snapshots.actions`; the actions decide what is allowed."""

from __future__ import annotations

import strawberry
from django.db.models import Q
from strawberry.types import Info

from blueprints.graphql.types import Problem
from environments.graphql.schema import resolve_environment, visible_environments
from environments.graphql.types import Environment
from environments.graphql.types import Operation as OperationType
from microstax.graphql.context import current_user
from microstax.graphql.errors import bad_input
from microstax.graphql.pagination import Connection, paginate
from microstax.lib.errors import DomainError, NotFound, NotVisible
from microstax.teams import permissions
from microstax.teams.graphql.schema import resolve_team
from snapshots import actions, models
from snapshots.agent import parse_policy
from snapshots.graphql.types import (
    PolicyValidation,
    SanitizationPolicy,
    Snapshot,
    SnapshotError,
    SnapshotErrorCode,
    SnapshotRestore,
)
from snapshots.queries import snapshots_for, with_lineage

# Action field names → the names this API's inputs use.
_FIELDS = {"source": "yaml"}


def _error(exc: DomainError, *, source: str | None = None) -> SnapshotError:
    try:
        code = SnapshotErrorCode(exc.code)
    except ValueError:  # a code this enum does not know yet: still an error, never a crash
        code = SnapshotErrorCode.INVALID
    problems = list(getattr(exc, "problems", None) or [])
    if not problems and source is not None and exc.code == "INVALID_POLICY":
        # The action's message lists the problems; clients get them located, one by one.
        problems = [p for p in actions.validate_policy(source) if p.severity == "error"]
    field = _FIELDS.get(exc.field or "", exc.field)
    return SnapshotError(code=code, field=field, message=exc.message, problems=[Problem.from_data(p) for p in problems])


def snapshot_queryset(user, *, include_deleted: bool = False):
    """Snapshots the caller sees, with everything their type reads (constant query count)."""
    return with_lineage(snapshots_for(user, include_deleted=include_deleted))


def resolve_snapshot(user, snapshot_id: str, *, field: str = "snapshot") -> models.Snapshot:
    snapshot = actions.visible_snapshots(user).filter(public_id=snapshot_id).first()
    if snapshot is None:
        raise NotVisible("snapshot not found", field=field)
    return snapshot


def resolve_policy(user, policy: str | None, *, team) -> models.SanitizationPolicy | None:
    """A policy by id (``pol_…``, any version the caller can see) or by name (the team's latest)."""
    if not policy:
        return None
    visible = models.SanitizationPolicy.objects.filter(team__in=permissions.teams_for(user))
    found = visible.filter(public_id=policy).first()
    if found is None:
        found = visible.filter(team=team, name=policy).order_by("-version").first()
    if found is None:
        raise NotFound(f"no sanitization policy '{policy}' in team '{team.slug}'", field="policy")
    return found


def share_target(team: str):
    """The team a snapshot is shared with, by id or slug: any team, not only the caller's (sharing
    is how data reaches a team one is not in). The action decides whether the caller may share."""
    from microstax.teams.models import Team

    found = Team.objects.filter(Q(public_id=team) | Q(slug=team)).first()
    if found is None:
        raise NotFound(f"no team '{team}'", field="team")
    return found


def _fresh(user, snapshot: models.Snapshot) -> models.Snapshot | None:
    # What the caller sees after the change (a deleted snapshot stays visible as history).
    return snapshot_queryset(user, include_deleted=True).filter(pk=snapshot.pk).first()


@strawberry.input
class CreateSnapshotInput:
    environment: strawberry.ID
    service: str | None = strawberry.field(default=None, description="default: the environment's database service")
    policy: str | None = strawberry.field(
        default=None, description="policy id (pol_…) or name (its latest version); default: the team's default"
    )


@strawberry.input
class RestoreSnapshotInput:
    snapshot: strawberry.ID
    environment: strawberry.ID = strawberry.field(description="The target environment (env_…)")
    service: str | None = strawberry.field(default=None, description="default: the snapshot's service")


@strawberry.input
class ReplayEnvironmentInput:
    environment: strawberry.ID = strawberry.field(description="The environment to re-create (env_…)")
    snapshot: strawberry.ID | None = strawberry.field(default=None, description="restore this snapshot into it")
    name: str | None = None


@strawberry.input
class SnapshotIdInput:
    id: strawberry.ID


@strawberry.input
class ShareSnapshotInput:
    snapshot: strawberry.ID
    team: strawberry.ID = strawberry.field(description="The team to share with (id or slug)")
    revoke: bool = strawberry.field(default=False, description="Withdraw the share instead")


@strawberry.input
class CreateSanitizationPolicyInput:
    team: strawberry.ID
    name: str
    yaml: str


@strawberry.type
class SnapshotPayload:
    snapshot: Snapshot | None = None
    operation: OperationType | None = None
    errors: list[SnapshotError] = strawberry.field(default_factory=list)


@strawberry.type
class RestorePayload:
    restore: SnapshotRestore | None = None
    snapshot: Snapshot | None = None
    operation: OperationType | None = None
    errors: list[SnapshotError] = strawberry.field(default_factory=list)


@strawberry.type
class ReplayPayload:
    environment: Environment | None = None
    operation: OperationType | None = None
    errors: list[SnapshotError] = strawberry.field(default_factory=list)


@strawberry.type
class SanitizationPolicyPayload:
    policy: SanitizationPolicy | None = None
    errors: list[SnapshotError] = strawberry.field(default_factory=list)


def validation_of(source: str) -> PolicyValidation:
    """The static check (``actions.validate_policy``) and what the parsed policy says of itself."""
    problems = list(actions.validate_policy(source))
    policy, _ = parse_policy(source)
    valid = not any(p.severity == "error" for p in problems)
    return PolicyValidation(
        valid=valid,
        problems=[Problem.from_data(p) for p in problems],
        name=policy.name if policy is not None else None,
        strict=policy.strict if policy is not None else None,
        version=policy.version if policy is not None and valid else None,
    )


@strawberry.type
class Query:
    @strawberry.field(description="Snapshots the caller can see, newest first")
    def snapshots(
        self,
        info: Info,
        environment: strawberry.ID | None = None,
        team: strawberry.ID | None = None,
        state: str | None = None,
        include_deleted: bool = False,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Snapshot]:
        user = current_user(info)
        history = include_deleted or (state or "").lower() == models.SnapshotState.DELETED
        queryset = snapshot_queryset(user, include_deleted=history).order_by("-created_at", "-pk")
        if environment:
            try:
                env = resolve_environment(user, environment, field="environment")
            except NotFound:
                raise bad_input("environment not found", field="environment") from None
            queryset = queryset.filter(environment=env)
        if team:
            queryset = queryset.filter(Q(team__public_id=team) | Q(team__slug=team))
        if state:
            if state.lower() not in models.SnapshotState.values:
                raise bad_input(f"state must be one of {', '.join(models.SnapshotState.values)}", field="state")
            queryset = queryset.filter(state=state.lower())
        elif not include_deleted:
            queryset = queryset.live()
        return paginate(queryset, first=first, after=after)

    @strawberry.field(description="One snapshot by id (snap_…), deleted ones too; null when absent or not visible")
    def snapshot(self, info: Info, id: strawberry.ID) -> Snapshot | None:
        return snapshot_queryset(current_user(info), include_deleted=True).filter(public_id=id).first()

    @strawberry.field(description="Sanitization policies (every version, newest first per name)")
    def sanitization_policies(
        self, info: Info, team: strawberry.ID | None = None, name: str | None = None
    ) -> list[SanitizationPolicy]:
        user = current_user(info)
        queryset = models.SanitizationPolicy.objects.filter(team__in=permissions.teams_for(user))
        if team:
            try:
                queryset = queryset.filter(team=resolve_team(user, team))
            except NotFound:
                raise bad_input("team not found", field="team") from None
        if name:
            queryset = queryset.filter(name=name)
        return list(queryset.select_related("team", "created_by").order_by("team__slug", "name", "-version"))


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Capture (and sanitize) a service's database as a snapshot")
    def create_snapshot(self, info: Info, input: CreateSnapshotInput) -> SnapshotPayload:
        user = current_user(info)
        try:
            env = resolve_environment(user, input.environment, field="environment")
            policy = resolve_policy(user, input.policy, team=env.team)
            snapshot = actions.create_snapshot(actor=user, env=env, service=input.service or None, policy=policy)
        except DomainError as exc:
            return SnapshotPayload(errors=[_error(exc)])
        fresh = _fresh(user, snapshot)
        return SnapshotPayload(snapshot=fresh, operation=fresh.operation if fresh else None)

    @strawberry.mutation(description="Restore a snapshot into a service of an environment")
    def restore_snapshot(self, info: Info, input: RestoreSnapshotInput) -> RestorePayload:
        user = current_user(info)
        try:
            snapshot = resolve_snapshot(user, input.snapshot)
            env = resolve_environment(user, input.environment, field="environment")
            restore = actions.restore_snapshot(actor=user, snapshot=snapshot, env=env, service=input.service or None)
        except DomainError as exc:
            return RestorePayload(errors=[_error(exc)])
        restore = (
            models.SnapshotRestore.objects.select_related("environment__team", "requested_by", "snapshot")
            .select_related("operation__actor")
            .get(pk=restore.pk)
        )
        return RestorePayload(restore=restore, snapshot=_fresh(user, snapshot), operation=restore.operation)

    @strawberry.mutation(
        description="Re-create an environment from its recorded blueprint version, optionally restoring a snapshot"
    )
    def replay_environment(self, info: Info, input: ReplayEnvironmentInput) -> ReplayPayload:
        user = current_user(info)
        try:
            env = resolve_environment(user, input.environment, field="environment")
            snapshot = resolve_snapshot(user, input.snapshot) if input.snapshot else None
            replayed = actions.replay_environment(actor=user, env=env, snapshot=snapshot, name=input.name or None)
        except DomainError as exc:
            return ReplayPayload(errors=[_error(exc)])
        fresh = visible_environments(user).get(pk=replayed.pk)
        operation = fresh.operations.order_by("-created_at", "-pk").first()
        return ReplayPayload(environment=fresh, operation=operation)

    @strawberry.mutation(description="Delete a snapshot's artifact; the record stays as history")
    def delete_snapshot(self, info: Info, input: SnapshotIdInput) -> SnapshotPayload:
        user = current_user(info)
        try:
            snapshot = resolve_snapshot(user, input.id, field="id")
            snapshot = actions.delete_snapshot(actor=user, snapshot=snapshot)
        except DomainError as exc:
            return SnapshotPayload(errors=[_error(exc)])
        return SnapshotPayload(snapshot=_fresh(user, snapshot))

    @strawberry.mutation(
        description="Share a sanitized snapshot with another team (maintainers and owners of its team), "
        "which may then restore it; or withdraw the share with revoke"
    )
    def share_snapshot(self, info: Info, input: ShareSnapshotInput) -> SnapshotPayload:
        user = current_user(info)
        try:
            snapshot = resolve_snapshot(user, input.snapshot)
            team = share_target(input.team)
            if input.revoke:
                actions.unshare_snapshot(actor=user, snapshot=snapshot, team=team)
            else:
                actions.share_snapshot(actor=user, snapshot=snapshot, team=team)
        except DomainError as exc:
            return SnapshotPayload(errors=[_error(exc)])
        return SnapshotPayload(snapshot=_fresh(user, snapshot))

    @strawberry.mutation(description="Publish a sanitization policy: a new version unless the content is unchanged")
    def create_sanitization_policy(self, info: Info, input: CreateSanitizationPolicyInput) -> SanitizationPolicyPayload:
        user = current_user(info)
        try:
            team = resolve_team(user, input.team)
            policy = actions.create_policy(actor=user, team=team, name=input.name, source=input.yaml)
        except DomainError as exc:
            return SanitizationPolicyPayload(errors=[_error(exc, source=input.yaml)])
        fresh = models.SanitizationPolicy.objects.select_related("team", "created_by").get(pk=policy.pk)
        return SanitizationPolicyPayload(policy=fresh)

    @strawberry.mutation(description="Check a policy YAML statically (no database, no side effects)")
    def validate_sanitization_policy(self, info: Info, yaml: str) -> PolicyValidation:
        current_user(info)
        return validation_of(yaml)
