"""Benchmark: the fleet sweep over 10,000 environment rows on a temporary SQLite database.

100 rows need something (expired, about to expire, idle, a first drift check); the rest are healthy. Times one
``sweep(dry_run=True)`` over the whole fleet and one real sweep, with their SQL query counts. The
real sweep enqueues its operations on the django-q2 ORM broker as production does (not run here:
this measures the sweep, not the provisioner).

Run: .venv/bin/python tests/bench/bench_fleet.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import timedelta
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
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_q.conf import Conf  # noqa: E402
from django_q.models import OrmQ  # noqa: E402

from blueprints.normalize import spec_hash  # noqa: E402
from blueprints.validation import validate_blueprint  # noqa: E402
from environments import actions  # noqa: E402
from environments.fleet import sweep  # noqa: E402
from environments.models import Environment  # noqa: E402
from microstax.kubesim import KubeSim  # noqa: E402
from microstax.lib.ids import new_public_id  # noqa: E402
from microstax.teams import actions as team_actions  # noqa: E402

FLEET = 10_000
# The case: 100 of the 10,000 due for action; target: the acting sweep within 5 s.
EXPIRED, EXPIRING, IDLE = 40, 20, 30
TARGET_SECONDS = 5.0
# Rows never checked for drift (their namespaces do not exist: each is found drifted and recorded);
# the rest were checked by an earlier sweep, as in a fleet that has been running.
DRIFT_DUE = 10
SOURCE = "name: bench\nservices:\n  - name: api\n    image: ghcr.io/example/api:1.0.0\n    ports: ['80:8080']\n"


def populate(user, team, cluster) -> None:
    """``FLEET`` ready rows in bulk; the first few hundred made expired, expiring or idle."""
    spec = validate_blueprint(SOURCE).normalized
    now = timezone.now()
    rows = []
    for i in range(FLEET):
        public_id = new_public_id("env")
        expires_at, last_activity = now + timedelta(days=2), now
        if i < EXPIRED:
            expires_at = now - timedelta(minutes=5)
        elif i < EXPIRED + EXPIRING:
            expires_at = now + timedelta(minutes=30)
        elif i < EXPIRED + EXPIRING + IDLE:
            last_activity = now - timedelta(hours=3)
        due = EXPIRED + EXPIRING + IDLE <= i < EXPIRED + EXPIRING + IDLE + DRIFT_DUE
        checked = None if due else now
        rows.append(
            Environment(
                public_id=public_id,
                team=team,
                name=f"e{i}",
                source=SOURCE,
                spec=spec,
                spec_hash=spec_hash(spec),
                cluster=cluster,
                namespace=f"env-e{i}-{public_id[-6:]}",
                state="ready",
                expires_at=expires_at,
                last_activity_at=last_activity,
                idle_at=last_activity + timedelta(minutes=30),  # bulk_create skips Environment.save
                drift=None if checked is None else [],
                drift_checked_at=checked,
                created_by=user,
            )
        )
    Environment.objects.bulk_create(rows, batch_size=1000)


def timed(label: str, **kwargs) -> float:
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        report = sweep(**kwargs)
        elapsed = time.perf_counter() - started
    counts = ", ".join(f"{k}={v}" for k, v in report.counts().items() if v)
    acted = sum(report.counts().values())
    per = f"   ({elapsed / acted * 1000:.1f} ms per finding)" if acted else ""
    print(f"{label:<28} {elapsed:8.3f} s {len(queries.captured_queries):8} queries   {counts}{per}")
    return elapsed


def main() -> None:
    call_command("migrate", verbosity=0)
    # Enqueue on the ORM broker as production does, instead of the test settings' synchronous run.
    Conf.SYNC = False
    user = get_user_model().objects.create_superuser("bench", password="bench-password-1")
    team = team_actions.create_team(actor=user, slug="bench", name="Bench")
    with KubeSim() as sim:
        cluster = actions.register_cluster(
            actor=user, name="sandbox", kubeconfig=sim.kubeconfig(), kind="sandbox", is_default=True
        )
        populate(user, team, cluster)
        print(
            f"fleet sweep over {FLEET} environments ({EXPIRED} expired, {EXPIRING} expiring, {IDLE} idle, "
            f"{DRIFT_DUE} due for a drift check)"
        )
        print(f"{'':<28} {'seconds':>10} {'SQL':>14}")
        timed("sweep(dry_run=True)", dry_run=True)
        acting = timed("sweep() — acts", dry_run=False)
        timed("sweep() — nothing left", dry_run=False)
        print(f"operations enqueued: {OrmQ.objects.count()}")
    if acting > TARGET_SECONDS:
        print(f"MISSED: the acting sweep took {acting:.2f} s (target {TARGET_SECONDS:.0f} s)")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
