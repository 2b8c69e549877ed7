"""The canonical normalized form of a blueprint, its identity hash, and a readable diff.

**Compare only normalized specs, never raw files.** Two blueprints that differ only in style —
list or map of services, port strings or objects, key order, defaults written out or left out,
``0.5`` or ``500m`` CPU, ``1024Mi`` or ``1Gi``, ``72h`` or ``3d`` — normalize to the same dict and
therefore the same hash.

The normalized form (all keys always present, camelCase like the blueprint):

* top level: ``name``, ``description`` (or null), ``routing`` {``mode`` (isolated when unset,
  overlay when a base is given at creation), ``baselineId``, ``overlayId`` (defaults to the name
  for overlays; both null outside overlays), ``headerName`` (lower-cased), ``propagateHeader``},
  ``autoShutdownEnabled``, ``autoShutdownDelayMinutes``, ``ttl`` (canonical ``72h``/``1h30m``
  style, or null), ``snapshot`` (or null), ``plans``, ``plan`` (the applied plan, or null) and
  ``services``;
* ``services`` is a list sorted by name; a service has ``name``, ``image``, ``replicas`` (1),
  ``expose`` (false), ``ports`` (in written order, each ``{containerPort, port, name, protocol}``
  with ``port`` defaulting to ``containerPort``, ``name`` to ``<protocol>-<port>`` and
  ``protocol`` to ``TCP``), ``env`` (a map sorted by name, values as strings), ``resources``
  (``{requests, limits}``, each a possibly empty ``{cpu, memory}`` map in canonical quantities;
  the ``{cpu, memory}`` shorthand fills both), ``dependsOn`` (sorted, unique), ``command`` and
  ``args`` (lists or null), ``secrets`` (sorted by name), ``volumes`` (sorted by name; ``type``
  pvc and ``size`` 1Gi for claims by default), ``init``, ``probes`` ({``readiness``,
  ``liveness``}, timings filled with Kubernetes' defaults), ``mock`` (null unless enabled),
  ``propagateHeader`` (the service's own setting or the routing default) and ``removed``;
* a removed overlay service is just ``{name, removed: true}``.

When a plan is applied its ``replicas`` replace the service's and its ``resources`` replace the
service's resources as a whole.

The identity hash is the SHA-256 hex digest of the canonical JSON (sorted keys, no whitespace,
UTF-8, no NaN) of that dict.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from blueprints.quantities import canonical_cpu, canonical_memory, format_duration, parse_duration
from blueprints.spec import (
    DEFAULT_HEADER_NAME,
    BlueprintSpec,
    PlanSpec,
    PortSpec,
    ProbeSpec,
    ResourceSpec,
    ServiceSpec,
    SnapshotSpec,
)

DEFAULT_VOLUME_SIZE = "1Gi"
PROBE_DEFAULTS = {"initialDelaySeconds": 0, "periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3}


class UnknownPlanError(ValueError):
    """The requested plan is not defined by the blueprint."""


def canonical_json(data: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, non-ASCII kept, NaN refused."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def spec_hash(normalized: dict[str, Any]) -> str:
    """The identity of a normalized blueprint: SHA-256 of its canonical JSON."""
    return hashlib.sha256(canonical_json(normalized).encode("utf-8")).hexdigest()


def effective_mode(spec: BlueprintSpec, *, base_given: bool = False) -> str:
    """The routing mode: as written, else ``overlay`` when a base is given at creation, else isolated."""
    if spec.routing is not None and spec.routing.mode is not None:
        return spec.routing.mode
    return "overlay" if base_given else "isolated"


def normalize_spec(spec: BlueprintSpec, *, plan: str | None = None, base_given: bool = False) -> dict[str, Any]:
    """The canonical form of a validated blueprint (see the module docstring)."""
    routing = _routing(spec, base_given=base_given)
    services = sorted(
        (_service(service, routing["propagateHeader"]) for service in spec.services), key=lambda s: s["name"]
    )
    plans = {name: _plan(body) for name, body in sorted(spec.plans.items())}
    if plan is not None:
        if plan not in plans:
            raise UnknownPlanError(plan)
        services = _apply_plan(services, plans[plan])
    return {
        "name": spec.name,
        "description": spec.description,
        "routing": routing,
        "autoShutdownEnabled": spec.auto_shutdown_enabled,
        "autoShutdownDelayMinutes": int(spec.auto_shutdown_delay_minutes),
        "ttl": format_duration(parse_duration(spec.ttl)) if spec.ttl is not None else None,
        "snapshot": _snapshot(spec.snapshot) if spec.snapshot is not None else None,
        "plans": plans,
        "plan": plan,
        "services": services,
    }


def _routing(spec: BlueprintSpec, *, base_given: bool) -> dict[str, Any]:
    mode = effective_mode(spec, base_given=base_given)
    routing = spec.routing
    overlay = mode == "overlay"
    return {
        "mode": mode,
        "baselineId": routing.baseline_id if overlay and routing is not None else None,
        "overlayId": ((routing.overlay_id if routing is not None else None) or spec.name) if overlay else None,
        "headerName": (routing.header_name if routing is not None else DEFAULT_HEADER_NAME).lower(),
        "propagateHeader": routing.propagate_header if routing is not None else False,
    }


def normalize_port(port: PortSpec) -> dict[str, Any]:
    service_port = int(port.port if port.port is not None else port.container_port)
    return {
        "containerPort": int(port.container_port),
        "port": service_port,
        "name": port.name or f"{port.protocol.lower()}-{service_port}",
        "protocol": port.protocol,
    }


def normalize_resources(resources: ResourceSpec | None) -> dict[str, dict[str, str]]:
    """``{requests, limits}`` in canonical quantities; the shorthand fills both."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if resources is None:
        return {"requests": requests, "limits": limits}
    for target, amounts in ((requests, resources.requests), (limits, resources.limits)):
        if amounts is not None:
            if amounts.cpu is not None:
                target["cpu"] = canonical_cpu(amounts.cpu)
            if amounts.memory is not None:
                target["memory"] = canonical_memory(amounts.memory)
    for target in (requests, limits):
        if resources.cpu is not None:
            target.setdefault("cpu", canonical_cpu(resources.cpu))
        if resources.memory is not None:
            target.setdefault("memory", canonical_memory(resources.memory))
    return {"requests": requests, "limits": limits}


def _probe(probe: ProbeSpec | None) -> dict[str, Any] | None:
    if probe is None:
        return None
    out: dict[str, Any] = {}
    if probe.http_get is not None:
        out["httpGet"] = {"path": probe.http_get.path, "port": probe.http_get.port, "scheme": probe.http_get.scheme}
    if probe.tcp_socket is not None:
        out["tcpSocket"] = {"port": probe.tcp_socket.port}
    if probe.exec_ is not None:
        out["exec"] = {"command": list(probe.exec_.command)}
    timings = {
        "initialDelaySeconds": probe.initial_delay_seconds,
        "periodSeconds": probe.period_seconds,
        "timeoutSeconds": probe.timeout_seconds,
        "failureThreshold": probe.failure_threshold,
    }
    for key, value in timings.items():
        out[key] = int(value) if value is not None else PROBE_DEFAULTS[key]
    return out


def _service(service: ServiceSpec, propagate_default: bool) -> dict[str, Any]:
    if service.removed:
        return {"name": service.name, "removed": True}
    mock = service.mock
    return {
        "name": service.name,
        "image": service.image,
        "replicas": int(service.replicas),
        "expose": service.expose,
        "ports": [normalize_port(port) for port in service.ports],
        "env": dict(sorted(service.env.items())),
        "resources": normalize_resources(service.resources),
        "dependsOn": sorted(set(service.depends_on)),
        "command": list(service.command) if service.command is not None else None,
        "args": list(service.args) if service.args is not None else None,
        "secrets": sorted(
            ({"name": s.name, "envKey": s.env_key, "value": s.value} for s in service.secrets),
            key=lambda s: s["name"],
        ),
        "volumes": sorted(
            (
                {
                    "name": v.name,
                    "mountPath": v.mount_path,
                    "type": v.type,
                    "size": canonical_memory(v.size)
                    if v.size is not None
                    else (DEFAULT_VOLUME_SIZE if v.type == "pvc" else None),
                }
                for v in service.volumes
            ),
            key=lambda v: v["name"],
        ),
        "init": (
            {"type": service.init.type, "script": service.init.script, "inline": service.init.inline}
            if service.init is not None
            else None
        ),
        "probes": {
            "readiness": _probe(service.probes.readiness if service.probes else None),
            "liveness": _probe(service.probes.liveness if service.probes else None),
        },
        "mock": (
            {"enabled": True, "mode": mock.mode, "openapi": mock.openapi} if mock is not None and mock.enabled else None
        ),
        "propagateHeader": service.propagate_header if service.propagate_header is not None else propagate_default,
        "removed": False,
    }


def _plan(plan: PlanSpec) -> dict[str, Any]:
    return {
        "description": plan.description,
        "services": {
            name: {
                "replicas": int(override.replicas) if override.replicas is not None else None,
                "resources": normalize_resources(override.resources) if override.resources is not None else None,
            }
            for name, override in sorted(plan.services.items())
        },
    }


def _apply_plan(services: list[dict[str, Any]], plan: dict[str, Any]) -> list[dict[str, Any]]:
    overrides = plan["services"]
    out = []
    for service in services:
        override = overrides.get(service["name"])
        if override is None or service.get("removed"):
            out.append(service)
            continue
        service = dict(service)
        if override["replicas"] is not None:
            service["replicas"] = override["replicas"]
        if override["resources"] is not None:
            service["resources"] = override["resources"]
        out.append(service)
    return out


def _snapshot(snapshot: SnapshotSpec) -> dict[str, Any]:
    tables = snapshot.tables
    rules = [
        {"table": rule.table, "column": rule.column, "strategy": rule.strategy, **(rule.model_extra or {})}
        for rule in snapshot.rules
    ]
    return {
        "service": snapshot.service,
        "id": snapshot.id,
        "fromEnvironment": snapshot.from_environment,
        "engine": snapshot.engine,
        "sourceSecret": snapshot.source_secret,
        "tables": {
            "include": sorted(set(tables.include)) if tables else [],
            "exclude": sorted(set(tables.exclude)) if tables else [],
        },
        "policy": snapshot.policy,
        "rules": sorted(rules, key=lambda r: (r["table"], r["column"])),
        "storage": snapshot.storage,
    }


# --- diff ---------------------------------------------------------------------------------------
def diff_normalized(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """What changed from normalized blueprint ``a`` to ``b``, by service and field.

    Each entry is ``{service, field, change, before, after}`` with ``change`` one of ``added``,
    ``removed`` or ``changed``. Top-level fields have ``service`` None; a whole service added or
    removed has ``field`` None. Nested maps are compared key by key with dotted field names
    (``env.DATABASE_URL``, ``routing.mode``, ``plans.production.services.db.replicas``); lists
    are compared as a whole. Entries are ordered: top-level first, then services by name.
    """
    changes: list[dict[str, Any]] = []
    for key in sorted(set(a) | set(b)):
        if key == "services":
            continue
        _diff_value(changes, None, key, a.get(key), b.get(key), key in a, key in b)
    services_a = {s["name"]: s for s in a.get("services") or [] if isinstance(s, dict) and "name" in s}
    services_b = {s["name"]: s for s in b.get("services") or [] if isinstance(s, dict) and "name" in s}
    for name in sorted(set(services_a) | set(services_b)):
        before, after = services_a.get(name), services_b.get(name)
        if before is None or after is None:
            change = "added" if before is None else "removed"
            changes.append({"service": name, "field": None, "change": change, "before": before, "after": after})
            continue
        for key in sorted(set(before) | set(after)):
            if key == "name":
                continue
            _diff_value(changes, name, key, before.get(key), after.get(key), key in before, key in after)
    return changes


def _diff_value(
    changes: list[dict[str, Any]],
    service: str | None,
    field: str,
    before: Any,
    after: Any,
    had: bool,
    has: bool,
) -> None:
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            _diff_value(
                changes, service, f"{field}.{key}", before.get(key), after.get(key), key in before, key in after
            )
        return
    if (not had or before is None) and has and after is not None:
        change = "added"
    elif had and before is not None and (not has or after is None):
        change = "removed"
    else:
        change = "changed"
    changes.append({"service": service, "field": field, "change": change, "before": before, "after": after})
