"""Pod logs per service: tail merged across pods, follow across pods that come and go."""

from __future__ import annotations

import threading

from microstax import kube

from . import manifests as m

DEADLINE = 30.0


def _running_service(cluster, env, images, replicas: int) -> list[dict]:
    applied = kube.apply(cluster, [env.namespace_manifest(), m.deployment(env, image=images.web, replicas=replicas)])
    assert kube.wait_ready(cluster, applied.objects, DEADLINE).ready
    return kube.service_pods(cluster, env.namespace, "web", environment_id=env.id)


def test_tail_merges_lines_of_every_pod_each_tagged_with_its_pod(cluster, env, images):
    pods = _running_service(cluster, env, images, replicas=2)

    lines = kube.tail(cluster, env.namespace, "web", environment_id=env.id, tail_lines=1000)

    assert {line.pod for line in lines} == {p["metadata"]["name"] for p in pods}
    assert all(isinstance(line.line, str) for line in lines)


def test_tail_returns_at_most_tail_lines(cluster, env, images):
    _running_service(cluster, env, images, replicas=2)

    lines = kube.tail(cluster, env.namespace, "web", environment_id=env.id, tail_lines=3)

    assert len(lines) == 3


def test_tail_of_a_service_without_pods_is_empty(cluster, env):
    kube.apply(cluster, [env.namespace_manifest()])

    assert kube.tail(cluster, env.namespace, "nothing-here", environment_id=env.id) == []


def test_follow_streams_new_lines_from_every_pod(cluster, env, images, sim):
    pods = {p["metadata"]["name"] for p in _running_service(cluster, env, images, replicas=2)}
    seen: set[str] = set()

    stream = kube.follow(cluster, env.namespace, "web", environment_id=env.id, tail_lines=0, timeout=DEADLINE)
    for pod, _line in stream:
        # kubesim's containers print a heartbeat line periodically; real ones log requests.
        seen.add(pod)
        if seen == pods:
            break
    stream.close()

    assert seen == pods


def test_follow_picks_up_pods_that_start_later(cluster, env, images, sim):
    first = {p["metadata"]["name"] for p in _running_service(cluster, env, images, replicas=1)}
    stream = kube.follow(cluster, env.namespace, "web", environment_id=env.id, tail_lines=1, timeout=DEADLINE)
    assert next(stream).pod in first

    kube.apply(cluster, [m.deployment(env, image=images.web, replicas=2)])
    new_pods: set[str] = set()
    for pod, _line in stream:
        if pod not in first:
            new_pods.add(pod)
            break
    stream.close()

    assert len(new_pods) == 1


def test_follow_ends_when_stop_is_set(cluster, env, images):
    _running_service(cluster, env, images, replicas=1)
    stop = threading.Event()
    received = []

    for item in kube.follow(
        cluster, env.namespace, "web", environment_id=env.id, tail_lines=2, stop=stop, timeout=DEADLINE
    ):
        received.append(item)
        stop.set()

    assert len(received) >= 1
