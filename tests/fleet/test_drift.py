"""Drift: hand-made kubectl edits against kubesim are found by the sweep, recorded on the environment
with one audit event, and re-applied when the team's policy says so."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from environments import drift
from environments.fleet import sweep
from environments.models import Environment, Operation, TeamPolicy

Kubectl = Callable[..., subprocess.CompletedProcess]


def _kubectl_120() -> str:
    from tests.kubesim.test_kubectl import _download_kubectl_120

    return str(_download_kubectl_120())


@pytest.fixture(params=["1.20", "path"])
def kubectl(request, sim, tmp_path: Path) -> Kubectl:
    """kubectl (Debian's 1.20, and the one on PATH) against the emulator, as an operator would use it."""
    binary = _kubectl_120() if request.param == "1.20" else "/usr/bin/kubectl"
    if not Path(binary).exists():
        pytest.skip(f"{binary} is missing")
    config = tmp_path / "kubeconfig"
    sim.kubeconfig(config)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)

    def run(*args: str, editor: str | None = None) -> subprocess.CompletedProcess:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "KUBECACHEDIR": str(tmp_path / "cache")}
        if editor:
            env["KUBE_EDITOR"] = editor
        proc = subprocess.run(
            [binary, "--kubeconfig", str(config), *args], capture_output=True, text=True, timeout=60, env=env
        )
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
        return proc

    return run


def _later(minutes: int = 11):
    """Past the drift check interval (10 minutes by default), so the sweep looks again."""
    return timezone.now() + timedelta(minutes=minutes)


def test_a_freshly_provisioned_environment_has_no_drift(provision, sim):
    env = provision()
    sim.recorder.clear()
    report = sweep()
    assert report.drifted == report.errors == []
    env.refresh_from_db()
    assert env.drift in (None, [])
    assert env.drift_checked_at is not None
    assert sim.recorder.writes() == []


def test_kubectl_scale_is_recorded_once(provision, kubectl):
    # given
    env = provision()
    kubectl("scale", "deployment/api", "--replicas=3", "-n", env.namespace)
    # when
    report = sweep()
    # then
    assert [f.id for f in report.drifted] == [env.public_id]
    env.refresh_from_db()
    [item] = env.drift
    assert (item["kind"], item["name"]) == ("Deployment", "api")
    assert "replicas 1 → 3" in item["change"]
    assert "edited by kubectl" in item["change"] and "spec.replicas" in item["change"]
    events = AuditEvent.objects.filter(action=drift.DRIFT_DETECTED, target_id=env.public_id)
    assert events.count() == 1
    assert events.get().actor_kind == "system"
    # the same drift on the next checks: reported, not audited again
    again = sweep(now=_later())
    assert [f.id for f in again.drifted] == [env.public_id]
    assert events.count() == 1
    # nothing re-applied under the default policy
    assert not Operation.objects.filter(environment=env, kind="reconcile").exists()


def test_an_object_deleted_by_hand_and_an_image_edited_by_hand(provision, kubectl, tmp_path):
    env = provision()
    kubectl("delete", "service", "db", "-n", env.namespace)
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's#ghcr.io/example/api:1.0.0#ghcr.io/example/api:hotfix#' \"$1\"\n")
    editor.chmod(0o755)
    kubectl("edit", "deployment/api", "-n", env.namespace, editor=str(editor))
    report = sweep()
    env.refresh_from_db()
    by_name = {(d["kind"], d["name"]): d["change"] for d in env.drift}
    assert by_name[("Service", "db")] == "deleted"
    assert "image of api ghcr.io/example/api:1.0.0 → ghcr.io/example/api:hotfix" in by_name[("Deployment", "api")]
    assert "edited by kubectl" in by_name[("Deployment", "api")]
    assert len(report.drifted) == 1 and "Service/db deleted" in report.drifted[0].reason


def test_a_deleted_namespace_is_the_only_drift_reported(provision, kubectl, sim):
    env = provision()
    kubectl("delete", "namespace", env.namespace, "--wait=false")
    sweep()
    env.refresh_from_db()
    assert env.drift in ([{"kind": "Namespace", "name": env.namespace, "change": "deleted"}],) or all(
        d["change"] == "being deleted" for d in env.drift
    )


def test_the_reapply_policy_repairs_the_edit_and_the_drift_resolves(
    provision, kubectl, sim, team, django_capture_on_commit_callbacks
):
    # given: a team whose policy re-applies drift, and a hand-scaled deployment
    TeamPolicy.objects.update_or_create(team=team, defaults={"drift_policy": "reapply"})
    env = provision()
    kubectl("scale", "deployment/api", "--replicas=3", "-n", env.namespace)
    # when: the sweep finds it and enqueues the reconcile, which a worker runs
    with django_capture_on_commit_callbacks(execute=True):
        report = sweep()
    # then
    assert [f.id for f in report.reapplied] == [env.public_id]
    operation = Operation.objects.get(environment=env, kind="reconcile")
    assert operation.params == {"reapply": True}
    assert operation.state == "succeeded", operation.error
    assert sim.get("deployments", env.namespace, "api")["spec"]["replicas"] == 1
    reconcile = AuditEvent.objects.get(action="environment.reconcile", target_id=env.public_id)
    assert reconcile.reason == "drift" and reconcile.actor_kind == "system"
    # and the next check finds nothing, once
    later = sweep(now=_later())
    assert later.drifted == later.reapplied == []
    env.refresh_from_db()
    assert env.drift == []
    assert AuditEvent.objects.filter(action=drift.DRIFT_RESOLVED, target_id=env.public_id).count() == 1


def test_a_dry_run_reports_drift_and_writes_nothing(provision, kubectl, team, sim):
    TeamPolicy.objects.update_or_create(team=team, defaults={"drift_policy": "reapply"})
    env = provision()
    kubectl("scale", "deployment/api", "--replicas=2", "-n", env.namespace)
    sim.recorder.clear()
    report = sweep(dry_run=True)
    assert [f.id for f in report.drifted] == [env.public_id]
    assert [f.id for f in report.reapplied] == [env.public_id]
    assert "would" in report.summary() and "drifted [would]" in report.summary()
    env.refresh_from_db()
    assert env.drift is None and env.drift_checked_at is None
    assert not AuditEvent.objects.filter(action=drift.DRIFT_DETECTED).exists()
    assert not Operation.objects.filter(kind="reconcile").exists()
    assert sim.recorder.writes() == []


def test_checks_are_spread_over_sweeps_and_skip_busy_environments(provision, settings):
    settings.MICROSTAX_DRIFT_CHECKS_PER_SWEEP = 1
    first, second = provision("first"), provision("second")
    assert drift.due(timezone.now(), 10) == [first, second]
    sweep()
    assert [e.pk for e in drift.due(timezone.now(), 10)] == [second.pk]
    Operation.objects.create(environment=second, kind="reconcile", state="queued")
    assert drift.due(timezone.now(), 10) == []


def test_the_drift_check_query_count_does_not_grow_with_the_environments_checked(provision):
    for name in ("a", "b"):
        provision(name)
    Environment.objects.update(drift=[], drift_checked_at=None)
    with CaptureQueriesContext(connection) as small:
        assert sweep().drifted == []
    for name in ("c", "d", "e", "f"):
        provision(name)
    Environment.objects.update(drift=[], drift_checked_at=None)
    with CaptureQueriesContext(connection) as large:
        assert sweep().drifted == []
    assert len(large.captured_queries) == len(small.captured_queries)


SEEDED = """\
name: seeded
services:
  - name: db
    image: postgres:16.3
    ports: ["5432"]
    env: {POSTGRES_PASSWORD: pw}
    init: {type: sql, inline: "CREATE TABLE t (id int);"}
  - name: web
    image: nginx:1.27
    ports: ["80"]
    expose: true
    dependsOn: [db]
"""


def test_baselines_overlays_and_seed_jobs_have_no_drift_when_untouched(
    provision, owner, django_capture_on_commit_callbacks
):
    from environments import actions
    from tests.environments.test_overlays import BASELINE, OVERLAY

    seeded = provision("seeded", SEEDED)
    baseline = provision("base", BASELINE)
    assert baseline.mode == "baseline"
    with django_capture_on_commit_callbacks(execute=True):
        overlay = actions.create_overlay(actor=owner, base=baseline, source=OVERLAY)
    overlay.refresh_from_db()
    assert overlay.state == "ready", overlay.state_reason
    report = sweep()
    assert report.drifted == report.errors == [], report.summary()
    checked = set(Environment.objects.filter(drift_checked_at__isnull=False).values_list("pk", flat=True))
    assert {seeded.pk, baseline.pk, overlay.pk} <= checked


# --- comparing, without a cluster -------------------------------------------------------------------

_DESIRED = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "api", "namespace": "ns", "annotations": {"microstax.io/spec-hash": "h1"}},
    "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "api", "image": "api:1"}]}}},
}


def _live(*entries, **spec) -> dict:
    live = {
        **_DESIRED,
        "metadata": {**_DESIRED["metadata"], "managedFields": list(entries)},
        "spec": {**_DESIRED["spec"], **spec},
    }
    return live


def _entry(manager: str, fields: dict, **extra) -> dict:
    return {"manager": manager, "operation": "Update", "fieldsV1": fields, **extra}


def test_fields_we_never_set_and_status_writes_are_not_edits():
    from microstax.kube.objects import ObjectRef

    controller = _entry("kube-controller-manager", {"f:spec": {"f:progressDeadlineSeconds": {}}})
    status = _entry("kubectl", {"f:spec": {"f:replicas": {}}}, subresource="status")
    annotations = _entry("someone", {"f:metadata": {"f:annotations": {"f:note": {}}}})
    live = {ObjectRef.of(_DESIRED): _live(controller, status, annotations)}
    assert drift.compare([_DESIRED], live) == []


def test_a_foreign_manager_owning_a_container_image_is_an_edit_named_by_path_and_value():
    from microstax.kube.objects import ObjectRef

    image = {"f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"api"}': {"f:image": {}}}}}}}
    current = _live(_entry("kubectl-set", image))
    current["spec"]["template"] = {"spec": {"containers": [{"name": "api", "image": "api:2"}]}}
    [item] = drift.compare([_DESIRED], {ObjectRef.of(_DESIRED): current})
    assert item["change"] == (
        "edited by kubectl-set: spec.template.spec.containers[name=api].image; image of api api:1 → api:2"
    )


def test_another_spec_hash_is_drift():
    from microstax.kube.objects import ObjectRef

    current = _live()
    current["metadata"] = {**current["metadata"], "annotations": {"microstax.io/spec-hash": "h2"}}
    [item] = drift.compare([_DESIRED], {ObjectRef.of(_DESIRED): current})
    assert item["change"] == "spec-hash h2 ≠ desired h1"
