"""Namespace lifecycle: Terminating, content deletion, finalization, 403 on create, stuck finalizers."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from microstax.kubesim import KubeSim

from .helpers import deployment, pvc, wait_for, wait_until


def test_delete_namespace_terminates_then_disappears(
    core: client.CoreV1Api, apps: client.AppsV1Api, kubesim: KubeSim
) -> None:
    core.create_namespace({"metadata": {"name": "env-x"}})
    apps.create_namespaced_deployment("env-x", deployment("web"))
    core.create_namespaced_persistent_volume_claim("env-x", pvc("data"))
    wait_for(core.list_namespaced_pod, lambda p: (p.get("status") or {}).get("phase") == "Running", namespace="env-x")
    rv = core.read_namespace("env-x").metadata.resource_version
    deleted = core.delete_namespace("env-x")  # the Namespace itself, now Terminating
    assert deleted["kind"] == "Namespace" and deleted["status"]["phase"] == "Terminating"
    assert deleted["metadata"]["deletionTimestamp"]
    types = []
    w = watch.Watch()
    for ev in w.stream(
        core.list_namespace, field_selector="metadata.name=env-x", resource_version=rv, timeout_seconds=15
    ):
        types.append(ev["type"])
        if ev["type"] == "DELETED":
            w.stop()
    assert types[0] == "MODIFIED" and types[-1] == "DELETED"
    with pytest.raises(ApiException) as exc:
        core.read_namespace("env-x")
    assert exc.value.status == 404
    assert kubesim.list("pods", "env-x") == [] and kubesim.list("persistentvolumeclaims", "env-x") == []


def test_create_in_terminating_namespace_is_forbidden(core: client.CoreV1Api, kubesim: KubeSim) -> None:
    core.create_namespace({"metadata": {"name": "env-stuck"}})
    kubesim.faults.stick_namespace("env-stuck")
    core.delete_namespace("env-stuck")
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("env-stuck", {"metadata": {"name": "late"}})
    body = json.loads(exc.value.body)
    assert exc.value.status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (
        'configmaps "late" is forbidden: unable to create new content in namespace env-stuck '
        "because it is being terminated"
    )
    assert body["details"]["causes"] == [
        {
            "reason": "NamespaceTerminating",
            "message": "namespace env-stuck is being terminated",
            "field": "metadata.namespace",
        }
    ]
    # Re-creating the namespace while it is being deleted is a 409 saying so.
    with pytest.raises(ApiException) as exc:
        core.create_namespace({"metadata": {"name": "env-stuck"}})
    assert json.loads(exc.value.body)["message"] == 'object is being deleted: namespaces "env-stuck" already exists'


def test_stuck_finalizer_keeps_namespace_terminating(core: client.CoreV1Api, kubesim: KubeSim) -> None:
    core.create_namespace({"metadata": {"name": "env-s"}})
    core.create_namespaced_config_map("env-s", {"metadata": {"name": "c"}})
    kubesim.faults.stick_namespace("env-s")
    core.delete_namespace("env-s")

    def content_removed() -> bool:
        conds = {c.type: c for c in core.read_namespace("env-s").status.conditions or []}
        return "NamespaceContentRemaining" in conds and conds["NamespaceContentRemaining"].status == "False"

    wait_until(content_removed, core.list_namespace, field_selector="metadata.name=env-s")
    ns = core.read_namespace("env-s")
    assert ns.status.phase == "Terminating" and ns.spec.finalizers == ["kubernetes"]
    assert {c.type for c in ns.status.conditions} >= {
        "NamespaceDeletionDiscoveryFailure",
        "NamespaceFinalizersRemaining",
    }
    # Finalizing by hand while the controller is stuck, as an operator would with the finalize subresource.
    ns.spec.finalizers = []
    out = core.replace_namespace_finalize("env-s", ns)
    assert out.metadata.name == "env-s"
    with pytest.raises(ApiException) as exc:
        core.read_namespace("env-s")
    assert exc.value.status == 404


def test_an_unstuck_namespace_finishes_terminating_without_another_event(kubesim, core):
    from kubernetes import watch

    core.create_namespace({"metadata": {"name": "stuck-then-free"}})
    kubesim.faults.stick_namespace("stuck-then-free")
    core.delete_namespace("stuck-then-free")
    assert kubesim.get("namespaces", "", "stuck-then-free") is not None
    kubesim.faults.unstick_namespace("stuck-then-free")
    gone = False
    for event in watch.Watch().stream(
        core.list_namespace, field_selector="metadata.name=stuck-then-free", timeout_seconds=10
    ):
        if event["type"] == "DELETED":
            gone = True
            break
    assert gone or kubesim.get("namespaces", "", "stuck-then-free") is None
