"""Retries under injected faults: transient errors succeed within bounds, terminal ones do not retry."""

from __future__ import annotations

import dataclasses

import pytest

from microstax import kube

from . import manifests as m


class RecordingSleep:
    """Stands in for ``time.sleep``: remembers the delays instead of waiting them out."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def client(cluster, sleeps) -> kube.KubeClient:
    """A client of the same cluster whose retries record their delays (max 2 s, 5 attempts)."""
    policy = kube.RetryPolicy(attempts=5, base_delay=0.1, max_delay=2.0, sleep=sleeps)
    client = kube.KubeClient(dataclasses.replace(cluster, retry=policy))
    yield client
    client.close()


def test_throttled_writes_succeed_after_honouring_retry_after(client, env, sim, sleeps):
    sim.faults.add(status=429, verb="patch", resource="configmaps", times=2, retry_after=1)

    report = kube.apply(client, [env.namespace_manifest(), m.configmap(env)])

    assert report.writes == 2
    assert [r.status for r in sim.recorder.filter(verb="patch", resource="configmaps")] == [429, 429, 201]
    assert sleeps.delays == [1.0, 1.0]  # Retry-After is a floor, and under the 2 s ceiling


def test_server_errors_are_retried_with_bounded_backoff(client, env, sim, sleeps):
    sim.faults.add(status=500, verb="patch", resource="secrets", times=3)

    kube.apply(client, [env.namespace_manifest(), m.secret(env)])

    assert len(sim.recorder.filter(verb="patch", resource="secrets")) == 4
    assert len(sleeps.delays) == 3 and all(0 < d <= 2.0 for d in sleeps.delays)


def test_retries_give_up_after_the_attempt_budget(client, env, sim, sleeps):
    sim.faults.add(status=503, verb="patch", resource="configmaps")

    with pytest.raises(kube.ServerError) as caught:
        kube.apply(client, [env.namespace_manifest(), m.configmap(env)])

    assert caught.value.retryable and caught.value.status == 503
    assert len(sim.recorder.filter(verb="patch", resource="configmaps")) == 5
    assert len(sleeps.delays) == 4


def test_a_long_retry_after_is_capped_at_the_ceiling(client, env, sim, sleeps):
    sim.faults.add(status=429, verb="list", resource="configmaps", times=1, retry_after=120)
    kube.apply(client, [env.namespace_manifest()])

    kube.apply(client, [m.configmap(env)])

    assert sleeps.delays == [2.0]


@pytest.mark.parametrize(("status", "error"), [(403, kube.Forbidden), (404, kube.NotFound), (400, kube.BadRequest)])
def test_terminal_client_errors_are_not_retried(client, env, sim, sleeps, status, error):
    kube.apply(client, [env.namespace_manifest()])
    sim.faults.add(status=status, verb="patch", resource="configmaps")

    with pytest.raises(error) as caught:
        kube.apply(client, [m.configmap(env)])

    assert not caught.value.retryable
    assert len(sim.recorder.filter(verb="patch", resource="configmaps")) == 1
    assert sleeps.delays == []


def test_optimistic_concurrency_conflicts_are_retryable(client, env, sim, sleeps):
    sim.faults.add(status=409, verb="patch", resource="configmaps", times=1)

    report = kube.apply(client, [env.namespace_manifest(), m.configmap(env)])

    assert report.writes == 2 and len(sleeps.delays) == 1


def test_a_refused_connection_is_a_retryable_connection_error(sleeps):
    policy = kube.RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.01, sleep=sleeps)
    # Port 9 (discard) on loopback: nothing listens there in a test environment.
    dead = kube.ClusterConfig(name="dead", api_url="http://127.0.0.1:9", retry=policy, connect_timeout=1.0)
    client = kube.KubeClient(dead)

    with pytest.raises(kube.ConnectionFailed):
        kube.server_version(client)

    assert len(sleeps.delays) == 1
    assert not kube.health(client).ok
    client.close()


def test_watches_survive_injected_server_errors(cluster, env, images, sim):
    applied = kube.apply(cluster, [env.namespace_manifest(), m.deployment(env, image=images.web, replicas=2)])
    sim.faults.add(status=500, verb="watch", times=2)

    report = kube.wait_ready(cluster, applied.objects, 30.0)

    assert report.ready
