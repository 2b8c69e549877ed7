"""Overlay planning: effective specs, the difference graph, conflicts and savings — pure functions.

>>> plan = plan_overlay([baseline, team], Layer("env_new", "feat-x", "overlay", normalized, routing_key="feat-x"))
>>> plan.conflicts          # blocking problems, reported before anything exists
>>> plan.local, plan.inherited

A chain is **root-first**: ``chain[0]`` is the baseline, ``chain[-1]`` the new overlay's parent.
Each layer's ``spec`` is its own normalized blueprint (:mod:`blueprints.normalize`). The
effective spec of an overlay is its own services, merged with the upstream versions by
:func:`merge_service`, over its parent's effective spec; every service resolves to its nearest
provider. Statuses, reason codes and conflict codes are tabulated in :mod:`.codes`.

No Django, ORM or network here: the callers turn models into :class:`Layer` values.
"""

from __future__ import annotations

from .codes import ConflictCode, PromotionRule, ReasonCode, Status
from .merge import merge_service
from .model import Conflict, Layer, Plan, ServicePlan
from .plan import effective_spec, plan_overlay

__all__ = [
    "Conflict",
    "ConflictCode",
    "Layer",
    "Plan",
    "PromotionRule",
    "ReasonCode",
    "ServicePlan",
    "Status",
    "effective_spec",
    "merge_service",
    "plan_overlay",
]
