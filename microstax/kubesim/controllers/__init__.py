"""Simulated controllers; ``build`` returns them in the order the manager fans events out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Controller, ControllerManager
from .deployments import DeploymentController
from .gc import GarbageCollector
from .jobs import JobController
from .kubelet import Kubelet
from .namespaces import NamespaceController
from .network import NetworkController
from .quotas import QuotaController
from .replicasets import ReplicaSetController
from .storage import VolumeController

if TYPE_CHECKING:
    from ..sim import KubeSim


def build(sim: KubeSim) -> ControllerManager:
    controllers: list[Controller] = [
        DeploymentController(sim),
        ReplicaSetController(sim),
        JobController(sim),
        Kubelet(sim),
        VolumeController(sim),
        NetworkController(sim),
        QuotaController(sim),
        GarbageCollector(sim),
        NamespaceController(sim),
    ]
    return ControllerManager(sim, controllers)


__all__ = ["ControllerManager", "build"]
