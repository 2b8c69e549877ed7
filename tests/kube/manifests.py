"""Manifest builders for the kube contract suite (plain dicts, like the renderer produces)."""

from __future__ import annotations

from typing import Any

from microstax.kube import labels as L

Manifest = dict[str, Any]


def _meta(env: Any, name: str, service: str | None = None) -> dict[str, Any]:
    return env.meta(name, service=service)


def configmap(env: Any, name: str = "settings", data: dict[str, str] | None = None) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(env, name),
        "data": data or {"LOG_LEVEL": "info"},
    }


def secret(env: Any, name: str = "credentials") -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(env, name),
        "type": "Opaque",
        "stringData": {"PASSWORD": "s3cret"},
    }


def pvc(env: Any, name: str = "data", storage_class: str | None = None) -> Manifest:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta(env, name), "spec": spec}


def deployment(
    env: Any,
    name: str = "web",
    *,
    image: str = "nginx:1.27",
    replicas: int = 1,
    command: tuple[str, ...] | None = None,
    env_vars: dict[str, str] | None = None,
    resources: dict[str, Any] | None = None,
    progress_deadline: int | None = None,
) -> Manifest:
    container: dict[str, Any] = {"name": name, "image": image, "ports": [{"containerPort": 80}]}
    if command:
        container["command"] = list(command)
    if env_vars:
        container["env"] = [{"name": k, "value": v} for k, v in env_vars.items()]
    if resources:
        container["resources"] = resources
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {L.SERVICE: name, L.ENVIRONMENT: env.id}},
        "template": {
            "metadata": {"labels": {**env.labels, L.SERVICE: name}},
            "spec": {"containers": [container]},
        },
    }
    if progress_deadline is not None:
        spec["progressDeadlineSeconds"] = progress_deadline
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(env, name, name), "spec": spec}


def service(env: Any, name: str = "web") -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(env, name, name),
        "spec": {"selector": {L.SERVICE: name, L.ENVIRONMENT: env.id}, "ports": [{"port": 80, "targetPort": 80}]},
    }


def job(
    env: Any, name: str = "seed", *, image: str = "busybox:1.36", command: tuple[str, ...] = ("true",), backoff: int = 0
) -> Manifest:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(env, name, name),
        "spec": {
            "backoffLimit": backoff,
            "template": {
                "metadata": {"labels": {**env.labels, L.SERVICE: name}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": name, "image": image, "command": list(command)}],
                },
            },
        },
    }


def quota(env: Any, name: str = "quota", hard: dict[str, str] | None = None) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _meta(env, name),
        "spec": {"hard": hard or {"pods": "1"}},
    }


def small_namespace(env: Any, images: Any) -> list[Manifest]:
    """The scenario of the brief: namespace, configmap, secret, deployment, service, pvc, job."""
    return [
        env.namespace_manifest(),
        configmap(env),
        secret(env),
        pvc(env),
        deployment(env, image=images.web),
        service(env),
        job(env, image=images.task),
    ]
