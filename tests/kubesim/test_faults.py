"""Fault injection and the request recorder."""

from __future__ import annotations

import json
import time

import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from microstax.kubesim import Fault, KubeSim

from .helpers import deployment


def test_429_on_the_nth_create_with_retry_after(kubesim: KubeSim, core: client.CoreV1Api, namespace: str) -> None:
    kubesim.faults.add(status=429, verb="create", resource="configmaps", nth=2, retry_after=3)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "b"}})
    assert exc.value.status == 429 and exc.value.headers["Retry-After"] == "3"
    body = json.loads(exc.value.body)
    assert body["reason"] == "TooManyRequests" and body["details"]["retryAfterSeconds"] == 3
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "b"}})
    assert kubesim.get("configmaps", namespace, "b") is not None


def test_500_and_409_limited_by_times(kubesim: KubeSim, apps: client.AppsV1Api, namespace: str) -> None:
    kubesim.faults.add(Fault(status=500, verb="patch", resource="deployments", times=1))
    kubesim.faults.add(Fault(status=409, verb="update", resource="deployments", times=1))
    apps.create_namespaced_deployment(namespace, deployment("web"))
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 2}})
    assert exc.value.status == 500 and json.loads(exc.value.body)["reason"] == "InternalError"
    assert apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 2}}).spec.replicas == 2
    current = apps.read_namespaced_deployment("web", namespace)
    with pytest.raises(ApiException) as exc:
        apps.replace_namespaced_deployment("web", namespace, current)
    assert exc.value.status == 409 and "the object has been modified" in json.loads(exc.value.body)["message"]


def test_rate_faults_are_seeded_and_partial(kubesim: KubeSim, core: client.CoreV1Api, namespace: str) -> None:
    fault = kubesim.faults.add(status=503, verb="get", resource="configmaps", rate=0.5)
    outcomes = []
    for _ in range(40):
        try:
            core.read_namespaced_config_map("kube-root-ca.crt", namespace)
            outcomes.append(True)
        except ApiException as exc:
            assert exc.status == 503
            outcomes.append(False)
    assert 0 < outcomes.count(False) < 40 and fault.fired == outcomes.count(False) and fault.seen == 40


def test_latency_fault(kubesim: KubeSim, core: client.CoreV1Api) -> None:
    kubesim.faults.add(latency=0.2, verb="list", resource="namespaces")
    start = time.monotonic()
    core.list_namespace()
    assert time.monotonic() - start >= 0.2


def test_abruptly_dropped_watch(kubesim: KubeSim, core: client.CoreV1Api, namespace: str) -> None:
    kubesim.faults.add(verb="watch", resource="configmaps", drop_watch_after=1, abrupt=True)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        for _ in watch.Watch().stream(core.list_namespaced_config_map, namespace=namespace, timeout_seconds=5):
            pass


def test_recorder_captures_calls(kubesim: KubeSim, apps: client.AppsV1Api, namespace: str) -> None:
    kubesim.recorder.clear()
    body = deployment("web")
    apps.patch_namespaced_deployment(
        "web", namespace, body, field_manager="microstax", force=True, _content_type="application/apply-patch+yaml"
    )
    apps.patch_namespaced_deployment(
        "web",
        namespace,
        body,
        field_manager="microstax",
        force=True,
        _content_type="application/apply-patch+yaml",
        dry_run="All",
    )
    apps.read_namespaced_deployment("web", namespace)
    reqs = kubesim.recorder.filter(resource="deployments")
    assert [(r.method, r.verb, r.status) for r in reqs] == [
        ("PATCH", "patch", 201),
        ("PATCH", "patch", 200),
        ("GET", "get", 200),
    ]
    first = reqs[0]
    assert first.path == f"/apis/apps/v1/namespaces/{namespace}/deployments/web"
    assert first.namespace == namespace and first.name == "web" and first.field_manager == "microstax"
    assert first.content_type == "application/apply-patch+yaml" and first.force and not first.dry_run
    assert reqs[1].dry_run and not reqs[1].is_write
    assert len(kubesim.recorder.writes("deployments")) == 1
    assert first.user_agent.startswith("OpenAPI-Generator/")


def test_reset_forgets_objects_faults_and_requests(kubesim: KubeSim, core: client.CoreV1Api, namespace: str) -> None:
    kubesim.faults.add(status=500, verb="delete")
    kubesim.reset()
    assert kubesim.faults.faults == [] and len(kubesim.recorder) == 0
    assert kubesim.get("namespaces", "", namespace) is None
    assert {n.metadata.name for n in core.list_namespace().items} >= {"default", "kube-system"}


def test_required_token(kubesim: KubeSim, api_client: client.ApiClient) -> None:
    kubesim.config.require_token = True
    assert client.CoreV1Api(api_client).list_namespace().items
    cfg = client.Configuration()
    cfg.host = kubesim.url
    with client.ApiClient(cfg) as anonymous:
        with pytest.raises(ApiException) as exc:
            client.CoreV1Api(anonymous).list_namespace()
    assert exc.value.status == 401
