"""Prometheus metrics at ``/metrics``: the fleet as the database knows it, plus the adapter's counters.

Figures that are facts about the fleet are computed from the database at scrape time, in a fixed
number of aggregate queries, rather than kept in process memory: MicroStax runs several web and
worker processes on several machines, and a counter incremented in the worker that finished an
operation would be invisible to (or double-counted by) the web process answering the scrape.

- ``microstax_environments{state}`` — gauge, one GROUP BY.
- ``microstax_provisioning_duration_seconds{kind}`` — histogram of finished operations (start to
  finish), buckets counted by conditional aggregates in one GROUP BY.
- ``microstax_fleet_sweep_actions_total{action}`` — what the fleet sweep did, counted from its
  audit events (every sweep action writes one, tagged with the sweep's ``fleet_…`` request id).
- ``microstax_kube_api_errors_total{cluster,error}`` — counted where requests fail
  (``microstax.kube.metrics``); per process, or across the machine's processes when
  ``PROMETHEUS_MULTIPROC_DIR`` is set (prometheus-client's multiprocess mode).

Access: ``Authorization: Bearer <MICROSTAX_METRICS_TOKEN>``; without a token configured, loopback
clients only.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from audit.models import AuditEvent
from environments.choices import EnvironmentState, OperationState
from environments.drift import DRIFT_DETECTED, DRIFT_RESOLVED
from environments.fleet import ORPHAN_NAMESPACE_ACTION, TTL_WARNING_ACTION
from environments.models import Environment, Operation
from microstax.kube import metrics as kube_metrics  # noqa: F401  (registers the adapter's counter)

DURATION_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
SWEEP_ACTIONS = (
    "environment.delete",
    "environment.stop",
    "environment.reconcile",
    TTL_WARNING_ACTION,
    ORPHAN_NAMESPACE_ACTION,
    DRIFT_DETECTED,
    DRIFT_RESOLVED,
)


class FleetCollector(Collector):
    """The database-derived metrics, computed on each scrape (three queries)."""

    def collect(self) -> Iterator:
        yield self._environments()
        yield self._durations()
        yield self._sweep_actions()

    def _environments(self) -> GaugeMetricFamily:
        counts = dict.fromkeys(EnvironmentState.values, 0)
        counts.update(Environment.objects.order_by().values_list("state").annotate(n=Count("pk")))
        gauge = GaugeMetricFamily("microstax_environments", "Environments by state", labels=["state"])
        for state, n in sorted(counts.items()):
            gauge.add_metric([state], n)
        return gauge

    def _durations(self) -> HistogramMetricFamily:
        duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        buckets = {
            f"le_{i}": Count("pk", filter=Q(duration__lte=timedelta(seconds=bound)))
            for i, bound in enumerate(DURATION_BUCKETS)
        }
        rows = (
            Operation.objects.filter(
                state__in=(OperationState.SUCCEEDED, OperationState.FAILED),
                started_at__isnull=False,
                finished_at__isnull=False,
            )
            .order_by()
            .alias(duration=duration)
            .values("kind")
            .annotate(total=Count("pk"), seconds=Sum("duration"), **buckets)
            .order_by("kind")
        )
        family = HistogramMetricFamily(
            "microstax_provisioning_duration_seconds",
            "Time from an operation's start to its end, finished operations by kind",
            labels=["kind"],
        )
        for row in rows:
            cumulative = [(floatToGoString(b), row[f"le_{i}"]) for i, b in enumerate(DURATION_BUCKETS)]
            cumulative.append(("+Inf", row["total"]))
            seconds = row["seconds"]
            total = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds or 0) / 1e6
            family.add_metric([row["kind"]], cumulative, sum_value=total)
        return family

    def _sweep_actions(self) -> CounterMetricFamily:
        counts = dict.fromkeys(SWEEP_ACTIONS, 0)
        counts.update(
            AuditEvent.objects.filter(action__in=SWEEP_ACTIONS, request_id__startswith="fleet_")
            .order_by()
            .values_list("action")
            .annotate(n=Count("pk"))
        )
        counter = CounterMetricFamily(
            "microstax_fleet_sweep_actions", "Actions the fleet sweep took, from its audit events", labels=["action"]
        )
        for action, n in sorted(counts.items()):
            counter.add_metric([action], n)
        return counter


def exposition() -> bytes:
    """The text exposition: the database-derived metrics plus the process (or multiprocess) ones."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(registry) + generate_latest(REGISTRY)


def allowed(request: HttpRequest) -> bool:
    """A matching bearer token, or — when no token is configured — a loopback client."""
    token = settings.MICROSTAX_METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not allowed(request):
        response = HttpResponse("metrics need a bearer token or a loopback client\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Answer ``/metrics`` before the API-token middleware: the scrape token is not an ``msx_`` API
    token (a user's token would refuse it with 401), and scrapers address instances by IP, which
    the host check would refuse."""

    PATHS = frozenset({"/metrics", "/metrics/"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info in self.PATHS and request.method in ("GET", "HEAD"):
            return metrics_view(request)
        return self.get_response(request)
