"""Isolated clients per cluster, discovery, version and health."""

from __future__ import annotations

import dataclasses

import pytest
from kubernetes.client import Configuration

from microstax import kube


def test_clients_never_touch_the_process_global_configuration(cluster):
    before = Configuration.get_default_copy().host

    kube.server_version(cluster)

    assert Configuration.get_default_copy().host == before
    assert kube.get_client(cluster).host != before


def test_one_cached_client_per_cluster_and_credentials(cluster):
    assert kube.get_client(cluster) is kube.get_client(cluster)
    rotated = dataclasses.replace(cluster, token="rotated")
    assert kube.get_client(rotated) is not kube.get_client(cluster)
    kube.forget_client(rotated)


def test_server_version_and_health(cluster):
    version = kube.server_version(cluster)
    health = kube.health(cluster)

    assert version.major == "1" and version.minor_version.startswith("1.")
    assert health.ok and health.version == version.git_version and health.latency_ms > 0


def test_a_cluster_can_be_reached_by_url_and_token(backend, sim):
    by_url = kube.ClusterConfig(name="by-url", api_url=sim.url, token=sim.config.token)

    assert kube.health(by_url).ok
    kube.forget_client(by_url)


def test_discovery_is_asked_once_per_cluster(cluster, sim):
    client = kube.KubeClient(cluster)
    client.resource("apps/v1", "Deployment")
    discovery_calls = len(sim.recorder.requests)

    info = client.resource("apps/v1", "Deployment")
    client.resource("apps/v1", "Deployment")

    assert len(sim.recorder.requests) == discovery_calls
    assert info.path("ns", "web") == "/apis/apps/v1/namespaces/ns/deployments/web"
    client.close()


def test_an_unserved_kind_is_an_unknown_kind_error(cluster):
    client = kube.get_client(cluster)

    with pytest.raises(kube.UnknownKind) as caught:
        client.resource("example.com/v1", "Widget")

    assert not caught.value.retryable


def test_a_broken_kubeconfig_is_a_terminal_error():
    config = kube.ClusterConfig(name="broken", kubeconfig="clusters: [")

    with pytest.raises(kube.Terminal, match="broken"):
        kube.get_client(config)


def test_health_never_raises_even_for_an_unusable_config():
    probe = kube.health(kube.ClusterConfig(name="nothing"))

    assert not probe.ok and "nothing" in probe.error
