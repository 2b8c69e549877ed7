"""Owner references and pod helpers shared by the workload controllers (and the volume binder)."""

from __future__ import annotations

from typing import Any

from ..resources import ResourceType
from ..store import WatchEvent
from ..util import Obj, clone
from .base import Key


def controller_ref(obj: Obj) -> dict[str, Any] | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def owner_ref(rt: ResourceType, owner: Obj) -> dict[str, Any]:
    return {
        "apiVersion": rt.api_version,
        "kind": rt.kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned(store: Any, rt: ResourceType, owner: Obj) -> list[Obj]:
    uid = owner["metadata"]["uid"]
    return [
        o for o in store.list(rt, owner["metadata"].get("namespace")) if (controller_ref(o) or {}).get("uid") == uid
    ]


def pod_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def pod_active(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") and not pod["metadata"].get(
        "deletionTimestamp"
    )


def pod_from_template(template: Obj, namespace: str, generate_name: str, owner: dict[str, Any]) -> Obj:
    tmpl = clone(template)
    md = tmpl.get("metadata") or {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": generate_name,
            "namespace": namespace,
            "labels": md.get("labels") or {},
            **({"annotations": md["annotations"]} if md.get("annotations") else {}),
            "ownerReferences": [owner],
        },
        "spec": tmpl.get("spec") or {},
    }


def owner_keys(event: WatchEvent, kind: str) -> list[Key]:
    ref = controller_ref(event.obj)
    if ref and ref.get("kind") == kind:
        return [(event.obj["metadata"].get("namespace", ""), ref["name"])]
    return []
