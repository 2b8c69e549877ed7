"""The fleet page (``/fleet/``): what platform teams watch — growth, cleanup, idle, drift and cost.

Platform admins see every team; team owners see the teams they own; anyone else is refused (403).
Every figure is an aggregate or a bounded list read in SQL for the teams in scope, so the page costs
the same number of queries for ten environments or ten thousand (the cost section adds a fixed few
per team). What the sweep did is read back from its audit events — the trail every process writes
to — never from memory or a local file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe

from audit.models import AuditEvent
from environments.choices import LIVE_STATES, EnvironmentState
from environments.drift import DRIFT_DETECTED, DRIFT_RESOLVED
from environments.fleet import ORPHAN_NAMESPACE_ACTION, STUCK_NAMESPACE_ACTION, TTL_WARNING_ACTION
from environments.models import Environment
from environments.svg import daily_series_svg, state_bars_svg
from microstax.teams import permissions
from microstax.teams.choices import TeamPermission
from microstax.teams.models import Team

DAYS = 30
LIST_LIMIT = 20
EXPIRY_HORIZON = timedelta(days=7)
IDLE_HORIZON = timedelta(hours=1)
# The sweep's audit actions, as the page names them.
SWEEP_ACTIONS = {
    "environment.delete": "expired and deleted",
    "environment.stop": "stopped when idle",
    TTL_WARNING_ACTION: "warned before expiry",
    ORPHAN_NAMESPACE_ACTION: "orphan namespaces removed",
    STUCK_NAMESPACE_ACTION: "namespaces stuck terminating (reports, one a day each)",
    DRIFT_DETECTED: "drift detected",
    DRIFT_RESOLVED: "drift resolved",
    "environment.reconcile": "re-applied after drift",
}
_RUNNING = (EnvironmentState.READY, EnvironmentState.DEGRADED)


@dataclass(frozen=True)
class Scope:
    """Whose fleet the viewer sees: every team (platform admins) or the teams they own."""

    teams: list[Team]
    everything: bool

    def environments(self):
        queryset = Environment.objects.all()
        return queryset if self.everything else queryset.filter(team__in=[t.pk for t in self.teams])


def scope_for(user) -> Scope:
    if user.is_superuser:
        return Scope(list(Team.objects.order_by("slug")), everything=True)
    # Owners are the members holding MANAGE_MEMBERS (DESIGN.md §2 roles).
    owned = list(permissions.teams_for(user, TeamPermission.MANAGE_MEMBERS).order_by("slug"))
    if not owned:
        raise PermissionDenied("the fleet view is for platform admins and team owners")
    return Scope(owned, everything=False)


def by_state_and_team(scope: Scope) -> list[tuple[str, dict[str, int]]]:
    rows: dict[str, dict[str, int]] = {}
    counts = (
        scope.environments()
        .exclude(state=EnvironmentState.DELETED)
        .order_by()
        .values_list("team__slug", "state")
        .annotate(n=Count("pk"))
    )
    for team, state, n in counts:
        rows.setdefault(team, {})[state] = n
    return sorted(rows.items())


def namespaces_over_time(scope: Scope, now: datetime, days: int = DAYS) -> dict:
    """Per day of the last ``days``: namespaces live at its end, created and deleted during it.

    One environment is one namespace, alive from ``created_at`` to ``deleted_at``; one aggregate
    query with three conditional counts per day.
    """
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    starts = [today - timedelta(days=days - 1 - i) for i in range(days)]
    ends = [min(start + timedelta(days=1), now) for start in starts]
    aggregates = {}
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        aggregates[f"live{i}"] = Count(
            "pk", filter=Q(created_at__lt=end) & (Q(deleted_at__isnull=True) | Q(deleted_at__gte=end))
        )
        aggregates[f"created{i}"] = Count("pk", filter=Q(created_at__gte=start, created_at__lt=end))
        aggregates[f"deleted{i}"] = Count("pk", filter=Q(deleted_at__gte=start, deleted_at__lt=end))
    sums = (
        scope.environments()
        .filter(Q(deleted_at__isnull=True) | Q(deleted_at__gte=starts[0]))
        .order_by()
        .aggregate(**aggregates)
    )
    return {
        "labels": [start.strftime("%m-%d") for start in starts],
        "live": [sums[f"live{i}"] for i in range(days)],
        "created": [sums[f"created{i}"] for i in range(days)],
        "deleted": [sums[f"deleted{i}"] for i in range(days)],
    }


def upcoming_expiries(scope: Scope, now: datetime) -> list[Environment]:
    return list(
        scope.environments()
        .filter(state__in=LIVE_STATES - {EnvironmentState.DELETING}, expires_at__gt=now)
        .filter(expires_at__lte=now + EXPIRY_HORIZON)
        .select_related("team")
        .order_by("expires_at")[:LIST_LIMIT]
    )


def idle_candidates(scope: Scope, now: datetime) -> list[Environment]:
    """Running environments whose idle shutdown is due within the hour (or overdue: next sweep)."""
    return list(
        scope.environments()
        .filter(state__in=_RUNNING, auto_shutdown_enabled=True, idle_at__lte=now + IDLE_HORIZON)
        .select_related("team")
        .order_by("idle_at")[:LIST_LIMIT]
    )


def drifted(scope: Scope) -> list[Environment]:
    return list(
        scope.environments()
        .filter(state__in=LIVE_STATES, drift__isnull=False)
        .exclude(drift=[])
        .select_related("team")
        .order_by("-drift_checked_at")[:LIST_LIMIT]
    )


def sweep_activity(scope: Scope, now: datetime) -> list[tuple[str, int]]:
    """What the sweep did over the last ``DAYS`` days, from its audit events (``fleet_…`` request ids)."""
    events = AuditEvent.objects.filter(
        action__in=SWEEP_ACTIONS, request_id__startswith="fleet_", created_at__gte=now - timedelta(days=DAYS)
    )
    if not scope.everything:
        events = events.filter(team__in=[t.pk for t in scope.teams])
    counts = dict(events.order_by().values_list("action").annotate(n=Count("pk")))
    return [(label, counts.get(action, 0)) for action, label in SWEEP_ACTIONS.items()]


def orphans_removed(now: datetime) -> list[AuditEvent]:
    """Namespaces the sweep removed lately (no team owns an orphan: platform admins only)."""
    return list(
        AuditEvent.objects.filter(action=ORPHAN_NAMESPACE_ACTION, created_at__gte=now - timedelta(days=DAYS)).order_by(
            "-sequence"
        )[:LIST_LIMIT]
    )


def stuck_namespaces(scope: Scope, now: datetime) -> list[AuditEvent]:
    """Namespaces the sweep found stuck in Terminating lately, newest report of each first, with the
    finalizers they still waited on. Team owners see those naming their teams' environments."""
    events = AuditEvent.objects.filter(action=STUCK_NAMESPACE_ACTION, created_at__gte=now - timedelta(days=DAYS))
    if not scope.everything:
        events = events.filter(team__in=[t.pk for t in scope.teams])
    latest: dict[tuple[str, str], AuditEvent] = {}
    # Bounded: a namespace is reported at most once a day, so a few per namespace and day suffice.
    for event in events.order_by("-sequence")[: LIST_LIMIT * 5]:
        latest.setdefault((event.target_id, (event.after or {}).get("cluster", "")), event)
    return list(latest.values())[:LIST_LIMIT]


def cost_by_team(scope: Scope) -> list[tuple[Team, object]] | None:
    """Each team's estimated cost and overlay savings (``environments.actions.costs``), if installed."""
    try:
        from environments.actions.costs import team_cost
    except ImportError:
        return None
    return [(team, team_cost(team)) for team in scope.teams]


@login_required
def fleet_view(request: HttpRequest) -> HttpResponse:
    scope = scope_for(request.user)
    now = timezone.now()
    series = namespaces_over_time(scope, now)
    states = by_state_and_team(scope)
    context = {
        "scope": scope,
        "now": now,
        "states": states,
        "states_svg": mark_safe(state_bars_svg(states)),  # noqa: S308 - every text in it is escaped
        "series": series,
        "series_svg": mark_safe(  # noqa: S308 - every text in it is escaped
            daily_series_svg(series["labels"], series["live"], series["created"], series["deleted"])
        ),
        "expiring": upcoming_expiries(scope, now),
        "idle": idle_candidates(scope, now),
        "drifted": drifted(scope),
        "sweep": sweep_activity(scope, now),
        "orphans": orphans_removed(now) if scope.everything else None,
        "stuck": stuck_namespaces(scope, now),
        "costs": cost_by_team(scope),
        "days": DAYS,
    }
    return render(request, "environments/fleet.html", context)
