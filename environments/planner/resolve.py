"""Resolving a chain layer by layer: each layer's services over its parent's, with promotion.

A :class:`Resolution` is the effective stack as seen from one environment: every service it can
reach and the nearest environment that runs it. :func:`resolve_root` starts from the baseline;
:func:`resolve_layer` puts one overlay on top of its parent's resolution, classifies the
services it names (added, changed, unchanged, removed) and then promotes unchanged services to
a fixed point (see :class:`.codes.PromotionRule`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .codes import PromotionRule, ReasonCode, Status
from .fields import changed_fields, port_contract_change
from .merge import merge_service
from .model import Layer

_WHY = {
    PromotionRule.NO_HEADER_PROPAGATION: "calls {target}, which runs in the overlay, and does not propagate the "
    "routing header, so its calls would always reach the upstream {target}",
    PromotionRule.PROVIDER_NOT_ROUTED: "calls {target}, which runs in the overlay, but its provider {provider} "
    "reaches {target} in {reach} where no header router steers calls",
    PromotionRule.PORT_CONTRACT: "calls {target}, whose port contract changed; only a copy in the overlay "
    "namespace sees the new ports",
}


@dataclass(frozen=True)
class Resolution:
    """Effective services seen from one environment, and the environment that runs each."""

    environment_id: str
    services: dict[str, Mapping[str, Any]]
    providers: dict[str, str]


@dataclass(frozen=True)
class LayerOutcome:
    """One overlay resolved over its parent.

    ``statuses`` and ``reasons`` cover the services the layer names or runs (added, changed,
    promoted, removed, and unchanged ones it lists); every other effective service is inherited
    as is. ``removed`` maps a removed name to the provider it came from (None when nothing
    upstream had it). ``port_changes`` holds the non-empty port contract changes of changed
    services, and ``callers`` the reverse ``dependsOn`` index of the effective services.
    """

    resolution: Resolution
    statuses: dict[str, Status]
    reasons: dict[str, list[dict[str, Any]]]
    removed: dict[str, str | None]
    port_changes: dict[str, dict[str, list[dict[str, Any]]]]
    callers: dict[str, list[str]]


def own_services(spec: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The services a spec declares, by name; entries without a string name are ignored."""
    out: dict[str, Mapping[str, Any]] = {}
    for service in spec.get("services") or ():
        if isinstance(service, Mapping) and isinstance(service.get("name"), str):
            out[service["name"]] = service
    return out


def depends_on(service: Mapping[str, Any]) -> list[str]:
    """A service's dependencies (an empty list when missing)."""
    return list(service.get("dependsOn") or ())


def resolve_root(layer: Layer) -> Resolution:
    """The baseline's own stack: it runs every service it declares (``removed`` entries are ignored)."""
    services = {name: svc for name, svc in own_services(layer.spec).items() if not svc.get("removed")}
    return Resolution(layer.environment_id, services, dict.fromkeys(services, layer.environment_id))


def resolve_layer(
    parent: Resolution, layer: Layer, *, views: Mapping[str, Resolution], baseline_id: str
) -> LayerOutcome:
    """Put ``layer`` over ``parent`` and promote to a fixed point.

    ``views`` maps each ancestor's environment id to its own resolution, so a promotion can ask
    where an inherited service's provider actually sends its calls; ``baseline_id`` is the
    chain's root, the only environment whose Services get header routers.
    """
    local_id = layer.environment_id
    services = dict(parent.services)
    providers = dict(parent.providers)
    statuses: dict[str, Status] = {}
    reasons: dict[str, list[dict[str, Any]]] = {}
    removed: dict[str, str | None] = {}
    port_changes: dict[str, dict[str, list[dict[str, Any]]]] = {}
    listed_unchanged: set[str] = set()

    # 1. Classify what the layer declares against the parent's effective versions.
    for name, own in sorted(own_services(layer.spec).items()):
        upstream = parent.services.get(name)
        upstream_provider = parent.providers.get(name)
        if own.get("removed"):
            services.pop(name, None)
            providers.pop(name, None)
            removed[name] = upstream_provider
            statuses[name] = Status.REMOVED
            reasons[name] = [{"code": ReasonCode.REMOVED_IN_OVERLAY.value, "from": upstream_provider}]
            continue
        if upstream is None:
            services[name] = own
            providers[name] = local_id
            statuses[name] = Status.ADDED
            reasons[name] = [{"code": ReasonCode.NEW_SERVICE.value}]
            continue
        merged, filled = merge_service(upstream, own)
        fields = changed_fields(upstream, merged)
        if not fields:
            # Listed without a change: keep inheriting, so the overlay pays nothing for it.
            listed_unchanged.add(name)
            statuses[name] = Status.UNCHANGED
            reasons[name] = [
                {"code": ReasonCode.INHERITED.value, "from": upstream_provider},
                {"code": ReasonCode.UNCHANGED_IN_OVERLAY.value},
            ]
            continue
        services[name] = merged
        providers[name] = local_id
        statuses[name] = Status.CHANGED
        reasons[name] = [{"code": ReasonCode.FIELDS_CHANGED.value, "fields": fields, "from": upstream_provider}]
        if filled:
            reasons[name].append(
                {"code": ReasonCode.FIELDS_INHERITED.value, "fields": filled, "from": upstream_provider}
            )
        contract = port_contract_change(upstream, merged)
        if contract["changed"] or contract["removed"]:
            port_changes[name] = contract

    # 2. Promote inherited callers of local services until nothing more is pulled in.
    callers: dict[str, list[str]] = {}
    for name in sorted(services):
        for target in depends_on(services[name]):
            callers.setdefault(target, []).append(name)

    def rule_for(caller: str, target: str) -> PromotionRule | None:
        """Why ``caller`` (inherited) must follow ``target`` (local) into the overlay, if it must."""
        if port_changes.get(target, {}).get("changed"):
            return PromotionRule.PORT_CONTRACT
        if not services[caller].get("propagateHeader"):
            return PromotionRule.NO_HEADER_PROPAGATION
        view = views.get(parent.providers.get(caller, ""))
        if view is None or view.providers.get(target) != baseline_id:
            return PromotionRule.PROVIDER_NOT_ROUTED
        return None

    local = {name for name, status in statuses.items() if status in (Status.ADDED, Status.CHANGED)}
    queue = deque(sorted(local))
    while queue:
        target = queue.popleft()
        for caller in callers.get(target, ()):
            if caller in local or rule_for(caller, target) is None:
                continue
            local.add(caller)
            statuses[caller] = Status.PROMOTED
            providers[caller] = local_id
            queue.append(caller)

    # 3. Explain promotions and contract changes now that the local set is final.
    for name, status in statuses.items():
        if status is Status.PROMOTED:
            # Recomputed after the fixed point so every local callee that pulls it in is named,
            # whatever order the queue discovered them in.
            reasons[name] = _promotion_reasons(name, services, local, rule_for, parent.providers.get(name), views)
            if name in listed_unchanged:
                reasons[name].append({"code": ReasonCode.UNCHANGED_IN_OVERLAY.value})
        elif status is Status.CHANGED and name in port_changes:
            reasons[name].append(
                {"code": ReasonCode.PORT_CONTRACT.value, **port_changes[name], "callers": callers.get(name, [])}
            )

    resolution = Resolution(local_id, services, providers)
    return LayerOutcome(resolution, statuses, reasons, removed, port_changes, callers)


def _promotion_reasons(
    name: str,
    services: Mapping[str, Mapping[str, Any]],
    local: set[str],
    rule_for: Callable[[str, str], PromotionRule | None],
    provider: str | None,
    views: Mapping[str, Resolution],
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for target in sorted(set(depends_on(services[name]))):
        rule = rule_for(name, target) if target in local else None
        if rule is None:
            continue
        view = views.get(provider or "")
        reach = view.providers.get(target) if view is not None else None
        why = _WHY[rule].format(target=target, provider=provider, reach=reach or "nowhere")
        out.append({"code": ReasonCode.PROMOTED_BY.value, "because": target, "rule": rule.value, "why": why})
    return out
