"""Deployment, ReplicaSet and Job controllers (re-exported from their own modules).

``ownership`` has the owner-reference and pod helpers they share; ``replicasets``,
``deployments`` and ``jobs`` hold one controller each.
"""

from __future__ import annotations

from .deployments import DeploymentController
from .jobs import JobController
from .ownership import controller_ref, owned, owner_ref, pod_active, pod_ready
from .replicasets import ReplicaSetController

__all__ = [
    "DeploymentController",
    "JobController",
    "ReplicaSetController",
    "controller_ref",
    "owned",
    "owner_ref",
    "pod_active",
    "pod_ready",
]
