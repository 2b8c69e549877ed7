"""Provisioning traces exported as OTLP/HTTP JSON to a collector on loopback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from environments import actions
from environments.models import Environment
from tests.environments.test_lifecycle import STACK


@pytest.fixture
def collector():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "type": self.headers["Content-Type"], "body": json.loads(body)})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()


def test_each_operation_is_exported_as_a_trace_of_its_steps(
    collector, settings, team, owner, sandbox_cluster, django_capture_on_commit_callbacks
):
    settings.OTEL_EXPORTER_OTLP_ENDPOINT, received = collector
    # (callbacks registered while running callbacks run too: provisioning, then the export)
    with django_capture_on_commit_callbacks(execute=True):
        actions.create_environment(actor=owner, team=team, source=STACK)
    operation = Environment.objects.get().operations.get()
    [request] = received
    assert request["path"] == "/v1/traces" and request["type"] == "application/json"
    spans = request["body"]["resourceSpans"][0]["scopeSpans"][0]["spans"]
    root, *steps = spans
    assert root["name"] == "environment.create" and root["traceId"] == operation.trace_id
    assert [s["name"] for s in steps] == list(operation.steps.values_list("name", flat=True))
    assert all(s["parentSpanId"] == root["spanId"] and s["traceId"] == operation.trace_id for s in steps)
    assert all(int(s["endTimeUnixNano"]) >= int(s["startTimeUnixNano"]) > 0 for s in spans)


def test_a_collector_that_is_down_does_not_fail_provisioning(
    settings, team, owner, sandbox_cluster, django_capture_on_commit_callbacks
):
    settings.OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:9"
    with django_capture_on_commit_callbacks(execute=True):
        actions.create_environment(actor=owner, team=team, source=STACK)
    assert Environment.objects.get().state == "ready"
