"""/metrics: the Prometheus exposition parsed with prometheus_client's own parser, its protection, and
a query count that does not depend on the fleet."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from environments import actions
from environments.fleet import sweep
from environments.models import Environment


def _scrape(client, **headers) -> dict:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


def _samples(family, name: str | None = None) -> dict:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples if name is None or s.name == name}


def test_environments_by_state_and_provisioning_durations(provision, client):
    provision("one")
    stopped = provision("two")
    Environment.objects.filter(pk=stopped.pk).update(state="stopped")
    families = _scrape(client)
    states = _samples(families["microstax_environments"])
    assert states[(("state", "ready"),)] == 1
    assert states[(("state", "stopped"),)] == 1
    assert states[(("state", "failed"),)] == 0
    durations = families["microstax_provisioning_duration_seconds"]
    assert durations.type == "histogram"
    counts = _samples(durations, "microstax_provisioning_duration_seconds_count")
    assert counts == {(("kind", "create"),): 2}
    buckets = _samples(durations, "microstax_provisioning_duration_seconds_bucket")
    assert buckets[(("kind", "create"), ("le", "+Inf"))] == 2
    assert buckets[(("kind", "create"), ("le", "1800.0"))] == 2
    assert _samples(durations, "microstax_provisioning_duration_seconds_sum")[(("kind", "create"),)] > 0


def test_sweep_actions_are_counted_from_the_audit_trail(provision, client, make_namespace):
    env = provision()
    env.last_activity_at = timezone.now() - timedelta(hours=2)
    env.save(update_fields=["last_activity_at"])
    make_namespace("ghost", "env_doesnotexist")
    report = sweep()
    assert len(report.stopped_idle) == len(report.orphan_namespaces_deleted) == 1
    actions_taken = _samples(_scrape(client)["microstax_fleet_sweep_actions"], "microstax_fleet_sweep_actions_total")
    assert actions_taken[(("action", "environment.stop"),)] == 1
    assert actions_taken[(("action", "namespace.orphan.deleted"),)] == 1
    assert actions_taken[(("action", "environment.delete"),)] == 0


def test_kubernetes_api_errors_are_counted_by_cluster(sandbox_cluster, sim, client):
    from microstax import kube

    config = actions.cluster_config(sandbox_cluster)
    before = _samples(_scrape(client).get("microstax_kube_api_errors") or _Empty())
    sim.faults.add(status=403, verb="list", resource="namespaces", times=1)
    with pytest.raises(kube.Forbidden):
        kube.list_managed_namespaces(config)
    after = _samples(_scrape(client)["microstax_kube_api_errors"], "microstax_kube_api_errors_total")
    key = (("cluster", sandbox_cluster.public_id), ("error", "Forbidden"))
    assert after[key] == before.get(key, 0) + 1


class _Empty:
    samples: list = []


def test_metrics_are_for_loopback_only_without_a_token(db, client, settings):
    settings.MICROSTAX_METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


def test_metrics_need_the_bearer_token_when_one_is_set(db, client, settings):
    settings.MICROSTAX_METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics").status_code == 401  # loopback is not enough any more
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    ok = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert ok.status_code == 200


def test_the_scrape_query_count_does_not_grow_with_the_fleet(provision, client):
    template = provision("template")
    with CaptureQueriesContext(connection) as small:
        _scrape(client)
    rows = [
        Environment(
            public_id=f"env_bulk{i:05d}",
            team=template.team,
            name=f"bulk-{i}",
            source=template.source,
            spec=template.spec,
            spec_hash=template.spec_hash,
            cluster=template.cluster,
            namespace=f"env-bulk-{i}",
            state=["ready", "stopped", "failed"][i % 3],
            created_by=template.created_by,
        )
        for i in range(60)
    ]
    Environment.objects.bulk_create(rows)
    with CaptureQueriesContext(connection) as large:
        families = _scrape(client)
    assert len(large.captured_queries) == len(small.captured_queries) == 3
    assert _samples(families["microstax_environments"])[(("state", "ready"),)] == 21
