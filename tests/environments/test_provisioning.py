"""Provisioning is idempotent: a reconcile writes nothing, injected API faults are retried, and a
worker that dies mid-provision is taken over without duplicating or orphaning anything."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from environments import actions
from environments.models import Environment, Operation
from environments.provisioning import run_operation
from microstax import kube
from tests.environments.test_lifecycle import STACK


@pytest.fixture
def provision(team, owner, sandbox_cluster, django_capture_on_commit_callbacks):
    def create(source: str = STACK) -> Environment:
        with django_capture_on_commit_callbacks(execute=True):
            env = actions.create_environment(actor=owner, team=team, source=source)
        env.refresh_from_db()
        return env

    return create


def test_writes_equal_rendered_objects_and_a_reconcile_writes_nothing(
    provision, owner, sim, django_capture_on_commit_callbacks
):
    sim.recorder.clear()
    env = provision()
    assert env.state == "ready"
    render_step = env.operations.get().steps.get(name="render")
    writes = [r for r in sim.recorder.writes() if r.resource != "namespaces" or r.method != "DELETE"]
    assert len(writes) == render_step.details["objects"], [f"{r.method} {r.path}" for r in writes]

    sim.recorder.clear()
    with django_capture_on_commit_callbacks(execute=True):
        operation = actions.reconcile_environment(actor=owner, env=env)
    operation.refresh_from_db()
    assert operation.state == "succeeded"
    assert sim.recorder.writes() == []
    env.refresh_from_db()
    assert env.state == "ready"


def test_a_reconcile_repairs_an_object_deleted_by_hand(provision, owner, sim, django_capture_on_commit_callbacks):
    env = provision()
    from kubernetes import client as k8s

    config = k8s.Configuration()
    config.host = sim.url
    with k8s.ApiClient(config) as api:
        k8s.CoreV1Api(api).delete_namespaced_service("api", env.namespace)
    assert sim.get("services", env.namespace, "api") is None
    with django_capture_on_commit_callbacks(execute=True):
        actions.reconcile_environment(actor=owner, env=env)
    assert sim.get("services", env.namespace, "api") is not None


def test_injected_server_errors_are_retried(provision, sim):
    sim.faults.add(status=500, verb="patch", resource="deployments", nth=1)
    sim.faults.add(status=429, verb="patch", resource="services", nth=1, retry_after=0)
    env = provision()
    assert env.state == "ready", env.state_reason


def test_a_worker_killed_mid_provision_is_taken_over(
    provision, team, owner, sim, monkeypatch, django_capture_on_commit_callbacks
):
    # given: the first worker dies (a BaseException, like SIGKILL's effect) after the first wait
    real_wait = kube.wait_ready
    calls = {"n": 0}

    def dying_wait(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("worker killed")
        return real_wait(*args, **kwargs)

    monkeypatch.setattr(kube, "wait_ready", dying_wait)
    with pytest.raises(SystemExit), django_capture_on_commit_callbacks(execute=True):
        actions.create_environment(actor=owner, team=team, source=STACK)
    env = Environment.objects.get(name="shop")
    operation = env.operations.get()
    assert (env.state, operation.state) == ("provisioning", "running")

    # a second worker does not steal a fresh claim...
    assert run_operation(operation.pk).startswith("skipped")
    # ...but takes over once the dead worker's heartbeat is stale
    monkeypatch.setattr(kube, "wait_ready", real_wait)
    Operation.objects.filter(pk=operation.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert run_operation(operation.pk) == "succeeded"

    env.refresh_from_db()
    operation.refresh_from_db()
    assert (env.state, operation.state, operation.attempts) == ("ready", "succeeded", 2)
    assert sorted(d["metadata"]["name"] for d in sim.list("deployments", env.namespace)) == ["api", "db"]
    assert env.services.count() == 2
    assert len([n for n in sim.list("namespaces") if n["metadata"]["name"].startswith("env-shop-")]) == 1


def test_the_namespace_quota_comes_from_the_team_policy_and_refusals_are_reported(provision, team, sim):
    from environments.models import TeamPolicy

    TeamPolicy.objects.create(team=team, max_pods_per_environment=1)
    env = provision()
    quota = sim.list("resourcequotas", env.namespace)[0]
    assert quota["spec"]["hard"]["pods"] == "1"
    assert env.state in ("failed", "degraded")
    assert "Quota" in env.state_reason or "FailedCreate" in env.state_reason, env.state_reason


def test_generated_secrets_of_the_same_name_share_a_value_and_survive_updates(provision, owner):
    from pathlib import Path

    source = (Path(__file__).resolve().parents[2] / "blueprints" / "examples" / "bookshop.yaml").read_text()
    env = provision(source)
    assert env.state == "ready", env.state_reason
    steps = [step.name for step in env.operations.get().steps.all()]
    assert any(name.startswith("apply seed") for name in steps), steps
    values = env.generated_secrets()
    assert values["db/db-password"] == values["api/db-password"] and len(values["db/db-password"]) >= 24
    actions.update_environment(actor=owner, env=env, source=source.replace("bookshop-api:2.3.1", "bookshop-api:2.4.0"))
    env.refresh_from_db()
    assert env.generated_secrets() == values


def test_the_system_actor_stops_and_deletes_with_system_audit_events(provision, django_capture_on_commit_callbacks):
    from audit.models import AuditEvent
    from environments.actions.lifecycle import SYSTEM

    env = provision()
    with django_capture_on_commit_callbacks(execute=True):
        actions.stop_environment(actor=SYSTEM, env=env)
    env.refresh_from_db()
    assert env.state == "stopped"
    event = AuditEvent.objects.get(action="environment.stop")
    assert (event.actor_name, event.actor_kind) == ("system", "system")


def test_a_failed_delete_can_be_retried(provision, owner, sim, django_capture_on_commit_callbacks, monkeypatch):
    from environments import provisioning

    env = provision()
    monkeypatch.setattr(provisioning, "NAMESPACE_DELETE_TIMEOUT", 0.5)
    sim.faults.stick_namespace(env.namespace)
    with django_capture_on_commit_callbacks(execute=True):
        actions.delete_environment(actor=owner, env=env)
    env.refresh_from_db()
    assert env.state == "deleting" and "still terminating" in env.state_reason
    sim.faults.unstick_namespace(env.namespace)
    with django_capture_on_commit_callbacks(execute=True):
        actions.delete_environment(actor=owner, env=env)
    env.refresh_from_db()
    assert env.state == "deleted"
    assert [op.state for op in env.operations.filter(kind="delete").order_by("created_at")] == ["failed", "succeeded"]
