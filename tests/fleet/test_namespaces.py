"""The sweep's namespace policies: orphans of MicroStax are deleted, nothing else is touched, stuck
terminations are reported, and an unreachable cluster is reported and skipped."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from environments import actions
from environments.fleet import sweep


def test_orphan_namespaces_are_deleted_and_foreign_ones_survive(
    provision, owner, sim, make_namespace, django_capture_on_commit_callbacks
):
    # given: a live environment, a deleted one, and namespaces claiming to belong to each or to none
    live = provision("live")
    gone = provision("gone")
    with django_capture_on_commit_callbacks(execute=True):
        actions.delete_environment(actor=owner, env=gone)
    make_namespace("leftover", gone.public_id)  # labelled for a deleted environment
    make_namespace("ghost", "env_doesnotexist")  # labelled for an environment that never existed
    make_namespace("someone-elses", "env_doesnotexist", managed=False)  # not ours: no managed-by label
    make_namespace("kube-tools")  # no labels at all
    # when
    report = sweep()
    # then
    assert sorted(f.name for f in report.orphan_namespaces_deleted) == ["ghost", "leftover"]
    for name in ("ghost", "leftover"):
        ns = sim.get("namespaces", "", name)
        assert ns is None or ns["metadata"].get("deletionTimestamp"), name
    for name in ("someone-elses", "kube-tools", live.namespace):
        ns = sim.get("namespaces", "", name)
        assert ns is not None and not ns["metadata"].get("deletionTimestamp"), name
    assert report.errors == []


def test_a_namespace_stuck_terminating_is_reported_with_its_finalizers(sim, sandbox_cluster, make_namespace, core):
    # given: an orphan whose deletion never finishes
    make_namespace("stuck", "env_doesnotexist")
    sim.faults.stick_namespace("stuck")
    core.delete_namespace("stuck")
    assert sim.get("namespaces", "", "stuck")["metadata"].get("deletionTimestamp")
    sim.recorder.clear()
    # when: just now, it is not stuck yet and it is not deleted again
    soon = sweep()
    assert soon.stuck_terminating == soon.orphan_namespaces_deleted == []
    # when: past the threshold (30 minutes by default)
    late = sweep(now=timezone.now() + timedelta(minutes=31))
    # then
    assert [(f.id, f.name) for f in late.stuck_terminating] == [("env_doesnotexist", "stuck")]
    assert "terminating for 3" in late.stuck_terminating[0].reason
    assert "finalizers: kubernetes" in late.stuck_terminating[0].reason
    assert late.orphan_namespaces_deleted == []
    assert sim.recorder.writes() == []


def test_the_stuck_threshold_comes_from_settings(sim, sandbox_cluster, make_namespace, core, settings):
    make_namespace("stuck", "env_doesnotexist")
    sim.faults.stick_namespace("stuck")
    core.delete_namespace("stuck")
    settings.MICROSTAX_STUCK_TERMINATING_MINUTES = 5
    assert [f.name for f in sweep(now=timezone.now() + timedelta(minutes=6)).stuck_terminating] == ["stuck"]


def test_an_unreachable_cluster_is_reported_and_the_others_are_still_swept(
    sim, sandbox_cluster, admin_user, make_namespace
):
    # given: a second cluster whose API server is not listening
    kubeconfig = sim.kubeconfig().replace(sim.url, "http://127.0.0.1:9")
    down = actions.register_cluster(actor=admin_user, name="down", kubeconfig=kubeconfig, kind="sandbox", check=False)
    make_namespace("ghost", "env_doesnotexist")
    # when
    report = sweep()
    # then
    assert [(f.id, f.name) for f in report.errors] == [(down.public_id, "down")]
    assert report.errors[0].reason.startswith("cluster skipped")
    assert [f.name for f in report.orphan_namespaces_deleted] == ["ghost"]
