"""Server-side printing: ``Accept: application/json;as=Table;g=meta.k8s.io;v=v1`` as kubectl asks."""

from __future__ import annotations

import time
from typing import Any

from .resources import ResourceType
from .util import Obj, parse_rfc3339

Column = tuple[str, str, int]  # name, type, priority


def wants_table(accept: str) -> bool:
    first = accept.split(",")[0]
    return "as=Table" in first and "g=meta.k8s.io" in first


def _age(obj: Obj) -> str:
    ts = obj["metadata"].get("creationTimestamp")
    if not ts:
        return "<unknown>"
    secs = int(max(0, time.time() - parse_rfc3339(ts)))
    if secs < 120:
        return f"{secs}s"
    if secs < 3600 * 3:
        return f"{secs // 60}m"
    if secs < 86400 * 2:
        return f"{secs // 3600}h"
    return f"{secs // 86400}d"


def _pod(o: Obj) -> list[Any]:
    st = o.get("status") or {}
    cs = st.get("containerStatuses") or []
    total = len((o.get("spec") or {}).get("containers") or [])
    ready = sum(1 for c in cs if c.get("ready"))
    reason = st.get("phase", "Pending")
    for c in cs:
        waiting = (c.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
    if o["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    restarts = sum(int(c.get("restartCount") or 0) for c in cs)
    return [
        f"{ready}/{total}",
        reason,
        restarts,
        st.get("podIP", "<none>"),
        (o.get("spec") or {}).get("nodeName", "<none>"),
    ]


def _deployment(o: Obj) -> list[Any]:
    st, spec = o.get("status") or {}, o.get("spec") or {}
    return [
        f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        st.get("updatedReplicas", 0),
        st.get("availableReplicas", 0),
    ]


def _replicaset(o: Obj) -> list[Any]:
    st, spec = o.get("status") or {}, o.get("spec") or {}
    return [spec.get("replicas", 0), st.get("replicas", 0), st.get("readyReplicas", 0)]


def _job(o: Obj) -> list[Any]:
    st, spec = o.get("status") or {}, o.get("spec") or {}
    conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    status = "Complete" if conds.get("Complete") == "True" else "Failed" if conds.get("Failed") == "True" else "Running"
    return [status, f"{st.get('succeeded', 0)}/{spec.get('completions', 1)}"]


def _service(o: Obj) -> list[Any]:
    spec = o.get("spec") or {}
    lb = ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    external = ",".join(i.get("ip") or i.get("hostname", "") for i in lb) or "<none>"
    ports = (
        ",".join(
            f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/{p.get('protocol', 'TCP')}"
            for p in spec.get("ports") or []
        )
        or "<none>"
    )
    return [spec.get("type", "ClusterIP"), spec.get("clusterIP", "<none>"), external, ports]


def _namespace(o: Obj) -> list[Any]:
    return [(o.get("status") or {}).get("phase", "Active")]


def _pvc(o: Obj) -> list[Any]:
    st, spec = o.get("status") or {}, o.get("spec") or {}
    return [
        st.get("phase", "Pending"),
        spec.get("volumeName", ""),
        (st.get("capacity") or {}).get("storage", ""),
        ",".join(spec.get("accessModes") or []),
        spec.get("storageClassName", "<unset>"),
    ]


_COLUMNS: dict[str, tuple[list[Column], Any]] = {
    "Pod": (
        [
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
        ],
        _pod,
    ),
    "Deployment": ([("Ready", "string", 0), ("Up-to-date", "string", 0), ("Available", "string", 0)], _deployment),
    "ReplicaSet": ([("Desired", "integer", 0), ("Current", "integer", 0), ("Ready", "integer", 0)], _replicaset),
    "Job": ([("Status", "string", 0), ("Completions", "string", 0)], _job),
    "Service": (
        [("Type", "string", 0), ("Cluster-IP", "string", 0), ("External-IP", "string", 0), ("Port(s)", "string", 0)],
        _service,
    ),
    "Namespace": ([("Status", "string", 0)], _namespace),
    "PersistentVolumeClaim": (
        [
            ("Status", "string", 0),
            ("Volume", "string", 0),
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("StorageClass", "string", 0),
        ],
        _pvc,
    ),
}


def to_table(rt: ResourceType, obj: Obj, is_list: bool) -> Obj:
    extra_cols, fn = _COLUMNS.get(rt.kind, ([], None))
    columns = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    columns += [{"name": n, "type": t, "format": "", "description": n, "priority": p} for n, t, p in extra_cols]
    columns.append({"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0})
    items = obj.get("items", []) if is_list else [obj]
    rows = []
    for item in items:
        cells = [item["metadata"]["name"], *(fn(item) if fn else []), _age(item)]
        rows.append(
            {
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": item["metadata"],
                },
            }
        )
    meta = {"resourceVersion": (obj.get("metadata") or {}).get("resourceVersion", "")}
    if is_list and (obj.get("metadata") or {}).get("continue"):
        meta["continue"] = obj["metadata"]["continue"]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns,
        "rows": rows,
    }
