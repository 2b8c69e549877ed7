"""What an overlay saves compared with a full clone of its effective spec."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from blueprints.quantities import cpu_millicores, memory_bytes

MIB = 1024 * 1024

# A stack repeats a handful of quantity spellings across hundreds of services; parsing each
# once keeps the saving off the planner's profile.
_cpu_millicores = lru_cache(maxsize=512)(cpu_millicores)
_memory_bytes = lru_cache(maxsize=512)(memory_bytes)


def footprint(services: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``{services, pods, cpu_millicores, memory_mib}`` requested by these services.

    Pods are replicas; CPU and memory are replicas × the request, where a missing request falls
    back to the limit, as Kubernetes defaults it. Quantities in a normalized spec are canonical,
    so an unreadable one only happens with corrupt data; it counts as zero rather than making
    the whole plan fail.
    """
    count = pods = cpu = memory = 0
    for service in services:
        replicas = max(int(service.get("replicas") or 0), 0)
        resources = service.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        count += 1
        pods += replicas
        cpu += replicas * _amount(requests.get("cpu") or limits.get("cpu"), _cpu_millicores)
        memory += replicas * _amount(requests.get("memory") or limits.get("memory"), _memory_bytes)
    return {"services": count, "pods": pods, "cpu_millicores": cpu, "memory_mib": round(memory / MIB, 2)}


def _amount(text: Any, parse: Callable[[str], int]) -> int:
    if not isinstance(text, str):
        return 0
    try:
        return int(parse(text))
    except ValueError:
        return 0


def saving(effective: Iterable[Mapping[str, Any]], local: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Full clone versus overlay: both footprints, what is saved, and the pod saving ratio.

    ``ratio`` is the share of a full clone's pods the overlay does not run (0.0 to 1.0, 0.0
    for an empty stack); pods are the unit every service has, whereas requests are often left
    unset in development blueprints.
    """
    full, overlay = footprint(effective), footprint(local)
    saved = {key: full[key] - overlay[key] for key in full}
    saved["memory_mib"] = round(saved["memory_mib"], 2)
    ratio = round(saved["pods"] / full["pods"], 4) if full["pods"] else 0.0
    return {"full_clone": full, "overlay": overlay, "saved": saved, "ratio": ratio}
