"""Conflict checks: everything that must block an overlay before anything is provisioned."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from microstax.lib.graph import find_cycles

from .codes import ConflictCode, Status
from .model import Conflict, Layer
from .resolve import LayerOutcome, depends_on


def chain_conflicts(
    chain: Sequence[Layer],
    overlay: Layer,
    *,
    sibling_routing_keys: Iterable[str],
    providers: Mapping[str, str],
) -> list[Conflict]:
    """Problems with the chain itself: its shape, its readiness, the header and the routing key.

    ``providers`` is the overlay's service → provider map, used to say which services a
    not-ready ancestor would fail to serve. Every environment of the chain must be ready, not
    just the parent: the overlay inherits services from all of them.
    """
    conflicts = _shape_conflicts(chain, overlay)
    for position, layer in enumerate(chain):
        if layer.state != "ready":
            served = sorted(name for name, provider in providers.items() if provider == layer.environment_id)
            role = "parent" if position == len(chain) - 1 else "ancestor"
            serving = f"; it provides {_names(served)}" if served else ""
            conflicts.append(
                Conflict(
                    ConflictCode.BASE_NOT_READY.value,
                    served,
                    f"the {role} environment {layer.name} ({layer.environment_id}) is {layer.state}, not ready"
                    f"{serving}; wait until it is ready, or base the overlay on another environment",
                )
            )
    if chain and overlay.header_name.lower() != chain[0].header_name.lower():
        conflicts.append(
            Conflict(
                ConflictCode.HEADER_MISMATCH.value,
                [],
                f"the overlay routes on header {overlay.header_name!r} but the baseline {chain[0].name} routes on "
                f"{chain[0].header_name!r}; requests could never select the overlay, so use the baseline's header",
            )
        )
    conflicts += _routing_key_conflicts(chain, overlay, sibling_routing_keys)
    return conflicts


def _shape_conflicts(chain: Sequence[Layer], overlay: Layer) -> list[Conflict]:
    problems: list[str] = []
    if not chain:
        problems.append("the overlay has no base; a chain starts with a baseline")
    elif chain[0].mode != "baseline":
        problems.append(f"the root of the chain, {chain[0].name}, is {chain[0].mode}, not a baseline")
    problems += [
        f"{layer.name} sits between the baseline and the overlay but is {layer.mode}, not an overlay"
        for layer in chain[1:]
        if layer.mode != "overlay"
    ]
    if overlay.mode != "overlay":
        problems.append(f"{overlay.name} is planned as an overlay but its mode is {overlay.mode}")
    seen: set[str] = set()
    for layer in [*chain, overlay]:
        if layer.environment_id in seen:
            problems.append(f"environment {layer.environment_id} appears twice in the chain (it would be its own base)")
        seen.add(layer.environment_id)
    return [Conflict(ConflictCode.INVALID_CHAIN.value, [], problem) for problem in problems]


def _routing_key_conflicts(
    chain: Sequence[Layer], overlay: Layer, sibling_routing_keys: Iterable[str]
) -> list[Conflict]:
    key = overlay.routing_key
    if not key:
        return [
            Conflict(
                ConflictCode.OVERLAY_ID_MISSING.value,
                [],
                f"the overlay {overlay.name} has no overlayId, so no request header could ever select it",
            )
        ]
    if key in set(sibling_routing_keys):
        owner = "a live sibling overlay on the same base"
    else:
        # An ancestor's key is taken too: one header value would name two environments.
        owner = next((f"its ancestor {layer.name}" for layer in chain if layer.routing_key == key), None)
        if owner is None:
            return []
    return [
        Conflict(
            ConflictCode.OVERLAY_ID_TAKEN.value,
            [],
            f"the overlayId {key!r} is already used by {owner}; pick another key (a branch name works well)",
        )
    ]


def service_conflicts(outcome: LayerOutcome) -> list[Conflict]:
    """Missing dependencies, broken port contracts and cycles in the overlay's effective spec."""
    services = outcome.resolution.services
    conflicts: list[Conflict] = []
    for name in sorted(services):
        for dependency in sorted(set(depends_on(services[name]))):
            if dependency in services:
                continue
            if dependency in outcome.removed:
                why = "which this overlay removes"
            else:
                why = "which no environment of the chain provides"
            conflicts.append(
                Conflict(
                    ConflictCode.MISSING_DEPENDENCY.value,
                    [name, dependency],
                    f"{name} depends on {dependency}, {why}; keep {dependency} or drop the dependency",
                )
            )
    conflicts += _port_contract_conflicts(outcome)
    edges = {name: depends_on(service) for name, service in services.items()}
    for cycle in find_cycles(edges):
        conflicts.append(
            Conflict(
                ConflictCode.CYCLE.value,
                cycle[:-1],
                f"dependency cycle {' → '.join(cycle)}; services could never start in dependency order",
            )
        )
    return conflicts


def _port_contract_conflicts(outcome: LayerOutcome) -> list[Conflict]:
    """A dropped port breaks every caller the overlay does not change itself.

    Promotion cannot help here: a promoted caller is the same code, calling a port that no
    longer exists under its name or its number. Callers the overlay adds or changes are
    assumed to have been updated with the service.
    """
    conflicts = []
    for name in sorted(outcome.port_changes):
        dropped = outcome.port_changes[name]["removed"]
        stuck = [
            caller
            for caller in outcome.callers.get(name, ())
            if outcome.statuses.get(caller) not in (Status.ADDED, Status.CHANGED)
        ]
        if not dropped or not stuck:
            continue
        ports = ", ".join(_port_text(port) for port in dropped)
        conflicts.append(
            Conflict(
                ConflictCode.PORT_CONTRACT_BROKEN.value,
                [name, *stuck],
                f"{name} no longer has {'port' if len(dropped) == 1 else 'ports'} {ports}, which {_names(stuck)} "
                f"{'calls' if len(stuck) == 1 else 'call'} and this overlay does not change; keep the port "
                "or change those callers in the overlay too",
            )
        )
    return conflicts


def _port_text(port: Mapping[str, Any]) -> str:
    return f"{port.get('name')} ({port.get('port')}/{port.get('protocol')})"


def _names(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"
