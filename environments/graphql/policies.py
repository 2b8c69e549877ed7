"""GraphQL for team policies and cost: ``teamPolicy``, ``updateTeamPolicy``, ``teamCost``,
``estimateCost`` and the ``cost`` of an environment. Resolvers resolve inputs and call actions."""

from __future__ import annotations

from decimal import Decimal

import strawberry
from strawberry.types import Info

from blueprints.actions import InvalidBlueprint
from blueprints.validation import validate_blueprint
from environments import cost, models
from environments.actions import costs, policies
from environments.graphql.schema import _error
from environments.graphql.types import EnvironmentError
from microstax.graphql.context import current_user
from microstax.graphql.errors import bad_input
from microstax.lib.errors import DomainError, NotFound
from microstax.teams import permissions
from microstax.teams.graphql.schema import resolve_team


def _money(amount: Decimal) -> float:
    return float(cost.money(amount))


@strawberry.type(description="The platform's ceilings: no team policy goes above them (set by platform admins)")
class PolicyCeilings:
    max_ttl_hours: int
    max_environments: int
    max_cpu_millicores: int
    max_memory_mib: int
    max_pods_per_environment: int
    max_idle_delay_minutes: int
    max_snapshot_retention_days: int


@strawberry.type(description="What the team's live environments use of its budget")
class PolicyUsage:
    environments: int
    cpu_millicores: int
    memory_mib: int


@strawberry.type(description="A team's limits and defaults for environments")
class TeamPolicy:
    team: str = strawberry.field(description="The team's slug")
    max_environments: int = strawberry.field(description="Live environments at once")
    max_cpu_millicores: int = strawberry.field(description="Sum of CPU requests of live environments")
    max_memory_mib: int = strawberry.field(description="Sum of memory requests of live environments")
    max_pods_per_environment: int
    default_ttl_hours: int | None = strawberry.field(description="Isolated environments' TTL when none is given")
    baseline_ttl_hours: int | None = strawberry.field(description="Baselines' TTL when none is given")
    overlay_ttl_hours: int = strawberry.field(description="Overlays' TTL when none is given")
    max_ttl_hours_isolated: int
    max_ttl_hours_baseline: int
    max_ttl_hours_overlay: int
    idle_delay_minutes: int = strawberry.field(description="Idle shutdown delay when the blueprint sets none")
    snapshot_retention_days: int
    drift_policy: str = strawberry.field(description="record, or reapply: what the sweep does about drift")
    ceilings: PolicyCeilings
    usage: PolicyUsage
    can_edit: bool = strawberry.field(description="Whether the caller may change it (owners, platform admins)")

    @classmethod
    def build(cls, policy, *, user) -> TeamPolicy:
        ceilings = policies.Ceilings.from_settings()
        usage = policies.team_usage(policy.team)
        return cls(
            team=policy.team.slug,
            **policies.policy_snapshot(policy),
            ceilings=PolicyCeilings(**vars(ceilings)),
            usage=PolicyUsage(
                environments=usage["environments"],
                cpu_millicores=usage["cpu_millicores"],
                memory_mib=usage["memory_mib"],
            ),
            can_edit=permissions.has_team_perm(user, policy.team, policies.POLICY_PERMISSION),
        )


@strawberry.input(description="Only the fields given change; null clears a default TTL")
class UpdateTeamPolicyInput:
    team: strawberry.ID
    max_environments: int | None = strawberry.UNSET
    max_cpu_millicores: int | None = strawberry.UNSET
    max_memory_mib: int | None = strawberry.UNSET
    max_pods_per_environment: int | None = strawberry.UNSET
    default_ttl_hours: int | None = strawberry.UNSET
    baseline_ttl_hours: int | None = strawberry.UNSET
    overlay_ttl_hours: int | None = strawberry.UNSET
    max_ttl_hours_isolated: int | None = strawberry.UNSET
    max_ttl_hours_baseline: int | None = strawberry.UNSET
    max_ttl_hours_overlay: int | None = strawberry.UNSET
    idle_delay_minutes: int | None = strawberry.UNSET
    snapshot_retention_days: int | None = strawberry.UNSET
    drift_policy: str | None = strawberry.UNSET


@strawberry.type
class TeamPolicyPayload:
    policy: TeamPolicy | None = None
    errors: list[EnvironmentError] = strawberry.field(default_factory=list)


@strawberry.type(description="Hourly rates of running and of stopped (storage only), and a month running")
class CostRate:
    hourly: float
    stopped_hourly: float
    monthly: float

    @classmethod
    def of(cls, rate: cost.Rate) -> CostRate:
        return cls(hourly=_money(rate.running), stopped_hourly=_money(rate.stopped), monthly=_money(rate.monthly))


@strawberry.type(description="Estimated cost of an environment: requests × the price table")
class EnvironmentCost:
    currency: str
    estimated_total: float = strawberry.field(description="Running time × CPU and memory + lifetime × storage")
    hourly_rate: float = strawberry.field(description="What it costs an hour while running")
    stopped_hourly_rate: float = strawberry.field(description="What it costs an hour while stopped (storage)")
    running_hours: float
    stopped_hours: float
    full_clone_hourly_rate: float | None = strawberry.field(
        description="Overlays: what a full clone of the effective spec would cost an hour"
    )
    saving_ratio: float | None = strawberry.field(
        description="Overlays: share of a full clone's hourly rate saved (0 to 1)"
    )

    @classmethod
    def build(cls, estimate: costs.EnvironmentCost) -> EnvironmentCost:
        saving = estimate.saving
        return cls(
            currency=estimate.currency,
            estimated_total=_money(estimate.total),
            hourly_rate=_money(estimate.rate.running),
            stopped_hourly_rate=_money(estimate.rate.stopped),
            running_hours=round(estimate.running_seconds / 3600, 4),
            stopped_hours=round(estimate.stopped_seconds / 3600, 4),
            full_clone_hourly_rate=_money(saving.full_clone.running) if saving else None,
            saving_ratio=saving.ratio if saving else None,
        )


@strawberry.type(description="A team's environments priced: everything they ran, and the rate now")
class TeamCost:
    team: str
    currency: str
    estimated_total: float
    hourly_rate: float = strawberry.field(description="Live environments: running ones' compute, all storage")
    live_environments: int
    overlay_savings_hourly: float = strawberry.field(
        description="What full clones of the live overlays would cost an hour more"
    )


@strawberry.type(description="One service's requests and rates in an estimate")
class ServiceCost:
    name: str
    cpu_millicores: float
    memory_mib: float
    storage_gib: float
    rate: CostRate


@strawberry.type(description="The price table estimates use")
class PriceTable:
    currency: str
    cpu_hour: float
    gib_hour: float
    storage_gib_month: float


@strawberry.type(description="What a blueprint would cost before it is created")
class CostEstimate:
    currency: str
    cpu_millicores: float
    memory_mib: float
    storage_gib: float
    rate: CostRate
    services: list[ServiceCost]
    prices: PriceTable


@strawberry.type
class CostEstimatePayload:
    estimate: CostEstimate | None = None
    errors: list[EnvironmentError] = strawberry.field(default_factory=list)


def _gib(mib: float) -> float:
    return round(mib / 1024, 4)


def _estimate(source: str, plan: str | None) -> CostEstimate:
    result = validate_blueprint(source or "", plan=plan)
    if not result.valid:
        raise InvalidBlueprint(result.problems)
    prices = cost.PriceTable.from_settings()
    estimate = cost.estimate_spec(result.normalized, prices)
    return CostEstimate(
        currency=prices.currency,
        cpu_millicores=estimate.total.cpu_millicores,
        memory_mib=estimate.total.memory_mib,
        storage_gib=_gib(estimate.total.storage_mib),
        rate=CostRate.of(estimate.rate),
        services=[
            ServiceCost(
                name=name,
                cpu_millicores=fp.cpu_millicores,
                memory_mib=fp.memory_mib,
                storage_gib=_gib(fp.storage_mib),
                rate=CostRate.of(rate),
            )
            for name, fp, rate in estimate.services
        ],
        prices=PriceTable(
            currency=prices.currency,
            cpu_hour=float(prices.cpu_hour),
            gib_hour=float(prices.gib_hour),
            storage_gib_month=float(prices.storage_gib_month),
        ),
    )


def _team(user, team_id: str | None):
    """The team named, or the caller's only team when none is named."""
    if team_id:
        try:
            return resolve_team(user, team_id)
        except NotFound:
            raise bad_input("team not found", field="team") from None
    teams = list(permissions.teams_for(user)[:2])
    if len(teams) != 1:
        raise bad_input("give a team (you belong to several, or to none)", field="team")
    return teams[0]


@strawberry.type
class Query:
    @strawberry.field(description="A team's environment policy, with the platform ceilings and current usage")
    def team_policy(self, info: Info, team: strawberry.ID | None = None) -> TeamPolicy:
        user = current_user(info)
        return TeamPolicy.build(models.TeamPolicy.for_team(_team(user, team)), user=user)

    @strawberry.field(description="A team's environments priced: everything they ran and the rate now")
    def team_cost(self, info: Info, team: strawberry.ID | None = None) -> TeamCost:
        user = current_user(info)
        found = _team(user, team)
        totals = costs.team_cost(found)
        return TeamCost(
            team=found.slug,
            currency=totals.currency,
            estimated_total=_money(totals.total),
            hourly_rate=_money(totals.hourly_rate),
            live_environments=totals.environments,
            overlay_savings_hourly=_money(totals.overlay_savings_hourly),
        )

    @strawberry.field(description="What a blueprint would cost an hour and a month, before creating it")
    def estimate_cost(self, info: Info, yaml: str, plan: str | None = None) -> CostEstimatePayload:
        current_user(info)
        try:
            return CostEstimatePayload(estimate=_estimate(yaml, plan))
        except DomainError as exc:
            return CostEstimatePayload(errors=[_error(exc)])


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Change a team's environment policy (owners and platform admins)")
    def update_team_policy(self, info: Info, input: UpdateTeamPolicyInput) -> TeamPolicyPayload:
        user = current_user(info)
        changes = {
            name: value for name, value in vars(input).items() if name != "team" and value is not strawberry.UNSET
        }
        try:
            team = resolve_team(user, input.team)
            policy = policies.update_team_policy(actor=user, team=team, **changes)
        except DomainError as exc:
            return TeamPolicyPayload(errors=[_error(exc)])
        return TeamPolicyPayload(policy=TeamPolicy.build(policy, user=user))


def environment_cost(env) -> EnvironmentCost:
    """The ``cost`` field of the Environment type."""
    return EnvironmentCost.build(costs.environment_cost(env))
