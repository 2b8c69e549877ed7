from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
import strawberry_django
from strawberry.scalars import JSON
from strawberry.types import Info

from blueprints.graphql.types import Problem
from environments import models
from microstax.teams import permissions
from microstax.teams.graphql.types import Team

if TYPE_CHECKING:
    from environments.graphql.policies import EnvironmentCost


@strawberry.enum(description="Stable codes of environment-app errors")
class EnvironmentErrorCode(Enum):
    INVALID = "INVALID"
    INVALID_BLUEPRINT = "INVALID_BLUEPRINT"
    NOT_FOUND = "NOT_FOUND"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    CONFLICT = "CONFLICT"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    UNSUPPORTED = "UNSUPPORTED"
    HAS_DEPENDANTS = "HAS_DEPENDANTS"
    OVERLAY_CONFLICT = "OVERLAY_CONFLICT"
    UNPINNED_IMAGES = "UNPINNED_IMAGES"
    NOT_READY = "NOT_READY"
    POLICY_LIMIT = "POLICY_LIMIT"


@strawberry.type(description="Why an overlay cannot be created as planned")
class PlanConflict:
    code: str
    services: list[str]
    message: str


@strawberry.type
class EnvironmentError:
    code: EnvironmentErrorCode
    field: str | None
    message: str
    problems: list[Problem] = strawberry.field(default_factory=list)
    conflicts: list[PlanConflict] = strawberry.field(default_factory=list)


@strawberry.type(description="One service in a difference graph")
class ServicePlan:
    name: str
    status: str = strawberry.field(description="added, changed, unchanged, removed or promoted")
    provider: str = strawberry.field(description="The environment that runs it (empty when removed)")
    reasons: JSON = strawberry.field(description="Machine-readable reasons: [{code, …}]")


@strawberry.type(description="The difference graph: what would run locally, what is inherited, and the saving")
class EnvironmentPlan:
    services: list[ServicePlan]
    local: list[str]
    inherited: JSON = strawberry.field(description="service → provider environment id")
    conflicts: list[PlanConflict]
    saving: JSON = strawberry.field(description="Resources of a full clone vs this overlay, and what is saved")
    effective_spec: JSON

    @classmethod
    def from_dict(cls, data: dict) -> EnvironmentPlan:
        return cls(
            services=[
                ServicePlan(name=s["name"], status=s["status"], provider=s["provider"], reasons=s["reasons"])
                for s in data["services"]
            ],
            local=data["local"],
            inherited=data["inherited"],
            conflicts=[PlanConflict(**c) for c in data["conflicts"]],
            saving=data["saving"],
            effective_spec=data["effective_spec"],
        )


@strawberry.type
class LineageLayer:
    id: strawberry.ID
    name: str
    mode: str
    state: str
    routing_key: str


@strawberry.type
class LineageService:
    name: str
    provided_by: strawberry.ID
    provided_by_name: str
    status: str
    why: str = strawberry.field(description="local, inherited, or the plan's status for overlays")


@strawberry.type(description="The chain from the baseline to this environment and who provides each service")
class Lineage:
    chain: list[LineageLayer]
    services: list[LineageService]


@strawberry_django.type(models.Cluster, description="A Kubernetes cluster environments run on (no credentials)")
class Cluster:
    id: strawberry.ID = strawberry_django.field(field_name="public_id")
    name: str
    kind: str
    api_url: str
    ingress_domain: str
    routing_provider: str
    storage_class: str
    is_default: bool
    server_version: str
    health: str
    health_detail: str
    checked_at: datetime | None

    @strawberry.field(description="True for the sandbox cluster emulated by kubesim")
    def simulated(self, root: models.Cluster) -> bool:
        return root.is_simulated


@strawberry_django.type(models.OperationStep, description="One step of an operation: a span of the trace")
class OperationStep:
    position: int
    name: str
    outcome: str
    started_at: datetime
    finished_at: datetime | None
    details: JSON

    @strawberry.field
    def duration_seconds(self, root: models.OperationStep) -> float | None:
        if root.finished_at is None:
            return None
        return round((root.finished_at - root.started_at).total_seconds(), 3)


@strawberry_django.type(models.Operation, description="A requested action and its progress")
class Operation:
    id: strawberry.ID = strawberry_django.field(field_name="public_id")
    kind: str
    state: str
    error: str
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    trace_id: str

    @strawberry.field
    def requested_by(self, root: models.Operation) -> str | None:
        return root.actor.username if root.actor_id else None

    @strawberry.field
    def duration_seconds(self, root: models.Operation) -> float | None:
        value = root.duration_seconds
        return None if value is None else round(value, 3)

    @strawberry.field(description="The steps in order")
    def steps(self, root: models.Operation) -> list[OperationStep]:
        return list(root.steps.all())


@strawberry_django.type(models.ServiceInstance, description="One service of an environment")
class Service:
    name: str
    desired_replicas: int
    ready_replicas: int
    status: str
    reason: str
    endpoints: list[str]
    updated_at: datetime

    @strawberry.field(description="The environment running this service (itself, or a provider it inherits from)")
    def provided_by(self, root: models.ServiceInstance) -> strawberry.ID:
        return root.provided_by.public_id


# An environment's operations one read returns at most, newest first (the API's and the page's).
OPERATIONS_MAX = 100


@strawberry_django.type(models.Environment)
class Environment:
    id: strawberry.ID = strawberry_django.field(field_name="public_id")
    name: str
    mode: str
    state: str
    state_reason: str
    state_changed_at: datetime
    namespace: str
    spec_hash: str
    plan_name: str
    routing_key: str
    expires_at: datetime | None
    auto_shutdown_enabled: bool
    auto_shutdown_delay_minutes: int
    last_activity_at: datetime
    created_at: datetime
    deleted_at: datetime | None
    team: Team
    cluster: Cluster
    spec: JSON = strawberry_django.field(description="The normalized blueprint this environment runs")

    @strawberry.field
    def created_by(self, root: models.Environment) -> str:
        return root.created_by.username

    @strawberry.field
    def blueprint_version(self, root: models.Environment) -> strawberry.ID | None:
        return root.blueprint_version.public_id if root.blueprint_version_id else None

    @strawberry.field
    def services(self, root: models.Environment) -> list[Service]:
        return list(root.services.all())

    @strawberry.field(description="Exposed services' URLs")
    def endpoints(self, root: models.Environment) -> list[str]:
        return [url for service in root.services.all() for url in service.endpoints]

    @strawberry.field(description="Operations, newest first")
    def operations(self, root: models.Environment, last: int = 20) -> list[Operation]:
        newest = max(1, min(last, OPERATIONS_MAX))
        if "operations" in getattr(root, "_prefetched_objects_cache", {}):  # a list prefetched them
            return list(root.operations.all()[:newest])
        # One environment: the newest `last` only, however long its history (`env wait` polls this).
        return list(root.operations.select_related("actor").prefetch_related("steps")[:newest])

    @strawberry.field(description="The base this environment derives from (overlays)")
    def parent_id(self, root: models.Environment) -> strawberry.ID | None:
        if not root.parent_id:
            return None
        # visible_environments annotates it: no query per overlay of a list.
        return getattr(root, "parent_public_id", None) or root.parent.public_id

    @strawberry.field(description="The difference graph this overlay was provisioned from (null otherwise)")
    def plan(self, root: models.Environment) -> EnvironmentPlan | None:
        return EnvironmentPlan.from_dict(root.difference_plan) if root.difference_plan else None

    @strawberry.field(description="Estimated cost so far and hourly rates; overlays compare with a full clone")
    def cost(
        self, root: models.Environment
    ) -> Annotated[EnvironmentCost, strawberry.lazy("environments.graphql.policies")]:
        from environments.graphql.policies import environment_cost

        return environment_cost(root)

    @strawberry.field(description="The provider chain and, per service, which environment provides it and why")
    def lineage(self, root: models.Environment) -> Lineage:
        from environments.actions import chain_of

        chain = chain_of(root)
        statuses = {s["name"]: s["status"] for s in (root.difference_plan or {}).get("services", [])}
        return Lineage(
            chain=[
                LineageLayer(id=e.public_id, name=e.name, mode=e.mode, state=e.state, routing_key=e.routing_key)
                for e in chain
            ],
            services=[
                LineageService(
                    name=s.name,
                    provided_by=s.provided_by.public_id,
                    provided_by_name=s.provided_by.name,
                    status=s.status,
                    why=statuses.get(s.name) or ("local" if s.provided_by_id == root.pk else "inherited"),
                )
                for s in root.services.all()
            ],
        )

    @classmethod
    def get_queryset(cls, queryset, info: Info, **kwargs):
        return queryset.filter(team__in=permissions.teams_for(info.context.request.user))


@strawberry.type
class LogLine:
    pod: str
    line: str
