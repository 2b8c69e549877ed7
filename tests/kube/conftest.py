"""The cluster the kube contract suite runs against: kubesim always, a real cluster when given.

Every contract test takes ``cluster`` and runs once per backend. The ``real`` backend needs
``MICROSTAX_TEST_KUBECONFIG`` (a kubeconfig path; ``MICROSTAX_TEST_KUBECONTEXT`` picks a context)
and is skipped, with that reason, otherwise. Tests that need kubesim's request recorder or fault
injection take ``sim`` and are skipped on a real cluster.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from microstax import kube
from microstax.kube import labels as L
from microstax.kubesim import KubeSim

KUBECONFIG_ENV = "MICROSTAX_TEST_KUBECONFIG"
CONTEXT_ENV = "MICROSTAX_TEST_KUBECONTEXT"
# Retries stay real but quick: the emulator's faults fire a bounded number of times.
FAST_RETRIES = kube.RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05)


@dataclass(frozen=True)
class Images:
    """Images that behave the same on both backends.

    kubesim picks failures by image name (``crashloop``, ``does-not-exist``, ``fail``); a real
    node runs the command instead, so each failing image also carries a command that fails.
    """

    web: str
    task: str
    crashloop: str
    missing: str
    failing_task: str
    fail_command: tuple[str, ...] = ("sh", "-c", "echo boom; exit 1")


KUBESIM_IMAGES = Images(
    web="nginx:1.27",
    task="busybox:1.36",
    crashloop="ghcr.io/microstax/crashloop:1.0",
    missing="registry.invalid/microstax/does-not-exist:1.0",
    failing_task="ghcr.io/microstax/fail:1.0",
)
REAL_IMAGES = Images(
    web="nginx:1.27",
    task="busybox:1.36",
    crashloop="busybox:1.36",
    missing="registry.invalid/microstax/does-not-exist:1.0",
    failing_task="busybox:1.36",
)


@dataclass
class Backend:
    """One cluster the suite runs against, and the emulator behind it when there is one."""

    name: str
    config: kube.ClusterConfig
    images: Images
    sim: KubeSim | None = None


@pytest.fixture(scope="module", params=["kubesim", "real"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """A fresh kubesim per test module (zero controller delays), or the real cluster."""
    if request.param == "real":
        path = os.environ.get(KUBECONFIG_ENV)
        if not path:
            pytest.skip(f"{KUBECONFIG_ENV} is not set, so the contract suite runs against kubesim only")
        config = kube.ClusterConfig(
            name="test-real", kubeconfig=Path(path).read_text(), context=os.environ.get(CONTEXT_ENV) or None
        )
        yield Backend("real", config, REAL_IMAGES)
        kube.forget_client(config)
        return
    sim = KubeSim().start()
    config = kube.ClusterConfig(name=f"kubesim-{sim.port}", kubeconfig=sim.kubeconfig(), retry=FAST_RETRIES)
    try:
        yield Backend("kubesim", config, KUBESIM_IMAGES, sim)
    finally:
        kube.forget_client(config)
        sim.stop()
    assert not sim.errors, f"kubesim raised internally: {sim.errors!r}"


@pytest.fixture
def cluster(backend: Backend) -> kube.ClusterConfig:
    """The backend's ``ClusterConfig``, with kubesim's faults and recorder reset for this test."""
    if backend.sim is not None:
        backend.sim.faults.clear()
        backend.sim.recorder.clear()
    return backend.config


@pytest.fixture
def sim(backend: Backend, cluster: kube.ClusterConfig) -> KubeSim:
    """kubesim itself (recorder, faults); tests taking it are skipped on a real cluster."""
    if backend.sim is None:
        pytest.skip("needs kubesim's request recorder or fault injection")
    return backend.sim


@pytest.fixture
def images(backend: Backend) -> Images:
    return backend.images


@dataclass
class Env:
    """An environment's identity for one test: its id, team and namespace."""

    id: str
    team: str = "team-test"
    namespace: str = ""
    extra_namespaces: list[str] = field(default_factory=list)

    @property
    def labels(self) -> dict[str, str]:
        return kube.managed_labels(self.id, self.team)

    def meta(self, name: str, *, service: str | None = None, namespace: str | None = None) -> dict[str, Any]:
        """``metadata`` of a namespaced object of this environment."""
        labels = dict(self.labels)
        if service:
            labels[L.SERVICE] = service
        return {"name": name, "namespace": namespace or self.namespace, "labels": labels}

    def namespace_manifest(self) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace, "labels": self.labels}}


@pytest.fixture
def env(cluster: kube.ClusterConfig) -> Iterator[Env]:
    """A unique environment and namespace name; the namespace (if created) is deleted afterwards."""
    token = uuid.uuid4().hex[:8]
    environment = Env(id=f"e{token}", namespace=f"mx-test-{token}")
    yield environment
    for name in [environment.namespace, *environment.extra_namespaces]:
        live = kube.get_namespace(cluster, name)
        if live is not None and kube.labels.is_managed(live):
            kube.delete_namespace(cluster, name)
