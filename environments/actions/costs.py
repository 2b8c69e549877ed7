"""Cost of environments as they ran: the time buckets of each environment priced by ``environments.cost``.

``Environment.transition`` moves the time spent in each state it leaves into ``running_seconds`` or
``stopped_seconds``; the state it is in now has been open since ``state_changed_at``. A deleted
environment's volumes are gone, so its open interval costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Case, Count, F, FloatField, Func, Q, Sum, Value, When
from django.utils import timezone

from environments import cost
from environments.choices import RUNNING_STATES, EnvironmentMode, EnvironmentState
from environments.models import Environment


@dataclass(frozen=True)
class EnvironmentCost:
    """An environment's estimated cost so far and its rates; for overlays, the full-clone comparison."""

    total: Decimal
    rate: cost.Rate
    running_seconds: float
    stopped_seconds: float
    currency: str
    saving: cost.OverlaySaving | None = None


def time_buckets(env: Environment, now: datetime | None = None) -> tuple[float, float]:
    """(running, stopped) seconds, the current state's open interval included."""
    now = now or timezone.now()
    running, stopped = env.running_seconds, env.stopped_seconds
    if env.state != EnvironmentState.DELETED:
        open_seconds = max(0.0, (now - env.state_changed_at).total_seconds())
        if env.state in RUNNING_STATES:
            running += open_seconds
        else:
            stopped += open_seconds
    return running, stopped


def footprint_of(env: Environment) -> cost.Footprint:
    """What the environment runs itself (an overlay: its local services), as recorded for quotas."""
    return cost.Footprint(env.requested_cpu_millicores, env.requested_memory_mib, env.requested_storage_mib)


def environment_cost(
    env: Environment, *, now: datetime | None = None, prices: cost.PriceTable | None = None
) -> EnvironmentCost:
    prices = prices or cost.PriceTable.from_settings()
    running, stopped = time_buckets(env, now)
    footprint = footprint_of(env)
    saving = None
    if env.mode == EnvironmentMode.OVERLAY and env.difference_plan:
        saving = cost.overlay_saving(env.difference_plan, prices)
    return EnvironmentCost(
        total=cost.estimated_cost(footprint, running_seconds=running, stopped_seconds=stopped, prices=prices),
        rate=cost.hourly_rate(footprint, prices),
        running_seconds=running,
        stopped_seconds=stopped,
        currency=prices.currency,
        saving=saving,
    )


class EpochSeconds(Func):
    """Seconds since the Unix epoch of a datetime column, on SQLite and PostgreSQL alike."""

    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)")

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::float")


@dataclass(frozen=True)
class TeamCost:
    total: Decimal
    hourly_rate: Decimal
    environments: int
    overlay_savings_hourly: Decimal
    currency: str


def _sums(now: datetime) -> dict:
    """Aggregates of resource-time (everything ever run) and of what live environments request now."""
    is_live = ~Q(state=EnvironmentState.DELETED)
    running_now = Q(state__in=RUNNING_STATES)
    open_seconds = Value(now.timestamp()) - EpochSeconds(F("state_changed_at"))
    running = F("running_seconds") + Case(When(running_now, then=open_seconds), default=Value(0.0))
    existing = F("running_seconds") + F("stopped_seconds") + Case(When(is_live, then=open_seconds), default=Value(0.0))
    return {
        "cpu": Sum(F("requested_cpu_millicores") * running, output_field=FloatField()),
        "memory": Sum(F("requested_memory_mib") * running, output_field=FloatField()),
        "storage": Sum(F("requested_storage_mib") * existing, output_field=FloatField()),
        "live_cpu": Sum("requested_cpu_millicores", filter=running_now),
        "live_memory": Sum("requested_memory_mib", filter=running_now),
        "live_storage": Sum("requested_storage_mib", filter=is_live),
        "live": Count("pk", filter=is_live),
    }


def _priced(sums: dict, saved: Decimal, prices: cost.PriceTable) -> TeamCost:
    totals = cost.TeamTotals(sums["cpu"] or 0.0, sums["memory"] or 0.0, sums["storage"] or 0.0)
    compute = cost.hourly_rate(cost.Footprint(sums["live_cpu"] or 0, sums["live_memory"] or 0, 0), prices).compute
    storage = cost.hourly_rate(cost.Footprint(0, 0, sums["live_storage"] or 0), prices).storage
    return TeamCost(
        total=totals.cost(prices),
        hourly_rate=compute + storage,
        environments=sums["live"] or 0,
        overlay_savings_hourly=saved,
        currency=prices.currency,
    )


def _overlay_savings(environments, prices: cost.PriceTable) -> dict[int, Decimal]:
    """Team id → what full clones of its live overlays would cost an hour more (their plans are read)."""
    saved: dict[int, Decimal] = {}
    overlays = environments.filter(mode=EnvironmentMode.OVERLAY).exclude(state=EnvironmentState.DELETED)
    for team_id, plan in overlays.values_list("team_id", "difference_plan"):
        if plan:
            saving = cost.overlay_saving(plan, prices)
            extra = max(Decimal(0), saving.full_clone.running - saving.overlay.running)
            saved[team_id] = saved.get(team_id, Decimal(0)) + extra
    return saved


def team_cost(team, *, now: datetime | None = None, prices: cost.PriceTable | None = None) -> TeamCost:
    """Every environment the team ever ran, priced: one aggregate query, and one for the overlays' plans.

    The hourly rate and the overlays' saving (what their full clones would cost an hour more)
    cover live environments.
    """
    prices = prices or cost.PriceTable.from_settings()
    environments = Environment.objects.filter(team=team)
    sums = environments.aggregate(**_sums(now or timezone.now()))
    return _priced(sums, _overlay_savings(environments, prices).get(team.pk, Decimal(0)), prices)


def costs_by_team(
    teams=None, *, now: datetime | None = None, prices: cost.PriceTable | None = None
) -> dict[int, TeamCost]:
    """Team id → its cost, for every team with environments (or those of ``teams``): two queries in all."""
    prices = prices or cost.PriceTable.from_settings()
    environments = Environment.objects.all() if teams is None else Environment.objects.filter(team__in=teams)
    rows = environments.order_by().values("team_id").annotate(**_sums(now or timezone.now()))
    saved = _overlay_savings(environments, prices)
    return {row["team_id"]: _priced(row, saved.get(row["team_id"], Decimal(0)), prices) for row in rows}
