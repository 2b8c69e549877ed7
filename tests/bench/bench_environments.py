"""Benchmark: control-plane time from createEnvironment to ready on kubesim (zero controller delays),
writes per provisioning, a no-op reconcile, and SQL queries of the environments query.

Run: .venv/bin/python tests/bench/bench_environments.py   (or `make bench`)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
_db = Path(tempfile.mkdtemp()) / "bench.sqlite3"
os.environ["DATABASE_URL"] = f"sqlite:///{_db}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "microstax.settings_test")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from environments import actions  # noqa: E402
from environments.models import Environment, Operation, TeamPolicy  # noqa: E402
from microstax.kubesim import Delays, KubeSim  # noqa: E402
from microstax.teams import actions as team_actions  # noqa: E402


def blueprint(services: int) -> str:
    """A stack of ``services``: a quarter data services, the rest apps depending on one of them."""
    data = max(1, services // 4)
    lines = ["name: bench", "services:"]
    for i in range(services):
        if i < data:
            lines += [f"  - name: data{i}", "    image: postgres:16.3", '    ports: ["5432"]']
        else:
            lines += [
                f"  - name: app{i}",
                f"    image: ghcr.io/example/app{i}:1.0.{i}",
                '    ports: ["80:8080"]',
                "    expose: true",
                f"    dependsOn: [data{i % data}]",
                "    env:",
                f"      DATABASE_URL: postgres://data{i % data}:5432/app",
            ]
    return "\n".join(lines) + "\n"


def main() -> None:
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_superuser("bench", password="bench-password-1")
    team = team_actions.create_team(actor=user, slug="bench", name="Bench")
    TeamPolicy.objects.create(
        team=team,
        max_environments=10_000,
        max_cpu_millicores=10**9,
        max_memory_mib=10**9,
        max_pods_per_environment=10_000,
    )
    # Zero controller delays, but real deadlines: a 200-service wave must not trip the test-speed
    # ProgressDeadlineExceeded that Delays.for_tests() shrinks to a few seconds.
    with KubeSim(delays=Delays(time_factor=float(os.environ.get("BENCH_TIME_FACTOR", "1.0")))) as sim:
        actions.register_cluster(
            actor=user,
            name="sandbox",
            kubeconfig=sim.kubeconfig(),
            kind="sandbox",
            ingress_domain="bench.localhost",
            is_default=True,
        )
        print("createEnvironment → ready on kubesim (zero controller delays)")
        print(f"{'services':>9} {'objects':>8} {'writes':>7} {'seconds':>8} {'reconcile writes':>17}")
        results = {}
        for size in (12, 50, 200):
            times = []
            for attempt in range(3 if size < 200 else 1):
                sim.recorder.clear()
                started = time.perf_counter()
                env = actions.create_environment(
                    actor=user, team=team, source=blueprint(size), name=f"b{size}-{attempt}"
                )
                elapsed = time.perf_counter() - started
                env.refresh_from_db()
                assert env.state == "ready", env.state_reason
                times.append(elapsed)
                objects = Operation.objects.get(environment=env).steps.get(name="render").details["objects"]
                writes = len(sim.recorder.writes())
                sim.recorder.clear()
                actions.reconcile_environment(actor=user, env=env)
                reconcile_writes = len(sim.recorder.writes())
            results[size] = statistics.median(times)
            print(f"{size:>9} {objects:>8} {writes:>7} {results[size]:>8.3f} {reconcile_writes:>17}")
        print(f"growth: 50/12 = {results[50] / results[12]:.1f}x, 200/12 = {results[200] / results[12]:.1f}x")

    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    query = json.dumps(
        {
            "query": "{ environments(first: 100) { totalCount edges { node { id name state "
            "team { slug } cluster { name simulated } services { name status endpoints } "
            "operations(last: 1) { kind state steps { name } } } } } }"
        }
    )
    print("\nSQL queries of the environments query (first: 100)")
    for count in (10, 1000):
        existing = Environment.objects.count()
        template = Environment.objects.order_by("pk").first()
        clones = []
        for i in range(existing, count):
            clone = Environment(
                team=team,
                name=f"clone-{i}",
                mode=template.mode,
                source=template.source,
                spec=template.spec,
                spec_hash=template.spec_hash,
                cluster=template.cluster,
                namespace=f"env-clone-{i}",
                state="ready",
                created_by=user,
            )
            clone.public_id = f"env_clone{i:07d}"
            clones.append(clone)
        Environment.objects.bulk_create(clones)
        with CaptureQueriesContext(connection) as queries:
            response = client.post("/graphql", data=query, content_type="application/json")
        assert response.status_code == 200 and "errors" not in response.json(), response.content[:300]
        print(f"  {count:>5} environments: {len(queries)} queries")


if __name__ == "__main__":
    main()
