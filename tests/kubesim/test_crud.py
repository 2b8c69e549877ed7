"""CRUD, server-filled fields, defaults, errors, selectors, paging and cascading deletes."""

from __future__ import annotations

import base64

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from microstax.kubesim import KubeSim

from .helpers import as_dict, deployment, job, service, wait_for, wait_until


def _status(exc: ApiException) -> dict:
    import json

    return json.loads(exc.body)


def test_create_fills_server_fields(apps: client.AppsV1Api, namespace: str) -> None:
    created = apps.create_namespaced_deployment(namespace, deployment("web")).to_dict()
    md = created["metadata"]
    assert len(md["uid"]) == 36 and md["resource_version"].isdigit()
    assert md["generation"] == 1 and md["creation_timestamp"] is not None
    assert md["managed_fields"][0]["operation"] == "Update"
    assert "f:spec" in md["managed_fields"][0]["fields_v1"]
    spec = created["spec"]
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rolling_update"] == {"max_surge": "25%", "max_unavailable": "25%"}
    assert spec["revision_history_limit"] == 10 and spec["progress_deadline_seconds"] == 600
    pod_spec = spec["template"]["spec"]
    assert pod_spec["restart_policy"] == "Always" and pod_spec["dns_policy"] == "ClusterFirst"
    assert pod_spec["termination_grace_period_seconds"] == 30
    assert pod_spec["containers"][0]["image_pull_policy"] == "IfNotPresent"
    assert pod_spec["containers"][0]["ports"][0]["protocol"] == "TCP"


def test_generation_bumps_only_on_spec_changes(apps: client.AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web"))
    labelled = apps.patch_namespaced_deployment("web", namespace, {"metadata": {"labels": {"tier": "front"}}})
    assert labelled.metadata.generation == 1
    scaled = apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 3}})
    assert scaled.metadata.generation == 2
    assert int(scaled.metadata.resource_version) > int(labelled.metadata.resource_version)


def test_secret_string_data_is_folded_and_service_gets_defaults(core: client.CoreV1Api, namespace: str) -> None:
    secret = core.create_namespaced_secret(
        namespace, {"metadata": {"name": "db"}, "stringData": {"password": "s3cret"}}
    )
    assert secret.type == "Opaque" and secret.string_data is None
    assert base64.b64decode(secret.data["password"]) == b"s3cret"
    svc = core.create_namespaced_service(namespace, service("web"))
    assert svc.spec.type == "ClusterIP" and svc.spec.session_affinity == "None"
    assert svc.spec.cluster_ip.startswith("10.43.") and svc.spec.cluster_ips == [svc.spec.cluster_ip]
    assert svc.spec.ports[0].protocol == "TCP" and svc.spec.ports[0].target_port == 8080
    other = core.create_namespaced_service(namespace, service("api"))
    assert other.spec.cluster_ip != svc.spec.cluster_ip


def test_namespace_defaults(core: client.CoreV1Api) -> None:
    ns = core.create_namespace({"metadata": {"name": "env-a"}})
    assert ns.spec.finalizers == ["kubernetes"] and ns.status.phase == "Active"
    assert ns.metadata.labels["kubernetes.io/metadata.name"] == "env-a"
    # The serviceaccount controller's default account and the root CA bundle appear with it.
    assert core.read_namespaced_service_account("default", "env-a").metadata.name == "default"
    assert "ca.crt" in core.read_namespaced_config_map("kube-root-ca.crt", "env-a").data


def test_error_statuses_match_the_apiserver(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str) -> None:
    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_deployment("nope", namespace)
    body = _status(missing.value)
    assert missing.value.status == 404
    assert body["message"] == 'deployments.apps "nope" not found'
    assert body["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}

    apps.create_namespaced_deployment(namespace, deployment("web"))
    with pytest.raises(ApiException) as dup:
        apps.create_namespaced_deployment(namespace, deployment("web"))
    assert dup.value.status == 409 and _status(dup.value)["reason"] == "AlreadyExists"

    with pytest.raises(ApiException) as no_ns:
        core.create_namespaced_config_map("env-9", {"metadata": {"name": "x"}})
    assert no_ns.value.status == 404 and _status(no_ns.value)["message"] == 'namespaces "env-9" not found'

    with pytest.raises(ApiException) as mismatch:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "x", "namespace": "other"}})
    assert mismatch.value.status == 400
    assert "does not match the namespace" in _status(mismatch.value)["message"]


def test_replace_with_stale_resource_version_conflicts(core: client.CoreV1Api, namespace: str) -> None:
    cm = core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"}, "data": {"a": "1"}})
    cm.data["a"] = "2"
    updated = core.replace_namespaced_config_map("cfg", namespace, cm)
    assert updated.data == {"a": "2"}
    cm.data["a"] = "3"  # still carries the old resourceVersion
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_config_map("cfg", namespace, cm)
    assert exc.value.status == 409
    assert "the object has been modified" in _status(exc.value)["message"]


def test_label_and_field_selectors(core: client.CoreV1Api, namespace: str) -> None:
    for name, tier, team in [("a", "web", "x"), ("b", "db", "x"), ("c", "web", "y"), ("d", "cache", "")]:
        labels = {"tier": tier} | ({"team": team} if team else {})
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": labels}})

    def names(**kw: str) -> list[str]:
        return [i.metadata.name for i in core.list_namespaced_config_map(namespace, **kw).items]

    assert names(label_selector="tier=web") == ["a", "c"]
    assert names(label_selector="tier==web,team!=y") == ["a"]
    assert names(label_selector="tier in (db, cache)") == ["b", "d"]
    assert names(label_selector="tier notin (web),team") == ["b"]
    assert names(label_selector="tier,!team") == ["d"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert "kube-root-ca.crt" in names(field_selector="metadata.name!=a")
    with pytest.raises(ApiException) as exc:
        names(field_selector="spec.bogus=1")
    assert exc.value.status == 400 and "field label not supported" in _status(exc.value)["message"]


def test_list_paging_with_limit_and_continue(core: client.CoreV1Api, namespace: str) -> None:
    for i in range(7):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"cm-{i}", "labels": {"page": "y"}}})
    seen, token, pages = [], None, 0
    while True:
        page = core.list_namespaced_config_map(namespace, label_selector="page=y", limit=3, _continue=token)
        pages += 1
        seen += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            assert page.metadata.remaining_item_count is None
            break
        assert page.metadata.remaining_item_count == 7 - len(seen)
    assert pages == 3 and seen == [f"cm-{i}" for i in range(7)]


def test_list_items_carry_no_kind(kubesim: KubeSim, api_client: client.ApiClient, namespace: str) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{kubesim.url}/api/v1/namespaces/{namespace}/configmaps") as resp:  # noqa: S310
        body = json.load(resp)
    assert body["kind"] == "ConfigMapList" and body["apiVersion"] == "v1"
    assert body["items"] and all("kind" not in i for i in body["items"])


def test_delete_returns_status_and_background_cascade(
    apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    wait_for(core.list_namespaced_pod, lambda p: (p.get("status") or {}).get("phase") == "Running", namespace=namespace)
    status = apps.delete_namespaced_deployment("web", namespace)  # typed as ``object`` in v37: a dict
    assert status["kind"] == "Status" and status["status"] == "Success" and status["details"]["name"] == "web"
    # The garbage collector removes the ReplicaSet and then its pods.
    wait_until(
        lambda: not core.list_namespaced_pod(namespace).items and not apps.list_namespaced_replica_set(namespace).items,
        core.list_namespaced_pod,
        namespace=namespace,
    )


def test_orphan_propagation_keeps_dependents(apps: client.AppsV1Api, namespace: str, kubesim: KubeSim) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web"))
    wait_for(apps.list_namespaced_replica_set, lambda r: True, namespace=namespace)
    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Orphan")
    assert kubesim.wait_idle()
    rs = apps.list_namespaced_replica_set(namespace).items
    assert len(rs) == 1 and rs[0].metadata.owner_references is None


def test_foreground_delete_returns_object_until_dependents_are_gone(
    apps: client.AppsV1Api, namespace: str, kubesim: KubeSim
) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web"))
    wait_for(apps.list_namespaced_replica_set, lambda r: True, namespace=namespace)
    rv = apps.list_namespaced_deployment(namespace).metadata.resource_version
    pending = apps.delete_namespaced_deployment("web", namespace, propagation_policy="Foreground")
    # A pending delete answers with the object itself, finalizer and deletionTimestamp set.
    assert pending["kind"] == "Deployment" and pending["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in pending["metadata"]["finalizers"]
    from kubernetes import watch

    w = watch.Watch()
    types = []
    for ev in w.stream(apps.list_namespaced_deployment, namespace=namespace, resource_version=rv, timeout_seconds=10):
        types.append(ev["type"])
        if ev["type"] == "DELETED":
            w.stop()
    assert types[-1] == "DELETED"
    assert apps.list_namespaced_replica_set(namespace).items == []


def test_job_delete_defaults_to_orphan_with_a_warning(
    batch: client.BatchV1Api, core: client.CoreV1Api, namespace: str, kubesim: KubeSim
) -> None:
    batch.create_namespaced_job(namespace, job("seed"))
    wait_for(batch.list_namespaced_job, lambda j: (j.get("status") or {}).get("succeeded") == 1, namespace=namespace)
    _, code, headers = batch.delete_namespaced_job_with_http_info("seed", namespace)
    assert code == 200 and "child pods are preserved by default" in headers["Warning"]
    assert kubesim.wait_idle()
    assert len(core.list_namespaced_pod(namespace).items) == 1


def test_delete_collection_by_label(core: client.CoreV1Api, namespace: str) -> None:
    for i in range(3):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"c{i}", "labels": {"gc": "yes"}}})
    core.delete_collection_namespaced_config_map(namespace, label_selector="gc=yes")
    assert core.list_namespaced_config_map(namespace, label_selector="gc=yes").items == []
    assert core.read_namespaced_config_map("kube-root-ca.crt", namespace)


def test_dynamic_client_crud(dyn, namespace: str) -> None:  # noqa: ANN001
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    created = cms.create(
        body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dyn"}, "data": {"k": "v"}},
        namespace=namespace,
    )
    assert created.metadata.name == "dyn"
    got = cms.get(name="dyn", namespace=namespace)
    assert got.data.k == "v"
    patched = cms.patch(name="dyn", namespace=namespace, body={"data": {"k": "w"}})
    assert patched.data.k == "w"
    cms.delete(name="dyn", namespace=namespace)
    from kubernetes.dynamic.exceptions import NotFoundError

    with pytest.raises(NotFoundError):
        cms.get(name="dyn", namespace=namespace)


def test_dry_run_create_persists_nothing(core: client.CoreV1Api, namespace: str, kubesim: KubeSim) -> None:
    out = core.create_namespaced_config_map(namespace, {"metadata": {"name": "dry"}}, dry_run="All")
    assert out.metadata.uid
    assert kubesim.get("configmaps", namespace, "dry") is None
    assert kubesim.recorder.filter(verb="create", resource="configmaps")[-1].dry_run


def test_scale_subresource(apps: client.AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web"))
    scale = apps.read_namespaced_deployment_scale("web", namespace)
    assert scale.spec.replicas == 1 and scale.status.selector == "app=web"
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 3}})
    assert as_dict(apps.read_namespaced_deployment("web", namespace))["spec"]["replicas"] == 3
