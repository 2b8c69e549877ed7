"""Builders for planner tests: normalized services and chain layers without YAML."""

from __future__ import annotations

from typing import Any

from environments.planner import Layer


def port(number: int, *, name: str | None = None, container: int | None = None, protocol: str = "TCP") -> dict:
    """A normalized port, defaulted the way :mod:`blueprints.normalize` does."""
    return {
        "containerPort": container if container is not None else number,
        "port": number,
        "name": name or f"{protocol.lower()}-{number}",
        "protocol": protocol,
    }


def service(name: str, **fields: Any) -> dict[str, Any]:
    """A normalized service: every key present, defaults as the normalizer fills them."""
    out: dict[str, Any] = {
        "name": name,
        "image": f"example/{name}:1",
        "replicas": 1,
        "expose": False,
        "ports": [port(8080)],
        "env": {},
        "resources": {"requests": {}, "limits": {}},
        "dependsOn": [],
        "command": None,
        "args": None,
        "secrets": [],
        "volumes": [],
        "init": None,
        "probes": {"readiness": None, "liveness": None},
        "mock": None,
        "propagateHeader": False,
        "removed": False,
    }
    out.update(fields)
    out["dependsOn"] = sorted(set(out["dependsOn"]))
    return out


def partial(name: str, **fields: Any) -> dict[str, Any]:
    """An overlay service as normalized from a partial declaration: no ports, no env, no deps."""
    return service(name, **{"ports": [], **fields})


def removed(name: str) -> dict[str, Any]:
    """A normalized ``removed: true`` overlay entry."""
    return {"name": name, "removed": True}


def spec(name: str, services: list[dict[str, Any]], *, mode: str = "baseline", key: str | None = None) -> dict:
    """A normalized blueprint around ``services`` (sorted by name, as the normalizer does)."""
    overlay = mode == "overlay"
    return {
        "name": name,
        "description": None,
        "routing": {
            "mode": mode,
            "baselineId": None,
            "overlayId": (key or name) if overlay else None,
            "headerName": "x-msx-env",
            "propagateHeader": False,
        },
        "autoShutdownEnabled": True,
        "autoShutdownDelayMinutes": 30,
        "ttl": None,
        "snapshot": None,
        "plans": {},
        "plan": None,
        "services": sorted(services, key=lambda s: s["name"]),
    }


def baseline(*services: dict[str, Any], env_id: str = "env_base", **layer: Any) -> Layer:
    """A ready baseline layer running ``services``."""
    return Layer(env_id, "base", "baseline", spec("base", list(services)), **layer)


def overlay(env_id: str, *services: dict[str, Any], key: str | None = None, **layer: Any) -> Layer:
    """A ready overlay layer named and keyed after its id unless told otherwise."""
    return Layer(
        env_id,
        env_id,
        "overlay",
        spec(env_id, list(services), mode="overlay", key=key),
        routing_key=key or env_id,
        **layer,
    )


def by_name(plan: Any) -> dict[str, Any]:
    """A plan's service plans by name."""
    return {service.name: service for service in plan.services}


def codes(service_plan: Any) -> list[str]:
    """The reason codes of one service plan, in order."""
    return [reason["code"] for reason in service_plan.reasons]


def conflict_codes(plan: Any) -> list[str]:
    """The conflict codes of a plan, in order."""
    return [conflict.code for conflict in plan.conflicts]
