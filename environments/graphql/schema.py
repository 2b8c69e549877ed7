from __future__ import annotations

from collections.abc import Mapping

import strawberry
from django.db.models import F, Prefetch, Q
from graphql import GraphQLError
from strawberry.types import Info
from strawberry.types.nodes import SelectedField

from blueprints.graphql.types import Problem
from blueprints.models import BlueprintVersion
from environments import actions, models
from environments.choices import STATE_ALIASES, EnvironmentMode, EnvironmentState
from environments.graphql.types import (
    Cluster,
    Environment,
    EnvironmentError,
    EnvironmentErrorCode,
    EnvironmentPlan,
    LogLine,
    PlanConflict,
)
from environments.graphql.types import Operation as OperationType
from microstax import kube
from microstax.graphql.context import current_user
from microstax.graphql.errors import bad_input
from microstax.graphql.pagination import Connection, paginate
from microstax.lib.errors import DomainError, NotFound, NotVisible
from microstax.teams import permissions
from microstax.teams.graphql.schema import resolve_team


def _error(exc: DomainError) -> EnvironmentError:
    problems = [Problem.from_data(p) for p in getattr(exc, "problems", [])]
    conflicts = [
        PlanConflict(code=str(c.code), services=list(c.services), message=c.message)
        for c in getattr(exc, "conflicts", [])
    ]
    return EnvironmentError(
        code=EnvironmentErrorCode(exc.code),
        field=exc.field,
        message=exc.message,
        problems=problems,
        conflicts=conflicts,
    )


def visible_environments(user, fields: Mapping[str, list] | None = None):
    """Environments ``user`` may see, with what the Environment type reads fetched up front.

    ``fields`` are the Environment fields a query selected (:func:`environment_fields`): then only
    their relations are fetched, and the large JSON columns no selected field reads stay in the
    database (a list of 50 overlays otherwise decodes every spec and difference graph, and every
    step of every operation). ``None`` fetches everything (pages, mutation payloads).
    """
    queryset = models.Environment.objects.filter(team__in=permissions.teams_for(user)).annotate(
        parent_public_id=F("parent__public_id")
    )
    everything = fields is None
    fields = fields or {}
    queryset = queryset.select_related(*(name for key, name in _RELATED.items() if everything or key in fields))
    if not everything:
        unread = [column for column, readers in _HEAVY_COLUMNS.items() if not readers & fields.keys()]
        queryset = queryset.defer(*unread)
    if everything or fields.keys() & {"services", "endpoints", "lineage"}:
        # Of the provider, the fields say only its id and name: not its blueprint and plan.
        services = models.ServiceInstance.objects.select_related("provided_by")
        services = services.defer(*(f"provided_by__{column}" for column in _HEAVY_COLUMNS))
        queryset = queryset.prefetch_related(Prefetch("services", queryset=services))
    # Operations: prefetched for a query that selects them (a list of environments would otherwise
    # read them one environment at a time). Pages and payloads read the newest few themselves: an
    # environment's whole history, steps and all, is not theirs to load.
    if "operations" in fields:
        wanted = _selected(fields["operations"])
        operations = models.Operation.objects.defer(*_OPERATION_COLUMNS)
        if "requestedBy" in wanted:
            operations = operations.select_related("actor")
        if "steps" in wanted:
            operations = operations.prefetch_related("steps")
        queryset = queryset.prefetch_related(Prefetch("operations", queryset=operations))
    return queryset


# Environment fields → the relation each reads; the columns only some fields read (``source`` and
# the like: none of them).
_RELATED = {"team": "team", "cluster": "cluster", "createdBy": "created_by", "blueprintVersion": "blueprint_version"}
_HEAVY_COLUMNS = {
    "source": frozenset(),
    "files": frozenset(),
    "drift": frozenset(),
    "secrets_encrypted": frozenset(),
    "spec": frozenset({"spec"}),
    "difference_plan": frozenset({"plan", "lineage", "cost"}),
}
_OPERATION_COLUMNS = ("params", "request_context")  # what the Operation type never reads


def _selected(selections: list) -> dict[str, list]:
    """Selected field name → its own selections, with fragments flattened."""
    out: dict[str, list] = {}
    for selection in selections:
        if isinstance(selection, SelectedField):
            out.setdefault(selection.name, []).extend(selection.selections)
        else:  # a fragment spread or an inline fragment
            for name, inner in _selected(selection.selections).items():
                out.setdefault(name, []).extend(inner)
    return out


def environment_fields(info: Info, *path: str) -> dict[str, list]:
    """The Environment fields selected at ``path`` below this resolver's field (``edges``, ``node``
    for a connection), for :func:`visible_environments`."""
    level = _selected([inner for field in info.selected_fields for inner in field.selections])
    for name in path:
        level = _selected(level.get(name, []))
    return level


def resolve_environment(user, environment_id: str, *, field: str = "id") -> models.Environment:
    env = models.Environment.objects.filter(team__in=permissions.teams_for(user), public_id=environment_id)
    env = env.select_related("team", "cluster").first()
    if env is None:
        raise NotVisible("environment not found", field=field)
    return env


def _cluster(name_or_id: str | None) -> models.Cluster | None:
    if not name_or_id:
        return None
    cluster = models.Cluster.objects.filter(Q(public_id=name_or_id) | Q(name=name_or_id)).first()
    if cluster is None:
        raise NotFound(f"no cluster named '{name_or_id}'", field="cluster")
    return cluster


def _version(user, version_id: str | None, team=None) -> BlueprintVersion | None:
    if not version_id:
        return None
    version = (
        BlueprintVersion.objects.filter(public_id=version_id, blueprint__team__in=permissions.teams_for(user))
        .select_related("blueprint")
        .first()
    )
    if version is None:
        raise NotVisible("blueprint version not found", field="blueprintVersion")
    return version


@strawberry.input
class RegisterClusterInput:
    name: str
    kubeconfig: str = strawberry.field(description="kubeconfig file content; stored encrypted, never returned")
    context: str | None = None
    kind: str = "k3s"
    ingress_domain: str = ""
    routing_provider: str | None = None
    storage_class: str = ""
    is_default: bool = False


@strawberry.type
class ClusterPayload:
    cluster: Cluster | None = None
    errors: list[EnvironmentError] = strawberry.field(default_factory=list)


@strawberry.input(description="A file the blueprint references by path (a seed script, an OpenAPI document)")
class FileInput:
    path: str
    content: str


def _files(files: list[FileInput] | None) -> dict[str, str] | None:
    return None if files is None else {f.path: f.content for f in files}


@strawberry.input
class CreateEnvironmentInput:
    team: strawberry.ID
    yaml: str | None = None
    blueprint_version: strawberry.ID | None = None
    name: str | None = None
    plan: str | None = None
    ttl: str | None = strawberry.field(default=None, description="e.g. 48h; default: the blueprint's ttl")
    cluster: str | None = strawberry.field(default=None, description="cluster name or id; default: the default")
    files: list[FileInput] | None = None


@strawberry.input
class CreateOverlayInput:
    yaml: str = strawberry.field(description="Only what changes: replaced, added or removed services")
    base: strawberry.ID | None = strawberry.field(
        default=None, description="The baseline or overlay to derive from (env_…); default: routing.baselineId"
    )
    name: str | None = None
    ttl: str | None = strawberry.field(default=None, description="default 24h for overlays")


@strawberry.input
class PlanEnvironmentInput:
    yaml: str
    base: strawberry.ID | None = strawberry.field(default=None, description="plan as an overlay of this base")
    name: str | None = None


@strawberry.type
class PlanPayload:
    plan: EnvironmentPlan | None = None
    errors: list[EnvironmentError] = strawberry.field(default_factory=list)


@strawberry.input
class UpdateEnvironmentInput:
    id: strawberry.ID
    yaml: str | None = None
    blueprint_version: strawberry.ID | None = None
    plan: str | None = None
    files: list[FileInput] | None = strawberry.field(default=None, description="null keeps the current files")


@strawberry.input
class EnvironmentIdInput:
    id: strawberry.ID


@strawberry.input
class DeleteEnvironmentInput:
    id: strawberry.ID
    force: bool = False


@strawberry.input
class ScaleServiceInput:
    id: strawberry.ID
    service: str
    replicas: int


@strawberry.input
class ExtendEnvironmentInput:
    id: strawberry.ID
    ttl: str


@strawberry.input
class SetAutoShutdownInput:
    id: strawberry.ID
    enabled: bool
    delay_minutes: int | None = None


@strawberry.type
class EnvironmentPayload:
    environment: Environment | None = None
    operation: OperationType | None = None
    errors: list[EnvironmentError] = strawberry.field(default_factory=list)


def _payload(user, run) -> EnvironmentPayload:
    try:
        env, operation = run()
    except DomainError as exc:
        return EnvironmentPayload(errors=[_error(exc)])
    fresh = visible_environments(user).get(pk=env.pk)
    return EnvironmentPayload(environment=fresh, operation=operation)


def _latest_operation(env):
    return env.operations.order_by("-created_at", "-pk").first()


@strawberry.type
class Query:
    @strawberry.field(description="Registered clusters (every signed-in user sees them; credentials never)")
    def clusters(self, info: Info) -> list[Cluster]:
        current_user(info)
        return list(models.Cluster.objects.order_by("name"))

    @strawberry.field(description="Environments the caller can see, newest first")
    def environments(
        self,
        info: Info,
        team: strawberry.ID | None = None,
        state: str | None = None,
        mode: str | None = None,
        include_deleted: bool = False,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Environment]:
        fields = environment_fields(info, "edges", "node")
        queryset = visible_environments(current_user(info), fields).order_by("-created_at", "-pk")
        if team:
            queryset = queryset.filter(Q(team__public_id=team) | Q(team__slug=team))
        if state:
            state = STATE_ALIASES.get(state.lower(), state.lower())
            if state not in EnvironmentState.values:
                raise bad_input(f"state must be one of {', '.join(EnvironmentState.values)}", field="state")
            queryset = queryset.filter(state=state)
        elif not include_deleted:
            queryset = queryset.exclude(state=EnvironmentState.DELETED)
        if mode:
            queryset = queryset.filter(mode=mode.lower())
        return paginate(queryset, first=first, after=after)

    @strawberry.field(description="Baselines the caller can see")
    def baselines(
        self, info: Info, team: strawberry.ID | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[Environment]:
        fields = environment_fields(info, "edges", "node")
        queryset = visible_environments(current_user(info), fields).filter(mode=EnvironmentMode.BASELINE)
        queryset = queryset.exclude(state=EnvironmentState.DELETED).order_by("-created_at", "-pk")
        if team:
            queryset = queryset.filter(Q(team__public_id=team) | Q(team__slug=team))
        return paginate(queryset, first=first, after=after)

    @strawberry.field(description="Overlays deriving from a baseline (directly or through other overlays)")
    def overlays(
        self, info: Info, baseline: strawberry.ID, first: int | None = None, after: str | None = None
    ) -> Connection[Environment]:
        user = current_user(info)
        try:
            base = resolve_environment(user, baseline)
        except NotFound:
            raise bad_input("baseline not found", field="baseline") from None
        ids, frontier = [], [base.pk]
        while frontier:
            frontier = list(models.Environment.objects.filter(parent__in=frontier).values_list("pk", flat=True))
            ids += frontier
        queryset = visible_environments(user, environment_fields(info, "edges", "node")).filter(pk__in=ids)
        queryset = queryset.exclude(state=EnvironmentState.DELETED)
        return paginate(queryset.order_by("-created_at", "-pk"), first=first, after=after)

    @strawberry.field(description="Dry run: the difference graph a blueprint would get, with no side effects")
    def plan_environment(self, info: Info, input: PlanEnvironmentInput) -> PlanPayload:
        user = current_user(info)
        try:
            if input.base:
                base = resolve_environment(user, input.base, field="base")
                _, plan = actions.plan_overlay(actor=user, base=base, source=input.yaml, name=input.name)
            else:
                plan = actions.plan_isolated(source=input.yaml)
        except DomainError as exc:
            return PlanPayload(errors=[_error(exc)])
        return PlanPayload(plan=EnvironmentPlan.from_dict(plan.to_dict()))

    @strawberry.field(description="One environment by id (env_…); null when absent or not visible")
    def environment(self, info: Info, id: strawberry.ID) -> Environment | None:
        # Its operations are read by their own field, newest first and only as many as asked for.
        fields = {name: sub for name, sub in environment_fields(info).items() if name != "operations"}
        env = visible_environments(current_user(info), fields).filter(public_id=id).first()
        if env is not None:
            actions.touch_activity(env)  # `env get`/`status`/`wait` are use: push back idle shutdown
        return env

    @strawberry.field(description="Recent log lines of a service's pods")
    def environment_logs(self, info: Info, id: strawberry.ID, service: str, tail_lines: int = 100) -> list[LogLine]:
        user = current_user(info)
        try:
            env = resolve_environment(user, id)
        except NotFound:
            raise bad_input("environment not found", field="id") from None
        if not 1 <= tail_lines <= 5000:
            raise bad_input("tailLines must be between 1 and 5000", field="tailLines")
        if not env.services.filter(name=service).exists():
            raise bad_input(f"environment has no service '{service}'", field="service")
        stopped = actions.not_running(env, "read its logs")
        if stopped:
            raise GraphQLError(stopped, extensions={"code": "NOT_RUNNING", "field": "id", "state": env.state})
        actions.touch_activity(env)
        try:
            lines = kube.tail(
                actions.cluster_config(env.cluster),
                env.namespace,
                service,
                environment_id=env.public_id,
                tail_lines=tail_lines,
            )
        except kube.KubeError as exc:
            raise bad_input(f"logs are not available: {exc}", field="service") from None
        return [LogLine(pod=line.pod, line=line.line) for line in lines]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Register a cluster from a kubeconfig (platform admins)")
    def register_cluster(self, info: Info, input: RegisterClusterInput) -> ClusterPayload:
        user = current_user(info)
        try:
            cluster = actions.register_cluster(
                actor=user,
                name=input.name,
                kubeconfig=input.kubeconfig,
                context=input.context,
                kind=input.kind,
                ingress_domain=input.ingress_domain,
                routing_provider=input.routing_provider,
                storage_class=input.storage_class,
                is_default=input.is_default,
            )
        except DomainError as exc:
            return ClusterPayload(errors=[_error(exc)])
        return ClusterPayload(cluster=cluster)

    @strawberry.mutation(description="Create an environment from blueprint YAML or a published version")
    def create_environment(self, info: Info, input: CreateEnvironmentInput) -> EnvironmentPayload:
        return _create(info, input, mode=None)

    @strawberry.mutation(description="Apply a new blueprint; only what changed is touched")
    def update_environment(self, info: Info, input: UpdateEnvironmentInput) -> EnvironmentPayload:
        user = current_user(info)

        def run():
            env = resolve_environment(user, input.id)
            op = actions.update_environment(
                actor=user,
                env=env,
                source=input.yaml,
                plan=input.plan,
                blueprint_version=_version(user, input.blueprint_version),
                files=_files(input.files),
            )
            return env, op

        return _payload(user, run)

    @strawberry.mutation(description="Create a baseline: the full stack that overlays derive from")
    def create_baseline(self, info: Info, input: CreateEnvironmentInput) -> EnvironmentPayload:
        return _create(info, input, mode=EnvironmentMode.BASELINE)

    @strawberry.mutation(description="Create an overlay that runs only what it changes on top of its base")
    def create_overlay(self, info: Info, input: CreateOverlayInput) -> EnvironmentPayload:
        user = current_user(info)

        def run():
            base_id = input.base or actions.base_named_in(input.yaml)
            base = resolve_environment(user, base_id, field="base")
            env = actions.create_overlay(actor=user, base=base, source=input.yaml, name=input.name, ttl=input.ttl)
            return env, _latest_operation(env)

        return _payload(user, run)

    @strawberry.mutation(description="Turn a ready environment into a baseline (needs pinned images)")
    def promote_environment(self, info: Info, input: EnvironmentIdInput) -> EnvironmentPayload:
        user = current_user(info)

        def run():
            env = actions.promote_environment(actor=user, env=resolve_environment(user, input.id))
            return env, None

        return _payload(user, run)

    @strawberry.mutation
    def stop_environment(self, info: Info, input: EnvironmentIdInput) -> EnvironmentPayload:
        return _lifecycle(info, input.id, actions.stop_environment)

    @strawberry.mutation
    def resume_environment(self, info: Info, input: EnvironmentIdInput) -> EnvironmentPayload:
        return _lifecycle(info, input.id, actions.resume_environment)

    @strawberry.mutation
    def retry_environment(self, info: Info, input: EnvironmentIdInput) -> EnvironmentPayload:
        return _lifecycle(info, input.id, actions.retry_environment)

    @strawberry.mutation(description="Delete; an environment with live overlays needs force (overlays go first)")
    def delete_environment(self, info: Info, input: DeleteEnvironmentInput) -> EnvironmentPayload:
        return _lifecycle(info, input.id, actions.delete_environment, force=input.force)

    @strawberry.mutation
    def scale_service(self, info: Info, input: ScaleServiceInput) -> EnvironmentPayload:
        user = current_user(info)

        def run():
            env = resolve_environment(user, input.id)
            return env, actions.scale_service(actor=user, env=env, service=input.service, replicas=input.replicas)

        return _payload(user, run)

    @strawberry.mutation(description="Set the environment to expire `ttl` from now")
    def extend_environment(self, info: Info, input: ExtendEnvironmentInput) -> EnvironmentPayload:
        user = current_user(info)

        def run():
            env = actions.extend_ttl(actor=user, env=resolve_environment(user, input.id), ttl=input.ttl)
            return env, None

        return _payload(user, run)

    @strawberry.mutation
    def set_auto_shutdown(self, info: Info, input: SetAutoShutdownInput) -> EnvironmentPayload:
        user = current_user(info)

        def run():
            env = actions.set_idle_policy(
                actor=user,
                env=resolve_environment(user, input.id),
                enabled=input.enabled,
                delay_minutes=input.delay_minutes,
            )
            return env, None

        return _payload(user, run)


def _create(info: Info, input: CreateEnvironmentInput, *, mode: str | None) -> EnvironmentPayload:
    user = current_user(info)

    def run():
        env = actions.create_environment(
            actor=user,
            team=resolve_team(user, input.team),
            source=input.yaml,
            blueprint_version=_version(user, input.blueprint_version),
            name=input.name,
            plan=input.plan,
            ttl=input.ttl,
            cluster=_cluster(input.cluster),
            files=_files(input.files),
            mode=mode,
        )
        return env, _latest_operation(env)

    return _payload(user, run)


def _lifecycle(info: Info, environment_id: str, action, **options) -> EnvironmentPayload:
    user = current_user(info)

    def run():
        env = resolve_environment(user, environment_id)
        return env, action(actor=user, env=env, **options)

    return _payload(user, run)
