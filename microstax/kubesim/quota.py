"""ResourceQuota usage and LimitRange defaults, shared by admission and the quota controller."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .quantity import format_quantity, parse_quantity, uses_binary_suffix
from .resources import RESOURCE_TYPES, ResourceType
from .util import Obj

if TYPE_CHECKING:
    from .store import Store

COMPUTE = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "cpu", "memory")
_OBJECT_COUNTS = {
    "pods": "/pods",
    "services": "/services",
    "secrets": "/secrets",
    "configmaps": "/configmaps",
    "persistentvolumeclaims": "/persistentvolumeclaims",
    "resourcequotas": "/resourcequotas",
}


def _q(v: Any) -> Decimal:
    try:
        return parse_quantity(v)
    except ValueError:
        return Decimal(0)


def pod_is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def pod_compute(pod: Obj) -> dict[str, Decimal]:
    """Requests and limits of a pod: the sum over containers, or the largest init container."""
    spec = pod.get("spec") or {}
    totals: dict[str, Decimal] = {}
    for c in spec.get("containers") or []:
        res = (c or {}).get("resources") or {}
        for part in ("requests", "limits"):
            for r, v in (res.get(part) or {}).items():
                totals[f"{part}.{r}"] = totals.get(f"{part}.{r}", Decimal(0)) + _q(v)
    for c in spec.get("initContainers") or []:
        res = (c or {}).get("resources") or {}
        for part in ("requests", "limits"):
            for r, v in (res.get(part) or {}).items():
                key = f"{part}.{r}"
                totals[key] = max(totals.get(key, Decimal(0)), _q(v))
    for r in ("cpu", "memory"):
        if f"requests.{r}" in totals:
            totals[r] = totals[f"requests.{r}"]
    return totals


def object_usage(rt: ResourceType, obj: Obj) -> dict[str, Decimal]:
    """What one object contributes to quota resources."""
    out: dict[str, Decimal] = {}
    count_key = f"count/{rt.plural}" + (f".{rt.group}" if rt.group else "")
    out[count_key] = Decimal(1)
    for short, key in _OBJECT_COUNTS.items():
        if key == rt.key:
            out[short] = Decimal(1)
    if rt.key == "/pods":
        if pod_is_terminal(obj):
            return {}
        out.update(pod_compute(obj))
    elif rt.key == "/services":
        stype = (obj.get("spec") or {}).get("type")
        if stype == "LoadBalancer":
            out["services.loadbalancers"] = Decimal(1)
        if stype in ("NodePort", "LoadBalancer"):
            out["services.nodeports"] = Decimal(len((obj.get("spec") or {}).get("ports") or []))
    elif rt.key == "/persistentvolumeclaims":
        storage = (((obj.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
        if storage is not None:
            out["requests.storage"] = _q(storage)
    return out


def _counted_types(resource: str) -> set[str] | None:
    """The resource-type keys that can add to quota ``resource`` (None: unknown, so all of them)."""
    if resource in COMPUTE or resource == "pods":
        return {"/pods"}
    if resource.startswith("services."):
        return {"/services"}
    if resource == "requests.storage":
        return {"/persistentvolumeclaims"}
    if resource in _OBJECT_COUNTS:
        return {_OBJECT_COUNTS[resource]}
    if resource.startswith("count/"):
        plural, _, group = resource.removeprefix("count/").partition(".")
        return {rt.key for rt in RESOURCE_TYPES if rt.plural == plural and rt.group == group}
    return None


def counts_towards(rt: ResourceType, hard: Iterable[str]) -> bool:
    """Whether objects of type ``rt`` can change the usage of any resource of ``hard``."""
    for resource in hard:
        counted = _counted_types(resource)
        if counted is None or rt.key in counted:
            return True
    return False


def quota_items(store: Store, namespace: str, hard: Iterable[str]) -> list[tuple[ResourceType, Obj]]:
    """The objects of ``namespace`` that can count against ``hard``: only the types those resources
    count (pods for compute, claims for storage…), not every object and Event of the namespace, so
    checking a quota does not slow down as the namespace fills with other kinds."""
    keys: set[str] = set()
    for resource in hard:
        counted = _counted_types(resource)
        if counted is None:
            return list(store.in_namespace(namespace))
        keys |= counted
    return [(rt, obj) for rt in RESOURCE_TYPES if rt.key in keys for obj in store.list(rt, namespace)]


def namespace_usage(items: Iterable[tuple[ResourceType, Obj]], hard: Iterable[str]) -> dict[str, Decimal]:
    wanted = set(hard)
    used = {k: Decimal(0) for k in wanted}
    for rt, obj in items:
        if (obj.get("metadata") or {}).get("deletionTimestamp") and rt.key == "/pods":
            continue
        for k, v in object_usage(rt, obj).items():
            if k in wanted:
                used[k] += v
    return used


def format_usage(used: dict[str, Decimal], hard: dict[str, Any]) -> dict[str, str]:
    return {k: format_quantity(v, binary=uses_binary_suffix(hard.get(k))) for k, v in used.items()}


def quota_violation(
    quota: Obj, rt: ResourceType, obj: Obj, used: dict[str, Decimal], container_names: list[str]
) -> str | None:
    """The admission error text when ``obj`` would exceed ``quota``, else ``None``."""
    hard: dict[str, Any] = (quota.get("spec") or {}).get("hard") or {}
    name = (quota.get("metadata") or {}).get("name", "")
    delta = object_usage(rt, obj)
    if rt.key == "/pods" and delta:
        missing = []
        for r in ("limits.cpu", "limits.memory", "requests.cpu", "requests.memory"):
            cover = r in hard or (r.startswith("requests.") and r.split(".", 1)[1] in hard)
            if cover and r not in delta:
                missing.append(f"{r} for: {','.join(container_names)}")
        if missing:
            return f"failed quota: {name}: must specify {'; '.join(missing)}"
    over = []
    for r, limit in hard.items():
        add = delta.get(r)
        if add is None or add == 0:
            continue
        if used.get(r, Decimal(0)) + add > _q(limit):
            over.append(r)
    if not over:
        return None
    binary = {r: uses_binary_suffix(hard[r]) for r in over}
    requested = ",".join(f"{r}={format_quantity(delta[r], binary=binary[r])}" for r in sorted(over))
    used_s = ",".join(f"{r}={format_quantity(used.get(r, Decimal(0)), binary=binary[r])}" for r in sorted(over))
    limited = ",".join(f"{r}={hard[r]}" for r in sorted(over))
    return f"exceeded quota: {name}, requested: {requested}, used: {used_s}, limited: {limited}"


def apply_limit_ranges(pod: Obj, limit_ranges: list[Obj]) -> str | None:
    """LimitRanger admission: default container resources, then enforce min/max.

    Returns a Forbidden message when a container breaks a min/max, else ``None``; adds the
    ``kubernetes.io/limit-ranger`` annotation when it filled something in.
    """
    notes: list[str] = []
    if limit_ranges:
        # API defaulting runs before LimitRanger: a container that sets a limit but no request gets
        # a request equal to its limit (not the LimitRange's defaultRequest).
        for c in (pod.get("spec") or {}).get("containers") or []:
            res = c.get("resources") or {}
            for r, v in (res.get("limits") or {}).items():
                if r not in (res.get("requests") or {}):
                    c.setdefault("resources", {}).setdefault("requests", {})[r] = v
    for lr in limit_ranges:
        for item in (lr.get("spec") or {}).get("limits") or []:
            if (item or {}).get("type") != "Container":
                continue
            for c in (pod.get("spec") or {}).get("containers") or []:
                res = c.setdefault("resources", {})
                filled_req, filled_lim = [], []
                for r, v in (item.get("default") or {}).items():
                    if r not in (res.get("limits") or {}):
                        res.setdefault("limits", {})[r] = v
                        filled_lim.append(r)
                for r, v in (item.get("defaultRequest") or {}).items():
                    if r not in (res.get("requests") or {}):
                        res.setdefault("requests", {})[r] = v
                        filled_req.append(r)
                if filled_req:
                    notes.append(f"{', '.join(filled_req)} request for container {c.get('name')}")
                if filled_lim:
                    notes.append(f"{', '.join(filled_lim)} limit for container {c.get('name')}")
                for r, v in (item.get("max") or {}).items():
                    lim = (res.get("limits") or {}).get(r)
                    if lim is not None and _q(lim) > _q(v):
                        return f"maximum {r} usage per Container is {v}, but limit is {lim}"
                for r, v in (item.get("min") or {}).items():
                    req = (res.get("requests") or {}).get(r)
                    if req is not None and _q(req) < _q(v):
                        return f"minimum {r} usage per Container is {v}, but request is {req}"
    if notes:
        ann = pod.setdefault("metadata", {}).setdefault("annotations", {})
        ann["kubernetes.io/limit-ranger"] = "LimitRanger plugin set: " + "; ".join(notes)
    return None
