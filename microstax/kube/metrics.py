"""Prometheus counters of the Kubernetes adapter: API errors per cluster.

Counted where every request goes out (``KubeClient._send``), so retries are counted one by one. The
counter lives in the process making the calls (web or worker); with ``PROMETHEUS_MULTIPROC_DIR``
set for every process of a machine, prometheus-client keeps it in shared files and ``/metrics``
adds the processes up (see ``environments.metrics``). Absence answers (404 on a read, 409 on a
create) are outcomes, not errors, and are not counted.
"""

from __future__ import annotations

from prometheus_client import Counter

from .errors import AlreadyExists, KubeError, NotFound

API_ERRORS = Counter(
    "microstax_kube_api_errors",
    "Kubernetes API requests that failed, by cluster and error class",
    ["cluster", "error"],
)

_NOT_ERRORS = (NotFound, AlreadyExists)


def count_error(cluster: str, exc: KubeError) -> None:
    if not isinstance(exc, _NOT_ERRORS):
        API_ERRORS.labels(cluster=cluster, error=type(exc).__name__).inc()
