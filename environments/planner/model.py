"""The planner's inputs and outputs: frozen dataclasses holding plain data."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Layer:
    """One environment of an overlay chain.

    A chain is given **root-first**: ``chain[0]`` is the baseline, ``chain[-1]`` the parent of the
    environment being planned. ``spec`` is that environment's own normalized blueprint (see
    :mod:`blueprints.normalize`): the full stack for a baseline, only its delta for an overlay.
    ``header_name`` and ``routing_key`` (the ``overlayId``) are authoritative here, not the
    spec's ``routing`` block, because the caller knows what was actually provisioned.
    """

    environment_id: str
    name: str
    mode: str
    spec: Mapping[str, Any]
    state: str = "ready"
    header_name: str = "x-msx-env"
    routing_key: str = ""


@dataclass(frozen=True)
class ServicePlan:
    """How one service of the overlay is realized; ``reasons`` use :mod:`.codes`."""

    name: str
    status: str
    provider: str
    reasons: list[dict[str, Any]]
    spec: Mapping[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (nested data is copied so callers may mutate it)."""
        return {
            "name": self.name,
            "status": str(self.status),
            "provider": self.provider,
            "reasons": copy.deepcopy(self.reasons),
            "spec": copy.deepcopy(dict(self.spec)) if self.spec is not None else None,
        }


@dataclass(frozen=True)
class Conflict:
    """A problem that blocks provisioning, with the services involved and a plain-English message."""

    code: str
    services: list[str]
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return {"code": str(self.code), "services": list(self.services), "message": self.message}


@dataclass(frozen=True)
class Plan:
    """The difference graph of an overlay against its chain, and what it would cost.

    ``services`` covers every effective service plus the ones the overlay removes, sorted by
    name. ``local`` (added, changed, promoted) is what the overlay namespace runs; ``inherited``
    maps every other effective service to the environment that runs it. ``saving`` compares a
    full clone of the effective spec with the local services only (see :mod:`.saving`).
    """

    services: list[ServicePlan]
    effective_spec: dict[str, Any]
    conflicts: list[Conflict]
    local: list[str]
    inherited: dict[str, str]
    saving: dict[str, Any]

    @property
    def blocked(self) -> bool:
        """True when any conflict forbids provisioning the overlay."""
        return bool(self.conflicts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy of the whole plan (keys as the field names)."""
        return {
            "services": [service.to_dict() for service in self.services],
            "effective_spec": copy.deepcopy(self.effective_spec),
            "conflicts": [conflict.to_dict() for conflict in self.conflicts],
            "local": list(self.local),
            "inherited": dict(self.inherited),
            "saving": copy.deepcopy(self.saving),
        }
