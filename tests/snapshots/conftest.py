"""Fixtures for the snapshot control plane: storage in a temporary directory, environments on
kubesim, snapshots in any state, and (PostgreSQL only) a kubesim executor that runs the real agent."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from django.conf import settings

from environments import actions as env_actions
from environments.models import Environment
from snapshots.models import Snapshot, SnapshotState
from tests.snapshots_agent import conftest as agent_fixtures

# The agent suite's PostgreSQL fixtures: uniquely named databases, dropped at the end.
admin_dsn = agent_fixtures.admin_dsn
make_database = agent_fixtures.make_database

STACK = """\
name: shop
services:
  - name: db
    image: postgres:16.3
    ports: ["5432"]
    env:
      POSTGRES_DB: shop
    secrets:
      - name: db-password
        envKey: POSTGRES_PASSWORD
        value: auto-generated
  - name: api
    image: ghcr.io/example/api:1.0.0
    ports: ["80:8080"]
    dependsOn: [db]
"""

AGENT = Path(sys.executable).with_name("microstax")


@pytest.fixture(autouse=True)
def snapshot_storage(settings, tmp_path):
    """Artifacts go to a fresh directory per test."""
    root = tmp_path / "artifacts"
    settings.MICROSTAX_SNAPSHOT_STORAGE_URL = f"file://{root}"
    return root


@pytest.fixture
def provision(sandbox_cluster, django_capture_on_commit_callbacks):
    """Create (and provision, on kubesim) an environment of ``team`` as ``actor``."""

    def create(actor, team, source: str = STACK, name: str | None = None) -> Environment:
        with django_capture_on_commit_callbacks(execute=True):
            env = env_actions.create_environment(actor=actor, team=team, source=source, name=name)
        env.refresh_from_db()
        assert env.state == "ready", env.state_reason
        return env

    return create


@pytest.fixture
def make_snapshot(owner):
    """A snapshot row in any state, as a capture would have left it (no Job involved)."""

    def make(env: Environment, *, state: str = SnapshotState.READY, sanitized: bool = True, **extra) -> Snapshot:
        return Snapshot.objects.create(
            team=env.team,
            environment=env,
            service="db",
            state=state,
            sanitized=sanitized,
            storage_backend="filesystem",
            created_by=extra.pop("created_by", owner),
            **extra,
        )

    return make


class AgentExecutor:
    """Runs snapshot Jobs of the MicroStax image for real: the agent as a subprocess, against the
    local PostgreSQL. Each namespace gets its own database (created empty on first use), the way
    each environment has its own server; ``databases`` can name one in advance."""

    def __init__(self, database_factory) -> None:  # noqa: ANN001
        self.make_database = database_factory
        self.databases: dict[str, str] = {}
        self.runs: list[tuple[str, list[str], int]] = []

    def matches(self, image: str) -> bool:
        return image.startswith(settings.MICROSTAX_IMAGE.rsplit(":", 1)[0])

    def dsn(self, namespace: str) -> str:
        if namespace not in self.databases:
            self.databases[namespace] = self.make_database("env")
        return self.databases[namespace]

    def __call__(self, namespace: str, container: dict, env: dict[str, str]) -> tuple[int, list[str]]:
        command = list(container["command"])
        assert command[:2] == ["microstax", "snapshot-agent"], command
        run_env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        run_env.update(env)
        database = self.dsn(namespace).rsplit("/", 1)[1]
        # The Job reaches its service by name; here the server is on loopback.
        run_env.update(PGHOST="127.0.0.1", PGPORT="5432", PGUSER="postgres", PGDATABASE=database)
        with tempfile.TemporaryDirectory(prefix="msx-job-") as tmp:
            if "--policy" in command:
                policy = Path(tmp) / "policy.yaml"
                policy.write_text(env["MICROSTAX_SNAPSHOT_POLICY"])
                command[command.index("--policy") + 1] = str(policy)
            result = subprocess.run(
                [str(AGENT), *command[1:]], env=run_env, capture_output=True, text=True, timeout=300, check=False
            )
        self.runs.append((namespace, command, result.returncode))
        return result.returncode, (result.stdout + result.stderr).splitlines()


@pytest.fixture
def agent_executor(sim, make_database, live_server, settings):
    """Register the agent executor with kubesim and point the Jobs at the live server."""
    settings.MICROSTAX_PUBLIC_URL = live_server.url
    executor = AgentExecutor(make_database)
    unregister = sim.register_executor(executor.matches, executor)
    yield executor
    unregister()
