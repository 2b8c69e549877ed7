"""Fixtures of the fleet sweep tests: provisioned environments on kubesim and namespaces made by hand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from environments import actions
from environments.models import Environment
from microstax.kube import labels as L
from tests.environments.test_lifecycle import STACK


@pytest.fixture
def provision(team, owner, sandbox_cluster, django_capture_on_commit_callbacks):
    """Create an environment from ``STACK`` (or ``source``) and run its provisioning to the end."""

    def create(name: str = "shop", source: str = STACK) -> Environment:
        with django_capture_on_commit_callbacks(execute=True):
            env = actions.create_environment(actor=owner, team=team, source=source, name=name)
        env.refresh_from_db()
        assert env.state == "ready", env.state_reason
        return env

    return create


@pytest.fixture
def core(sim) -> Iterator[k8s.CoreV1Api]:
    """The official client against the emulator, for creating namespaces behind MicroStax's back."""
    config = k8s.Configuration()
    config.host = sim.url
    with k8s.ApiClient(config) as api:
        yield k8s.CoreV1Api(api)


@pytest.fixture
def make_namespace(core):
    """Create a namespace; ``environment_id`` adds MicroStax's labels naming that environment."""

    def create(name: str, environment_id: str | None = None, *, managed: bool = True) -> None:
        labels = {}
        if environment_id is not None:
            labels[L.ENVIRONMENT] = environment_id
            if managed:
                labels[L.MANAGED_BY] = L.MANAGED_BY_VALUE
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels=labels)))

    return create
