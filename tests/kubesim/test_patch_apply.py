"""The four patch types and server-side apply (create, update, ownership, conflicts, force)."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ConflictError

from microstax.kubesim import KubeSim

from .helpers import as_dict, deployment

APPLY = "application/apply-patch+yaml"


def _body(exc: ApiException) -> dict:
    return json.loads(exc.body)


def _containers(obj: dict) -> dict[str, dict]:
    return {c["name"]: c for c in obj["spec"]["template"]["spec"]["containers"]}


def test_json_patch(apps: client.AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web"))
    out = apps.patch_namespaced_deployment(
        "web",
        namespace,
        [
            {"op": "replace", "path": "/spec/replicas", "value": 2},
            {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
            {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "web"},
        ],
    )
    assert out.spec.replicas == 2 and out.metadata.labels["tier"] == "front"
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("web", namespace, [{"op": "test", "path": "/spec/replicas", "value": 9}])
    assert exc.value.status == 422


def test_merge_patch_replaces_lists(apps: client.AppsV1Api, namespace: str) -> None:
    dep = deployment("web")
    dep["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "envoy:1.30"})
    apps.create_namespaced_deployment(namespace, dep)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}}
    out = apps.patch_namespaced_deployment("web", namespace, patch, _content_type="application/merge-patch+json")
    assert [c.name for c in out.spec.template.spec.containers] == ["web"]


def test_strategic_merge_patch_merges_containers_env_and_ports_by_key(
    apps: client.AppsV1Api, namespace: str, kubesim: KubeSim
) -> None:
    dep = deployment("web")
    dep["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    dep["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "envoy:1.30"})
    apps.create_namespaced_deployment(namespace, dep)
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.28",
                            "env": [{"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 9090}],
                        },
                    ]
                }
            }
        }
    }
    out = as_dict(apps.patch_namespaced_deployment("web", namespace, patch))
    containers = {c["name"]: c for c in out["spec"]["template"]["spec"]["containers"]}
    assert set(containers) == {"web", "sidecar"}
    assert containers["web"]["image"] == "nginx:1.28"
    assert [e["name"] for e in containers["web"]["env"]] == ["A", "B"]
    assert sorted(p["container_port"] for p in containers["web"]["ports"]) == [8080, 9090]
    # rest.py rewrites the typed API's default content type for dict bodies to strategic merge.
    assert kubesim.recorder.filter(verb="patch")[-1].content_type.startswith("application/strategic-merge-patch+json")
    delete = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}
    out = as_dict(apps.patch_namespaced_deployment("web", namespace, delete))
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["web"]


def test_apply_creates_then_updates(
    apps: client.AppsV1Api, namespace: str, api_client: client.ApiClient, kubesim: KubeSim
) -> None:
    body = deployment("web")
    out, code, _ = apps.patch_namespaced_deployment_with_http_info(
        "web", namespace, body, field_manager="microstax", force=True, _content_type=APPLY
    )
    assert code == 201
    managed = {(m.manager, m.operation) for m in out.metadata.managed_fields}
    assert ("microstax", "Apply") in managed
    kubesim.wait_idle()  # let the controllers finish writing status and the revision annotation
    rv = apps.read_namespaced_deployment("web", namespace).metadata.resource_version
    # Re-applying the same configuration is accepted and writes nothing.
    again, code, _ = apps.patch_namespaced_deployment_with_http_info(
        "web", namespace, body, field_manager="microstax", force=True, _content_type=APPLY
    )
    assert code == 200 and again.metadata.resource_version == rv
    body["spec"]["replicas"] = 3
    updated = apps.patch_namespaced_deployment("web", namespace, body, field_manager="microstax", _content_type=APPLY)
    assert updated.spec.replicas == 3 and updated.metadata.generation == 2
    req = kubesim.recorder.filter(verb="patch", resource="deployments")[-1]
    assert req.field_manager == "microstax" and req.is_apply


def test_apply_requires_field_manager(apps: client.AppsV1Api, namespace: str) -> None:
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("web", namespace, deployment("web"), _content_type=APPLY)
    body = _body(exc.value)
    assert exc.value.status == 422
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value: is required for apply patch",
            "field": "fieldManager",
        }
    ]


def test_force_on_a_non_apply_patch_is_forbidden(apps: client.AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web"))
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 2}}, force=True)
    assert exc.value.status == 422 and "may not be specified for non-apply patch" in _body(exc.value)["message"]


def test_apply_conflicts_with_another_manager_unless_forced(apps: client.AppsV1Api, namespace: str) -> None:
    apps.patch_namespaced_deployment(
        "web", namespace, deployment("web", replicas=2), field_manager="microstax", _content_type=APPLY
    )
    # kubectl scale (an Update by another manager) takes ownership of spec.replicas.
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 5}}, field_manager="kubectl-scale")
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment(
            "web", namespace, deployment("web", replicas=2), field_manager="microstax", _content_type=APPLY
        )
    body = _body(exc.value)
    assert exc.value.status == 409 and body["reason"] == "Conflict"
    assert body["message"].startswith('Apply failed with 1 conflict: conflict with "kubectl-scale"')
    assert body["details"]["causes"][0]["field"] == ".spec.replicas"
    assert body["details"]["causes"][0]["type"] == "FieldManagerConflict"
    forced = apps.patch_namespaced_deployment(
        "web", namespace, deployment("web", replicas=2), field_manager="microstax", force=True, _content_type=APPLY
    )
    assert forced.spec.replicas == 2
    owners = {m.manager: m.fields_v1 for m in forced.metadata.managed_fields}
    assert "f:replicas" in owners["microstax"]["f:spec"]
    assert "kubectl-scale" not in owners or "f:replicas" not in owners["kubectl-scale"].get("f:spec", {})


def test_same_value_is_shared_not_conflicting(core: client.CoreV1Api, namespace: str) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    core.patch_namespaced_config_map("c", namespace, cm, field_manager="one", _content_type=APPLY)
    out = core.patch_namespaced_config_map("c", namespace, cm, field_manager="two", _content_type=APPLY)
    managers = {m.manager for m in out.metadata.managed_fields}
    assert managers == {"one", "two"}


def test_apply_removes_fields_the_manager_stopped_sending(core: client.CoreV1Api, namespace: str) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "labels": {"x": "1"}},
        "data": {"a": "1", "b": "2"},
    }
    core.patch_namespaced_config_map("c", namespace, cm, field_manager="m", _content_type=APPLY)
    core.patch_namespaced_config_map("c", namespace, {"data": {"other": "kept"}}, field_manager="someone-else")
    cm["data"] = {"a": "1"}
    del cm["metadata"]["labels"]
    out = core.patch_namespaced_config_map("c", namespace, cm, field_manager="m", _content_type=APPLY)
    assert out.data == {"a": "1", "other": "kept"}
    assert not out.metadata.labels


def test_apply_body_must_match_the_url(core: client.CoreV1Api, namespace: str) -> None:
    cm = {"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map("c", namespace, cm, field_manager="m", _content_type=APPLY)
    assert exc.value.status == 400 and "does not match the expected API version" in _body(exc.value)["message"]


def test_dynamic_server_side_apply(dyn, namespace: str, kubesim: KubeSim) -> None:  # noqa: ANN001
    res = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    manifest = deployment("api", replicas=1)
    manifest["metadata"]["namespace"] = namespace
    first = res.server_side_apply(body=manifest, namespace=namespace, field_manager="envctl", force_conflicts=True)
    assert first.metadata.name == "api"
    rec = kubesim.recorder.filter(verb="patch", resource="deployments")[-1]
    assert rec.content_type == APPLY and rec.field_manager == "envctl" and rec.force
    other = deployment("api", replicas=4)
    other["metadata"]["namespace"] = namespace
    with pytest.raises(ConflictError):
        res.server_side_apply(body=other, namespace=namespace, field_manager="intruder")


def test_status_subresource_ignores_spec_and_main_resource_ignores_status(
    apps: client.AppsV1Api, namespace: str, kubesim: KubeSim
) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=0))
    kubesim.wait_idle()
    cur = apps.read_namespaced_deployment("web", namespace)
    out = apps.patch_namespaced_deployment("web", namespace, {"status": {"replicas": 42}})
    assert out.status.replicas == cur.status.replicas
    out = apps.patch_namespaced_deployment_status(
        "web", namespace, {"spec": {"replicas": 9}, "status": {"collisionCount": 1}}
    )
    assert out.spec.replicas == 0 and out.status.collision_count == 1
