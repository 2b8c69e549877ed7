"""Manifest builders and a watch-based wait helper for the kubesim tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import watch

Manifest = dict[str, Any]


def deployment(name: str, image: str = "nginx:1.27", replicas: int = 1, **spec: Any) -> Manifest:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "microstax", **labels}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": image, "ports": [{"containerPort": 8080}]}]},
            },
            **spec,
        },
    }


def job(name: str, image: str = "busybox:1.36", **spec: Any) -> Manifest:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": image}]},
            },
            **spec,
        },
    }


def service(name: str, port: int = 80, target: int = 8080) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": port, "targetPort": target}]},
    }


def pvc(name: str, storage_class: str | None = None, size: str = "1Gi") -> Manifest:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": spec}


def as_dict(obj: Any) -> dict[str, Any]:
    return obj if isinstance(obj, dict) else obj.to_dict()


def wait_for(
    list_fn: Callable[..., Any],
    predicate: Callable[[dict[str, Any]], bool],
    *,
    timeout: int = 15,
    **kwargs: Any,
) -> dict[str, Any]:
    """Watch with the official client until an object satisfies ``predicate``; fail on timeout."""
    w = watch.Watch()
    for event in w.stream(list_fn, timeout_seconds=timeout, _request_timeout=timeout + 5, **kwargs):
        raw = event["raw_object"]
        if event["type"] != "DELETED" and predicate(raw):
            w.stop()
            return raw
    raise AssertionError(f"condition not met within {timeout}s for {list_fn.__name__} {kwargs}")


def condition(obj: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


def deployment_ready(obj: dict[str, Any]) -> bool:
    """kubectl rollout status's rule plus Available=True."""
    st, spec = obj.get("status") or {}, obj.get("spec") or {}
    want = spec.get("replicas", 1)
    avail = condition(obj, "Available") or {}
    return (
        st.get("observedGeneration", 0) >= obj["metadata"].get("generation", 1)
        and st.get("updatedReplicas", 0) == want
        and st.get("replicas", 0) == want
        and st.get("availableReplicas", 0) == want
        and avail.get("status") == "True"
    )


def wait_until(check: Callable[[], bool], list_fn: Callable[..., Any], *, timeout: int = 15, **kwargs: Any) -> None:
    """Re-evaluate ``check`` after every watch event on ``list_fn`` until it holds.

    The watch starts at the resourceVersion of a list taken *before* the first check, so a change
    between the check and the watch is replayed rather than missed.
    """
    rv = list_fn(**kwargs).metadata.resource_version
    if check():
        return
    w = watch.Watch()
    stream = w.stream(list_fn, resource_version=rv, timeout_seconds=timeout, _request_timeout=timeout + 5, **kwargs)
    for _ in stream:
        if check():
            w.stop()
            return
    assert check(), f"condition not met within {timeout}s"
