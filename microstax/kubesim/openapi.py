"""A minimal OpenAPI v3 discovery: enough for kubectl to see server-side field validation.

kubectl ≥ 1.27 checks ``/openapi/v3`` for the ``fieldValidation`` query parameter on each kind's
PATCH operation before ``apply``/``create``; when it finds it, it leaves validation to the server
(which kubesim does) instead of downloading full schemas. Each group-version document therefore
lists the object paths with their operations, GVK extension and query parameters, but no schemas.
"""

from __future__ import annotations

from typing import Any

from .config import SimConfig
from .resources import RESOURCE_TYPES, group_versions

_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "pretty")


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def root() -> dict[str, Any]:
    paths = {}
    for group, versions in group_versions().items():
        for version in versions:
            gv = _gv_path(group, version)
            paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash=kubesim"}
    return {"paths": paths}


def _param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}


def _op(action: str, gvk: dict[str, str], params: tuple[str, ...]) -> dict[str, Any]:
    return {
        "operationId": f"{action}{gvk['kind']}",
        "parameters": [_param(p) for p in params],
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    }


def group_version(config: SimConfig, path: str) -> dict[str, Any] | None:
    paths: dict[str, Any] = {}
    for rt in RESOURCE_TYPES:
        if _gv_path(rt.group, rt.version) != path:
            continue
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        base = f"/{path}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"/{path}/{rt.plural}"
        paths[base] = {
            "get": _op("list", gvk, ("labelSelector", "fieldSelector", "limit", "continue", "watch")),
            "post": _op("post", gvk, _WRITE_PARAMS),
        }
        paths[base + "/{name}"] = {
            "get": _op("get", gvk, ("pretty",)),
            "put": _op("put", gvk, _WRITE_PARAMS),
            "patch": _op("patch", gvk, (*_WRITE_PARAMS, "force")),
            "delete": _op("delete", gvk, ("dryRun", "gracePeriodSeconds", "propagationPolicy")),
        }
    if not paths:
        return None
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": config.git_version},
        "paths": paths,
        "components": {"schemas": {}},
    }
