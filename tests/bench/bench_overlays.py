"""Benchmark: the economy and speed of an overlay that changes 1 of 12 services of a real-world stack.

Reports the overlay namespace's objects by kind, its pods and requested CPU/memory against a full
clone, and the control-plane time from createOverlay to ready on kubesim (zero controller delays).
Run: .venv/bin/python tests/bench/bench_overlays.py   (or `make bench`)
"""

from __future__ import annotations

import collections
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ["DATABASE_URL"] = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "microstax.settings_test")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from environments import actions  # noqa: E402
from environments.models import Environment, TeamPolicy  # noqa: E402
from microstax.kubesim import Delays, KubeSim  # noqa: E402
from microstax.teams import actions as team_actions  # noqa: E402

# A 12-service shop: two data services, ten apps. The routing header is propagated everywhere, so
# a change stays a change (no caller has to be promoted).
STACK = """\
name: market
routing: {mode: baseline, propagateHeader: true}
services:
  - {name: db, image: "postgres:16.4", ports: ["5432"], resources: {cpu: 500m, memory: 1Gi},
     volumes: [{name: data, mountPath: /var/lib/postgresql/data, size: 5Gi}]}
  - {name: cache, image: "redis:7.4", ports: ["6379"], resources: {cpu: 100m, memory: 256Mi}}
  - {name: web, image: "ghcr.io/market/web:4.2.0", ports: ["80:3000"], expose: true, dependsOn: [api, search],
     resources: {cpu: 200m, memory: 256Mi}}
  - {name: api, image: "ghcr.io/market/api:7.1.3", ports: ["80:8080"], dependsOn: [auth, catalog, cart, checkout],
     resources: {cpu: 300m, memory: 512Mi}, replicas: 2}
  - {name: auth, image: "ghcr.io/market/auth:2.0.1", ports: ["80:8080"], dependsOn: [db, cache],
     resources: {cpu: 100m, memory: 128Mi}}
  - {name: catalog, image: "ghcr.io/market/catalog:3.3.0", ports: ["80:8080"], dependsOn: [db, cache],
     resources: {cpu: 200m, memory: 256Mi}}
  - {name: search, image: "ghcr.io/market/search:1.9.4", ports: ["80:8080"], dependsOn: [catalog],
     resources: {cpu: 300m, memory: 512Mi}}
  - {name: cart, image: "ghcr.io/market/cart:1.4.2", ports: ["80:8080"], dependsOn: [cache],
     resources: {cpu: 100m, memory: 128Mi}}
  - {name: checkout, image: "ghcr.io/market/checkout:5.0.0", ports: ["80:8080"], dependsOn: [payments, cart, db],
     resources: {cpu: 200m, memory: 256Mi}}
  - {name: payments, image: "ghcr.io/market/payments:2.8.1", ports: ["80:8080"], dependsOn: [db],
     resources: {cpu: 200m, memory: 256Mi}}
  - {name: notifications, image: "ghcr.io/market/notifications:1.2.0", ports: ["80:8080"], dependsOn: [cache],
     resources: {cpu: 100m, memory: 128Mi}}
  - {name: worker, image: "ghcr.io/market/worker:7.1.3", dependsOn: [db, cache, notifications],
     resources: {cpu: 200m, memory: 256Mi}}
"""

OVERLAY = """\
name: feat-{n}
routing: {{mode: overlay, overlayId: feat-{n}}}
services:
  - name: checkout
    image: ghcr.io/market/checkout:feat-{n}
"""


def main() -> None:
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_superuser("bench", password="bench-password-1")
    team = team_actions.create_team(actor=user, slug="bench", name="Bench")
    TeamPolicy.objects.create(team=team, max_environments=1000, max_cpu_millicores=10**7, max_memory_mib=10**7)
    # Zero controller delays, but real deadlines: a 200-service wave must not trip the test-speed
    # ProgressDeadlineExceeded that Delays.for_tests() shrinks to a few seconds.
    with KubeSim(delays=Delays(time_factor=1.0)) as sim:
        actions.register_cluster(
            actor=user,
            name="sandbox",
            kubeconfig=sim.kubeconfig(),
            kind="sandbox",
            ingress_domain="bench.localhost",
            is_default=True,
        )
        started = time.perf_counter()
        baseline = actions.create_environment(actor=user, team=team, source=STACK)
        baseline.refresh_from_db()
        assert baseline.state == "ready", baseline.state_reason
        print(f"baseline of 12 services ready in {time.perf_counter() - started:.3f} s")

        times, reroutes = [], []
        for n in range(5):
            started = time.perf_counter()
            overlay = actions.create_overlay(actor=user, base=baseline, source=OVERLAY.format(n=n))
            elapsed = time.perf_counter() - started
            overlay.refresh_from_db()
            assert overlay.state == "ready", overlay.state_reason
            create = overlay.operations.get(kind="create")
            own = (create.finished_at - create.started_at).total_seconds()
            times.append(own)
            reroutes.append(elapsed - own)
        print(
            f"overlay create → ready (its own operation), 5 overlays: median {statistics.median(times):.3f} s, "
            f"max {max(times):.3f} s (target ≤ 0.5 s)"
        )
        print(
            f"baseline re-route after each overlay (routers, run in the same request here): median "
            f"{statistics.median(reroutes):.3f} s"
        )

        kinds = collections.Counter(
            o["kind"]
            for plural in (
                "deployments",
                "services",
                "networkpolicies",
                "configmaps",
                "secrets",
                "persistentvolumeclaims",
                "jobs",
                "ingresses",
                "resourcequotas",
                "limitranges",
            )
            for o in sim.list(plural, overlay.namespace)
        )
        pods = len(sim.list("pods", overlay.namespace))
        saving = overlay.difference_plan["saving"]
        print(f"\noverlay namespace: {dict(sorted(kinds.items()))}, {pods} pod(s)")
        print("                   full clone     overlay      saved")
        for key in ("services", "pods", "cpu_millicores", "memory_mib"):
            print(
                f"  {key:<16} {saving['full_clone'][key]:>10} {saving['overlay'][key]:>11} {saving['saved'][key]:>10}"
            )
        print(f"  pods saved: {saving['ratio']:.0%}")
        baseline_objects = sum(len(sim.list(p, baseline.namespace)) for p in ("deployments", "services"))
        print(f"baseline namespace now has {baseline_objects} Deployments+Services (incl. the checkout router)")
        assert Environment.objects.filter(mode="overlay", state="ready").count() == 5


if __name__ == "__main__":
    main()
