"""Fixtures for the kubesim suite: a fresh emulator per test and official-client handles on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client, dynamic

from microstax.kubesim import KubeSim


@pytest.fixture
def kubesim() -> Iterator[KubeSim]:
    """A KubeSim on 127.0.0.1 and a free port, zero controller delays; stopped after the test."""
    sim = KubeSim()
    sim.start(host="127.0.0.1", port=0)
    try:
        yield sim
    finally:
        sim.stop()
    assert not sim.errors, f"kubesim raised internally: {sim.errors!r}"


@pytest.fixture
def api_client(kubesim: KubeSim) -> Iterator[client.ApiClient]:
    """An ``ApiClient`` built from a per-test ``Configuration`` (never the process-global one)."""
    cfg = client.Configuration()
    cfg.host = kubesim.url
    cfg.api_key = {"authorization": kubesim.config.token}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    with client.ApiClient(cfg) as api:
        yield api


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture
def batch(api_client: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(api_client)


@pytest.fixture
def networking(api_client: client.ApiClient) -> client.NetworkingV1Api:
    return client.NetworkingV1Api(api_client)


@pytest.fixture
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def dyn(api_client: client.ApiClient, tmp_path) -> dynamic.DynamicClient:  # noqa: ANN001
    # A per-test discovery cache file: the default one is keyed by host and would go stale.
    return dynamic.DynamicClient(api_client, cache_file=str(tmp_path / "discovery.json"))


@pytest.fixture
def namespace(core: client.CoreV1Api) -> str:
    core.create_namespace({"metadata": {"name": "env-test"}})
    return "env-test"
