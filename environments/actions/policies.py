"""Team policies: limits and defaults of a team's environments, under the platform's ceilings.

A team's :class:`~environments.models.TeamPolicy` sets the default and maximum TTL by mode, the idle
delay default, how many environments may live at once, the CPU and memory budget, pods per
environment (the namespace's ResourceQuota, which the cluster enforces), snapshot retention and
what the sweep does about drift. Platform admins set global ceilings in settings
(``MICROSTAX_MAX_TTL_HOURS`` …); a policy can never be set above them, and when a ceiling is
lowered later the lower of the two applies everywhere.

Every entry point that sets a limited value (create, create baseline or overlay, update, scale,
extend TTL, set idle policy) asks this module, and a refusal names the limit: ``POLICY_LIMIT`` for
TTLs and idle delays, ``QUOTA_EXCEEDED`` for the team's count and resource budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from audit.actions import record
from blueprints.quantities import parse_duration
from environments.choices import LIVE_STATES, DriftPolicy, EnvironmentMode
from environments.models import Environment, TeamPolicy
from microstax.lib.errors import InvalidInput
from microstax.teams import permissions
from microstax.teams.choices import TeamPermission

POLICY_LIMIT = "POLICY_LIMIT"
QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
# Team policy is the owners' say: the permission only owners (and platform admins) hold.
POLICY_PERMISSION = TeamPermission.MANAGE_MEMBERS
MIN_IDLE_DELAY_MINUTES = 5


@dataclass(frozen=True)
class Ceilings:
    """The platform's upper bounds (settings); no team policy goes above them."""

    max_ttl_hours: int
    max_environments: int
    max_cpu_millicores: int
    max_memory_mib: int
    max_pods_per_environment: int
    max_idle_delay_minutes: int
    max_snapshot_retention_days: int

    @classmethod
    def from_settings(cls) -> Ceilings:
        return cls(
            max_ttl_hours=settings.MICROSTAX_MAX_TTL_HOURS,
            max_environments=settings.MICROSTAX_MAX_ENVIRONMENTS_PER_TEAM,
            max_cpu_millicores=settings.MICROSTAX_MAX_TEAM_CPU_MILLICORES,
            max_memory_mib=settings.MICROSTAX_MAX_TEAM_MEMORY_MIB,
            max_pods_per_environment=settings.MICROSTAX_MAX_PODS_PER_ENVIRONMENT,
            max_idle_delay_minutes=settings.MICROSTAX_MAX_IDLE_DELAY_MINUTES,
            max_snapshot_retention_days=settings.MICROSTAX_MAX_SNAPSHOT_RETENTION_DAYS,
        )


# Default TTL field → the maximum bounding it.
_TTL_DEFAULT_OF = {
    "default_ttl_hours": "max_ttl_hours_isolated",
    "baseline_ttl_hours": "max_ttl_hours_baseline",
    "overlay_ttl_hours": "max_ttl_hours_overlay",
}
# Field → (minimum, the ceiling bounding it).
_BOUNDS: dict[str, tuple[int, str]] = {
    "max_environments": (1, "max_environments"),
    "max_cpu_millicores": (100, "max_cpu_millicores"),
    "max_memory_mib": (128, "max_memory_mib"),
    "max_pods_per_environment": (1, "max_pods_per_environment"),
    "max_ttl_hours_isolated": (1, "max_ttl_hours"),
    "max_ttl_hours_baseline": (1, "max_ttl_hours"),
    "max_ttl_hours_overlay": (1, "max_ttl_hours"),
    "idle_delay_minutes": (MIN_IDLE_DELAY_MINUTES, "max_idle_delay_minutes"),
    "snapshot_retention_days": (1, "max_snapshot_retention_days"),
}
NULLABLE = frozenset({"default_ttl_hours", "baseline_ttl_hours"})
EDITABLE = frozenset({*_BOUNDS, *_TTL_DEFAULT_OF, "drift_policy"})
_MAX_TTL_FIELD = {
    EnvironmentMode.ISOLATED: "max_ttl_hours_isolated",
    EnvironmentMode.BASELINE: "max_ttl_hours_baseline",
    EnvironmentMode.OVERLAY: "max_ttl_hours_overlay",
}
_DEFAULT_TTL_FIELD = {
    EnvironmentMode.ISOLATED: "default_ttl_hours",
    EnvironmentMode.BASELINE: "baseline_ttl_hours",
    EnvironmentMode.OVERLAY: "overlay_ttl_hours",
}


def policy_snapshot(policy: TeamPolicy) -> dict:
    """The policy's editable values, for audit events and the API."""
    return {name: getattr(policy, name) for name in sorted(EDITABLE)}


@dataclass(frozen=True)
class Limits:
    """A team's limits in force: its policy, capped by the platform's ceilings."""

    policy: TeamPolicy
    ceilings: Ceilings

    @classmethod
    def for_team(cls, team) -> Limits:
        return cls(TeamPolicy.for_team(team), Ceilings.from_settings())

    def max_ttl_hours(self, mode: str) -> int:
        return min(getattr(self.policy, _MAX_TTL_FIELD[mode]), self.ceilings.max_ttl_hours)

    def default_ttl_hours(self, mode: str) -> int:
        """No environment lives longer than its mode's maximum: without a default it gets that."""
        default = getattr(self.policy, _DEFAULT_TTL_FIELD[mode])
        return min(default, self.max_ttl_hours(mode)) if default else self.max_ttl_hours(mode)

    @property
    def max_environments(self) -> int:
        return min(self.policy.max_environments, self.ceilings.max_environments)

    @property
    def max_cpu_millicores(self) -> int:
        return min(self.policy.max_cpu_millicores, self.ceilings.max_cpu_millicores)

    @property
    def max_memory_mib(self) -> int:
        return min(self.policy.max_memory_mib, self.ceilings.max_memory_mib)

    @property
    def max_pods_per_environment(self) -> int:
        return min(self.policy.max_pods_per_environment, self.ceilings.max_pods_per_environment)

    @property
    def idle_delay_minutes(self) -> int:
        return min(self.policy.idle_delay_minutes, self.ceilings.max_idle_delay_minutes)

    @property
    def snapshot_retention_days(self) -> int:
        return min(self.policy.snapshot_retention_days, self.ceilings.max_snapshot_retention_days)


def _limit_source(limits: Limits, field: str, ceiling: str) -> str:
    """Which limit bites: the team's policy field or the platform ceiling (the lower one)."""
    if getattr(limits.ceilings, ceiling) < getattr(limits.policy, field):
        return f"the platform ceiling {ceiling.upper()}"
    return f"team '{limits.policy.team.slug}' policy {field}"


def expiry(team, mode: str, ttl: str | None, *, now: datetime | None = None) -> datetime:
    """When an environment of ``mode`` created (or extended) now with ``ttl`` expires.

    A TTL above the mode's maximum is refused naming the limit; no TTL means the team's default
    for the mode, and every environment expires at the latest after its mode's maximum.
    """
    limits = Limits.for_team(team)
    now = now or timezone.now()
    maximum = limits.max_ttl_hours(mode)
    if not ttl:
        return now + timedelta(hours=limits.default_ttl_hours(mode))
    try:
        seconds = parse_duration(ttl)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="ttl") from None
    if seconds <= 0:
        raise InvalidInput("ttl must be positive", field="ttl")
    if seconds > maximum * 3600:
        source = _limit_source(limits, _MAX_TTL_FIELD[mode], "max_ttl_hours")
        raise InvalidInput(
            f"ttl {ttl} is longer than the {maximum}h maximum for {mode} environments ({source})",
            field="ttl",
            code=POLICY_LIMIT,
        )
    return now + timedelta(seconds=seconds)


def check_idle_delay(team, delay_minutes: int, *, field: str = "delayMinutes") -> None:
    """An idle delay is at least 5 minutes and at most the platform's ceiling."""
    ceiling = Limits.for_team(team).ceilings.max_idle_delay_minutes
    if delay_minutes < MIN_IDLE_DELAY_MINUTES or delay_minutes > ceiling:
        raise InvalidInput(
            f"the idle delay must be between {MIN_IDLE_DELAY_MINUTES} and {ceiling} minutes "
            f"(MICROSTAX_MAX_IDLE_DELAY_MINUTES); got {delay_minutes}",
            field=field,
            code=POLICY_LIMIT,
        )


def default_idle_delay(team) -> int:
    return Limits.for_team(team).idle_delay_minutes


def check_quota(team, cpu: int, memory: int, *, excluding: Environment | None = None) -> None:
    """The team's live environment count and CPU/memory budget, with ``cpu``/``memory`` added.

    Callers that create hold the team row's lock, so concurrent creates are counted in turn.
    ``excluding`` is the environment being changed (its current requests are replaced, not added).
    """
    limits = Limits.for_team(team)
    live = Environment.objects.filter(team=team, state__in=LIVE_STATES)
    if excluding is not None:
        live = live.exclude(pk=excluding.pk)
    else:
        count = live.count()
        if count >= limits.max_environments:
            raise InvalidInput(
                f"team '{team.slug}' has {count} live environments and may have at most {limits.max_environments} "
                f"({_limit_source(limits, 'max_environments', 'max_environments')}); delete one first",
                field="team",
                code=QUOTA_EXCEEDED,
            )
    used = live.aggregate(cpu=Sum("requested_cpu_millicores"), memory=Sum("requested_memory_mib"))
    if (used["cpu"] or 0) + cpu > limits.max_cpu_millicores:
        source = _limit_source(limits, "max_cpu_millicores", "max_cpu_millicores")
        raise InvalidInput(
            f"this needs {cpu}m CPU in requests; team '{team.slug}' uses {used['cpu'] or 0}m of its "
            f"{limits.max_cpu_millicores}m budget ({source})",
            field="yaml",
            code=QUOTA_EXCEEDED,
        )
    if (used["memory"] or 0) + memory > limits.max_memory_mib:
        source = _limit_source(limits, "max_memory_mib", "max_memory_mib")
        raise InvalidInput(
            f"this needs {memory}Mi memory in requests; team '{team.slug}' uses {used['memory'] or 0}Mi of its "
            f"{limits.max_memory_mib}Mi budget ({source})",
            field="yaml",
            code=QUOTA_EXCEEDED,
        )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _validated(policy: TeamPolicy, changes: dict, ceilings: Ceilings) -> dict:
    """``changes`` checked field by field against the ceilings and each other; errors name the field."""
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise InvalidInput(f"not a policy setting: {', '.join(unknown)}", field=_camel(unknown[0]))
    merged = {name: getattr(policy, name) for name in EDITABLE} | changes
    for name, value in changes.items():
        if name == "drift_policy":
            if value not in DriftPolicy.values:
                raise InvalidInput(f"driftPolicy must be one of {', '.join(DriftPolicy.values)}", field="driftPolicy")
            continue
        if value is None and name in NULLABLE:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"{_camel(name)} must be a whole number", field=_camel(name))
        if name in _BOUNDS:
            minimum, ceiling = _BOUNDS[name]
            maximum = getattr(ceilings, ceiling)
            if not minimum <= value <= maximum:
                raise InvalidInput(
                    f"{_camel(name)} must be between {minimum} and {maximum} "
                    f"(the platform ceiling {ceiling.upper()}); got {value}",
                    field=_camel(name),
                    code=POLICY_LIMIT,
                )
    # A default TTL may not exceed its mode's maximum (checked for the merged result, so lowering a
    # maximum below the current default is refused too, naming the default).
    for default, maximum_field in _TTL_DEFAULT_OF.items():
        value, maximum = merged[default], min(merged[maximum_field], ceilings.max_ttl_hours)
        if value is not None and not 1 <= value <= maximum:
            raise InvalidInput(
                f"{_camel(default)} must be between 1 and {maximum} ({_camel(maximum_field)}); got {value}",
                field=_camel(default),
                code=POLICY_LIMIT,
            )
    return changes


def update_team_policy(*, actor, team, **changes) -> TeamPolicy:
    """Change a team's policy (owners and platform admins); one ``team.policy.update`` event.

    Values are checked against the platform ceilings, and default TTLs against their maximums;
    the first bad value is refused naming its field, and nothing changes.
    """
    permissions.require_team_perm(actor, team, POLICY_PERMISSION, doing="setting team policy")
    ceilings = Ceilings.from_settings()
    with transaction.atomic():
        policy = TeamPolicy.objects.select_for_update().filter(team=team).first() or TeamPolicy(team=team)
        changes = _validated(policy, changes, ceilings)
        before = policy_snapshot(policy)
        for name, value in changes.items():
            setattr(policy, name, value)
        after = policy_snapshot(policy)
        if before != after:  # an update that changes nothing writes nothing
            policy.save()
            record(
                action="team.policy.update",
                actor=actor,
                team=team,
                target_type="team",
                target_id=team.public_id,
                before={k: v for k, v in before.items() if v != after[k]},
                after={k: v for k, v in after.items() if v != before[k]},
            )
    return policy


def team_usage(team) -> dict:
    """Live environments and the CPU and memory they request (what the budget counts)."""
    used = Environment.objects.filter(team=team, state__in=LIVE_STATES).aggregate(
        count=Count("pk"), cpu=Sum("requested_cpu_millicores"), memory=Sum("requested_memory_mib")
    )
    return {"environments": used["count"] or 0, "cpu_millicores": used["cpu"] or 0, "memory_mib": used["memory"] or 0}
