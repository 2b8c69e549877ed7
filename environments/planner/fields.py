"""Comparing two normalized versions of one service: which fields differ, and its port contract."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Dotted names of the fields that differ, sorted (``image``, ``env.DATABASE_URL``, ``probes.readiness``).

    Maps are compared key by key (a key present on one side only counts as a difference), lists
    and scalars as a whole, the same way :func:`blueprints.normalize.diff_normalized` names
    fields. ``name`` is the identity, never a change.
    """
    out: list[str] = []
    _diff(out, "", before, after, top=True)
    return sorted(out)


def _diff(out: list[str], prefix: str, before: Any, after: Any, *, top: bool = False) -> None:
    if before == after:
        return
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in set(before) | set(after):
            if top and key == "name":
                continue
            if key not in before or key not in after:
                out.append(f"{prefix}{key}")
            else:
                _diff(out, f"{prefix}{key}.", before[key], after[key])
        return
    out.append(prefix[:-1])


def _port_key(port: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": port.get("name"), "port": port.get("port"), "protocol": port.get("protocol", "TCP")}


def port_contract_change(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """How the ports callers rely on moved between two versions of a service.

    A caller reaches a service through its Service ports, by number (``http://svc:8080``) or by
    name (named-port discovery: SRV records, ``SVC_SERVICE_PORT_<NAME>`` variables), so the
    contract is each port's ``(name, port, protocol)``; ``containerPort`` is private to the
    service and new ports break nobody. For each upstream port:

    * kept — a port with the same name, number and protocol is still there;
    * ``changed`` — still reachable under one identity: the same name with another number, or
      the same number and protocol under another name (``now`` gives the new port);
    * ``removed`` — neither its name nor its number is left.

    Returns ``{"changed": [...], "removed": [...]}``, both empty when the contract held.
    """
    after_ports = [_port_key(port) for port in after.get("ports") or []]
    by_name = {port["name"]: port for port in after_ports}
    by_number = {(port["port"], port["protocol"]): port for port in after_ports}
    changed: list[dict[str, Any]] = []
    removed: list[dict[str, Any]] = []
    for port in before.get("ports") or []:
        key = _port_key(port)
        if key in after_ports:
            continue
        now = by_name.get(key["name"]) or by_number.get((key["port"], key["protocol"]))
        if now is None:
            removed.append(key)
        else:
            changed.append({**key, "now": now})
    return {"changed": changed, "removed": removed}
