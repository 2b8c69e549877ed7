"""Waiting until ready, with watches, and the reasons reported when something is not."""

from __future__ import annotations

from microstax import kube
from microstax.kube import Reason, State

from . import manifests as m

# Generous: a passing wait returns as soon as everything is ready, so this never slows a test.
DEADLINE = 30.0


def test_a_small_namespace_becomes_ready(cluster, env, images):
    applied = kube.apply(cluster, m.small_namespace(env, images))

    report = kube.wait_ready(cluster, applied.objects, DEADLINE)

    assert report.ready, [(str(o.ref), o.reason, o.message) for o in report.objects]
    assert not report.timed_out
    assert report.get("Deployment", "web").message == "1 of 1 replicas available"
    assert report.get("Job", "seed").message == "completed"


def test_wait_accepts_object_refs(cluster, env, images):
    applied = kube.apply(cluster, [env.namespace_manifest(), m.deployment(env, image=images.web, replicas=2)])

    report = kube.wait_ready(cluster, [kube.ObjectRef.of(o) for o in applied.objects], DEADLINE)

    assert report.ready


def test_wait_uses_watches_not_polling(cluster, env, images, sim):
    applied = kube.apply(cluster, m.small_namespace(env, images))
    sim.recorder.clear()

    kube.wait_ready(cluster, applied.objects, DEADLINE)

    lists = sim.recorder.filter(verb="list")
    # One LIST per kind and namespace; anything still pending is then watched, never re-listed.
    assert len(lists) <= len({(o["kind"], o["metadata"].get("namespace")) for o in applied.objects})
    assert all(r.query.get("resourceVersion") for r in sim.recorder.filter(verb="watch"))


def test_a_wait_for_an_object_that_never_appears_ends_at_the_deadline(cluster, env):
    kube.apply(cluster, [env.namespace_manifest()])
    ghost = kube.ObjectRef("v1", "ConfigMap", env.namespace, "never-created")

    report = kube.wait_ready(cluster, [ghost], 0.3)

    assert report.timed_out and not report.ready
    assert report.get("ConfigMap", "never-created").reason == Reason.NOT_FOUND


def test_a_pvc_of_a_wait_for_first_consumer_class_does_not_block(cluster, env, sim):
    applied = kube.apply(cluster, [env.namespace_manifest(), m.pvc(env, storage_class="local-path")])

    report = kube.wait_ready(cluster, applied.objects, DEADLINE)

    claim = report.get("PersistentVolumeClaim", "data")
    assert claim.ready and "WaitForFirstConsumer" in claim.message


def test_a_crash_loop_is_reported_with_its_pod(cluster, env, images):
    web = m.deployment(env, image=images.crashloop, command=images.fail_command)
    applied = kube.apply(cluster, [env.namespace_manifest(), web])

    report = kube.wait_ready(cluster, applied.objects, DEADLINE, fail_fast=True)

    result = report.get("Deployment", "web")
    assert result.state is State.FAILED and result.reason == Reason.CRASH_LOOP
    assert result.message.startswith("pod/web-")
    assert not report.timed_out


def test_a_missing_image_is_reported(cluster, env, images):
    applied = kube.apply(cluster, [env.namespace_manifest(), m.deployment(env, image=images.missing)])

    report = kube.wait_ready(cluster, applied.objects, DEADLINE, fail_fast=True)

    result = report.get("Deployment", "web")
    assert result.state is State.FAILED
    assert result.reason in (Reason.ERR_IMAGE_PULL, Reason.IMAGE_PULL_BACKOFF)
    assert images.missing in result.message


def test_a_quota_refusal_is_reported(cluster, env, images):
    objects = [
        env.namespace_manifest(),
        m.quota(env, hard={"pods": "1"}),
        m.deployment(env, image=images.web, replicas=2),
    ]
    applied = kube.apply(cluster, objects)

    report = kube.wait_ready(cluster, applied.objects, DEADLINE, fail_fast=True)

    result = report.get("Deployment", "web")
    assert result.state is State.FAILED and result.reason == Reason.QUOTA_EXCEEDED
    assert "exceeded quota" in result.message


def test_a_failed_job_is_reported_without_fail_fast(cluster, env, images):
    seed = m.job(env, image=images.failing_task, command=images.fail_command, backoff=0)
    applied = kube.apply(cluster, [env.namespace_manifest(), seed])

    report = kube.wait_ready(cluster, applied.objects, DEADLINE)

    result = report.get("Job", "seed")
    assert result.state is State.FAILED and result.reason == Reason.JOB_FAILED
    assert "BackoffLimitExceeded" in result.message
    assert not report.timed_out


def test_without_fail_fast_a_crash_loop_is_diagnosed_at_the_deadline(cluster, env, images):
    web = m.deployment(env, image=images.crashloop, command=images.fail_command)
    applied = kube.apply(cluster, [env.namespace_manifest(), web])
    # Let the first crash happen before the deadline: wait on it with fail_fast first.
    kube.wait_ready(cluster, applied.objects, DEADLINE, fail_fast=True)

    report = kube.wait_ready(cluster, applied.objects, 0.3)

    result = report.get("Deployment", "web")
    assert report.timed_out and result.state is State.PENDING
    assert result.reason == Reason.CRASH_LOOP
    assert result.details and all(d.startswith("pod/web-") for d in result.details)


def test_progress_deadline_exceeded_fails_the_wait(cluster, env, images, sim):
    web = m.deployment(env, image=images.missing, progress_deadline=1)
    applied = kube.apply(cluster, [env.namespace_manifest(), web])

    report = kube.wait_ready(cluster, applied.objects, DEADLINE)

    result = report.get("Deployment", "web")
    assert result.state is State.FAILED and result.reason == Reason.PROGRESS_DEADLINE


def test_a_watch_answered_410_gone_recovers_by_relisting(cluster, env, images, sim):
    applied = kube.apply(cluster, [env.namespace_manifest(), m.deployment(env, image=images.web, replicas=2)])
    sim.faults.add(status=410, verb="watch", resource="deployments", times=1)
    sim.recorder.clear()

    report = kube.wait_ready(cluster, applied.objects, DEADLINE)

    assert report.ready
    deployment_lists = sim.recorder.filter(verb="list", resource="deployments")
    watches = sim.recorder.filter(verb="watch", resource="deployments")
    assert watches[0].status == 410
    # wait_ready starts from apply's live objects (no LIST); the 410 forces exactly one.
    assert len(deployment_lists) == 1


def test_a_dropped_watch_resumes_from_the_last_resource_version(cluster, env, images, sim):
    objects = [env.namespace_manifest(), m.deployment(env, image=images.web, replicas=3)]
    sim.faults.add(verb="watch", resource="deployments", drop_watch_after=1, abrupt=True, times=1)
    applied = kube.apply(cluster, objects)
    sim.recorder.clear()

    report = kube.wait_ready(cluster, applied.objects, DEADLINE)

    assert report.ready
    watches = sim.recorder.filter(verb="watch", resource="deployments")
    assert len(watches) >= 2
    assert all(w.query.get("resourceVersion") for w in watches)
    assert int(watches[1].query["resourceVersion"]) > int(watches[0].query["resourceVersion"])
    # Resumed from the last resourceVersion seen, never re-listed.
    assert sim.recorder.filter(verb="list", resource="deployments") == []


def test_apply_waves_applies_the_next_wave_only_after_the_previous_is_ready(cluster, env, images):
    waves = [
        [env.namespace_manifest(), m.configmap(env), m.secret(env)],
        [m.job(env, image=images.task)],
        [m.deployment(env, image=images.web), m.service(env)],
    ]

    report = kube.apply_waves(cluster, waves, wave_timeout=DEADLINE)

    assert report.ready and len(report.readiness) == 3 and report.writes == 6


def test_apply_waves_stops_at_a_failing_wave(cluster, env, images):
    seed = m.job(env, image=images.failing_task, command=images.fail_command)
    waves = [[env.namespace_manifest()], [seed], [m.deployment(env, image=images.web)]]

    report = kube.apply_waves(cluster, waves, wave_timeout=DEADLINE)

    assert not report.ready
    assert len(report.applied) == 2
    assert report.readiness[-1].failed[0].reason == Reason.JOB_FAILED
