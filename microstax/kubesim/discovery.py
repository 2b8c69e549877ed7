"""Discovery documents: ``/version``, ``/api``, ``/apis``, ``/api/v1``, ``/apis/{g}[/{v}]``.

Legacy (unaggregated) discovery only: kubectl ≥ 1.26 asks for the aggregated form first and
falls back to these when the response's Content-Type is plain ``application/json``, as here.
"""

from __future__ import annotations

from typing import Any

from .config import SimConfig
from .resources import RESOURCE_TYPES, SUBRESOURCE_KINDS, group_versions

_BUILD_DATE = "2025-08-14T00:00:00Z"


def version(config: SimConfig) -> dict[str, Any]:
    return {
        "major": config.major,
        "minor": config.minor,
        "emulationMajor": config.major,
        "emulationMinor": config.minor,
        "minCompatibilityMajor": config.major,
        "minCompatibilityMinor": str(max(int(config.minor) - 1, 0)),
        "gitVersion": config.git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": _BUILD_DATE,
        "goVersion": "go1.24.5",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def core_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    # The DynamicClient compares preferredVersion to an entry with ==, so it must be identical.
    return {"name": name, "versions": entries, "preferredVersion": dict(entries[0])}


def group_list() -> dict[str, Any]:
    groups = [_group(g, vs) for g, vs in group_versions().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def group(name: str) -> dict[str, Any] | None:
    vs = group_versions().get(name)
    if not name or not vs:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, vs)}


def resource_list(group_name: str, version_name: str) -> dict[str, Any] | None:
    resources: list[dict[str, Any]] = []
    for rt in RESOURCE_TYPES:
        if rt.group != group_name or rt.version != version_name:
            continue
        entry: dict[str, Any] = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        entry["storageVersionHash"] = rt.key.encode().hex()[:12]
        resources.append(entry)
        for sub in rt.subresources:
            sub_entry: dict[str, Any] = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced}
            if sub in SUBRESOURCE_KINDS and sub != "log":
                g, v, k = SUBRESOURCE_KINDS[sub]
                sub_entry.update(group=g, version=v, kind=k)
            else:
                sub_entry["kind"] = rt.kind
            sub_entry["verbs"] = (
                ["get"] if sub == "log" else (["update"] if sub == "finalize" else ["get", "patch", "update"])
            )
            resources.append(sub_entry)
    if not resources:
        return None
    gv = f"{group_name}/{version_name}" if group_name else version_name
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
