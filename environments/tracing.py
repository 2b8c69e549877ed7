"""Operations as OpenTelemetry traces: the operation is the root span, each step a child span.

Exported as OTLP/HTTP JSON to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``…/v1/traces``) when it is set;
the trace id is kept on the Operation and shown in every client either way, so a trace found in
Jaeger or Tempo leads back to the operation and vice versa. Export is best effort: a collector
that is down never fails provisioning.
"""

from __future__ import annotations

import json
import logging
import secrets
import urllib.request
from datetime import datetime

from django.conf import settings

log = logging.getLogger(__name__)
EXPORT_TIMEOUT = 3.0


def new_trace_id() -> str:
    return secrets.token_hex(16)


def _span_id(trace_id: str, position: int) -> str:
    # Deterministic per (trace, step) so a re-export after a retry replaces rather than duplicates.
    return f"{int(trace_id[:8], 16) ^ position:08x}{position:08x}"[:16]


def _nanos(moment: datetime | None) -> str:
    return str(int(moment.timestamp() * 1_000_000_000)) if moment else "0"


def _attributes(values: dict) -> list[dict]:
    return [{"key": key, "value": {"stringValue": str(value)}} for key, value in values.items() if value is not None]


def operation_spans(operation) -> dict:
    """The OTLP JSON document of one operation and its steps."""
    env = operation.environment
    root_id = _span_id(operation.trace_id, 0)
    status = {"code": 2 if operation.state == "failed" else 1}
    spans = [
        {
            "traceId": operation.trace_id,
            "spanId": root_id,
            "name": f"environment.{operation.kind}",
            "kind": 1,
            "startTimeUnixNano": _nanos(operation.started_at or operation.created_at),
            "endTimeUnixNano": _nanos(operation.finished_at),
            "attributes": _attributes(
                {
                    "microstax.environment.id": env.public_id,
                    "microstax.environment.name": env.name,
                    "microstax.team": env.team.slug,
                    "microstax.operation.id": operation.public_id,
                    "microstax.operation.attempts": operation.attempts,
                    "k8s.namespace.name": env.namespace,
                    "k8s.cluster.name": env.cluster.name,
                }
            ),
            "status": {**status, "message": operation.error[:500]} if operation.error else status,
        }
    ]
    for step in operation.steps.all():
        spans.append(
            {
                "traceId": operation.trace_id,
                "spanId": _span_id(operation.trace_id, step.position),
                "parentSpanId": root_id,
                "name": step.name,
                "kind": 1,
                "startTimeUnixNano": _nanos(step.started_at),
                "endTimeUnixNano": _nanos(step.finished_at),
                "attributes": _attributes(
                    {
                        key: json.dumps(value) if isinstance(value, list | dict) else value
                        for key, value in step.details.items()
                    }
                ),
                "status": {"code": 2 if step.outcome == "failed" else 1},
            }
        )
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attributes({"service.name": "microstax"})},
                "scopeSpans": [{"scope": {"name": "microstax.provisioning"}, "spans": spans}],
            }
        ]
    }


def export(operation) -> bool:
    """Send the operation's trace to the configured collector; True when it was accepted."""
    endpoint = settings.OTEL_EXPORTER_OTLP_ENDPOINT
    if not endpoint:
        return False
    url = endpoint.rstrip("/") + "/v1/traces"
    body = json.dumps(operation_spans(operation)).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=EXPORT_TIMEOUT) as response:  # noqa: S310 - operator's URL
            return 200 <= response.status < 300
    except OSError as exc:
        log.warning("OTLP export of %s to %s failed: %s", operation.public_id, url, exc)
        return False
