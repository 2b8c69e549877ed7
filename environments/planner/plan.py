"""The two entry points: the effective spec of a chain, and the plan of a new overlay."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .checks import chain_conflicts, service_conflicts
from .codes import CONFLICT_ORDER, LOCAL_STATUSES, ConflictCode, ReasonCode, Status
from .model import Conflict, Layer, Plan, ServicePlan
from .resolve import Resolution, resolve_layer, resolve_root
from .saving import saving

# Enum member lookups are attribute descriptors; hoisted because the loops below run per service.
_UNCHANGED, _REMOVED, _INHERITED = Status.UNCHANGED, Status.REMOVED, ReasonCode.INHERITED.value


def effective_spec(chain: Sequence[Layer]) -> tuple[dict[str, Any], dict[str, str]]:
    """The effective normalized spec of the top of a root-first chain, and each service's provider.

    Top-level fields (name, routing, ttl, …) are the top environment's own; ``services`` holds
    every service it can reach, sorted by name, each as its nearest provider runs it. Providers
    account for promotion at every level: a service an intermediate overlay had to promote is
    provided by that overlay. An empty chain gives ``({"services": []}, {})``.
    """
    if not chain:
        return {"services": []}, {}
    resolutions = _resolve_chain(chain)
    top = resolutions[chain[-1].environment_id]
    return _spec(chain[-1].spec, top.services), dict(sorted(top.providers.items()))


def plan_overlay(chain: Sequence[Layer], overlay: Layer, *, sibling_routing_keys: Iterable[str] = ()) -> Plan:
    """The difference graph of ``overlay`` over its root-first ``chain``, its conflicts and its saving.

    ``overlay.environment_id`` is the provider recorded for local services (a placeholder is fine
    before the environment exists). ``sibling_routing_keys`` are the overlayIds of the live
    overlays sharing the same baseline. Never raises on well-formed normalized specs; problems
    come back as :class:`Conflict` entries, and a plan with conflicts must not be provisioned.
    """
    resolutions = _resolve_chain(chain)
    parent = resolutions[chain[-1].environment_id] if chain else Resolution("", {}, {})
    baseline_id = chain[0].environment_id if chain else ""
    outcome = resolve_layer(parent, overlay, views=resolutions, baseline_id=baseline_id)
    effective = outcome.resolution

    services: list[ServicePlan] = []
    for name in sorted({*effective.services, *outcome.removed}):
        status = outcome.statuses.get(name, _UNCHANGED)
        if status is _REMOVED:
            services.append(ServicePlan(name, status.value, "", outcome.reasons[name], None))
            continue
        provider = effective.providers[name]
        reasons = outcome.reasons.get(name) or [{"code": _INHERITED, "from": provider}]
        services.append(ServicePlan(name, status.value, provider, reasons, effective.services[name]))

    local = [service.name for service in services if service.status in LOCAL_STATUSES]
    inherited = {service.name: service.provider for service in services if service.status == _UNCHANGED}
    conflicts = chain_conflicts(
        chain, overlay, sibling_routing_keys=sibling_routing_keys, providers=effective.providers
    ) + service_conflicts(outcome)
    return Plan(
        services=services,
        effective_spec=_spec(overlay.spec, effective.services),
        conflicts=sorted(conflicts, key=_conflict_order),
        local=local,
        inherited=inherited,
        saving=saving(effective.services.values(), (effective.services[name] for name in local)),
    )


def _resolve_chain(chain: Sequence[Layer]) -> dict[str, Resolution]:
    """Each chain environment's resolution by id, root first (a repeated id keeps its last one)."""
    if not chain:
        return {}
    root = resolve_root(chain[0])
    views = {root.environment_id: root}
    parent = root
    for layer in chain[1:]:
        parent = resolve_layer(parent, layer, views=views, baseline_id=root.environment_id).resolution
        views[layer.environment_id] = parent
    return views


def _spec(top: Mapping[str, Any], services: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    spec = {key: value for key, value in top.items() if key != "services"}
    spec["services"] = [dict(services[name]) for name in sorted(services)]
    return spec


def _conflict_order(conflict: Conflict) -> tuple[int, list[str], str]:
    return CONFLICT_ORDER[ConflictCode(conflict.code)], conflict.services, conflict.message
