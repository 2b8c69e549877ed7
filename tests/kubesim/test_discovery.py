"""Discovery as the official client, the DynamicClient and kubectl read it."""

from __future__ import annotations

import json
import urllib.request

from kubernetes import client

from microstax.kubesim import KubeSim


def _get(sim: KubeSim, path: str) -> dict:
    with urllib.request.urlopen(sim.url + path) as resp:  # noqa: S310 - loopback test server
        assert resp.headers["Content-Type"] == "application/json"
        return json.load(resp)


def test_version_advertises_a_kubernetes_release(kubesim: KubeSim, api_client: client.ApiClient) -> None:
    info = client.VersionApi(api_client).get_code()
    assert (info.major, info.minor) == ("1", "33")
    assert info.git_version.startswith("v1.33.")


def test_core_and_group_discovery_documents(kubesim: KubeSim) -> None:
    assert _get(kubesim, "/api")["versions"] == ["v1"]
    groups = {g["name"]: g for g in _get(kubesim, "/apis")["groups"]}
    assert {"apps", "batch", "networking.k8s.io", "gateway.networking.k8s.io"} <= set(groups)
    for g in groups.values():
        # The DynamicClient compares preferredVersion with == against an entry of versions.
        assert g["preferredVersion"] in g["versions"]
    apps = {r["name"]: r for r in _get(kubesim, "/apis/apps/v1")["resources"]}
    assert apps["deployments"]["shortNames"] == ["deploy"]
    assert apps["deployments/scale"]["kind"] == "Scale" and apps["deployments/scale"]["group"] == "autoscaling"
    core = {r["name"]: r for r in _get(kubesim, "/api/v1")["resources"]}
    assert core["namespaces"]["namespaced"] is False
    assert core["pods/log"]["verbs"] == ["get"]
    assert "finalize" not in core["namespaces"]["verbs"] and "namespaces/finalize" in core


def test_unknown_paths_answer_a_not_found_status(core: client.CoreV1Api, api_client: client.ApiClient) -> None:
    try:
        api_client.call_api("GET", api_client.configuration.host + "/apis/nope.example.com/v1/things")
    except client.ApiException as exc:  # pragma: no cover - call_api does not raise on 404 in v37
        assert exc.status == 404
    else:
        resp = api_client.call_api("GET", api_client.configuration.host + "/apis/nope.example.com/v1/things")
        resp.read()
        assert resp.status == 404


def test_dynamic_client_finds_every_served_kind(dyn) -> None:  # noqa: ANN001
    for api_version, kind in [
        ("v1", "Namespace"),
        ("v1", "Secret"),
        ("v1", "ConfigMap"),
        ("v1", "Service"),
        ("v1", "PersistentVolumeClaim"),
        ("v1", "ResourceQuota"),
        ("v1", "LimitRange"),
        ("v1", "ServiceAccount"),
        ("v1", "Pod"),
        ("v1", "Event"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "ReplicaSet"),
        ("batch/v1", "Job"),
        ("networking.k8s.io/v1", "Ingress"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ]:
        res = dyn.resources.get(api_version=api_version, kind=kind)
        assert res.kind == kind
    assert dyn.version["kubernetes"]["minor"] == "33"
    pods = dyn.resources.get(api_version="v1", kind="Pod")
    assert {"log", "status"} <= set(pods.subresources)
