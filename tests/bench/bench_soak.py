"""Fault soak: environments and overlays provisioned, updated, stopped and deleted while kubesim
injects faults and a worker is killed (SIGKILL) and restarted twice.

Two django-q2 clusters (``manage.py qcluster``, production settings) run the operations; this process
records them through the real actions (``environments.actions``) as the bench user, and serves kubesim
in-process so it can inject faults: 429s, 500s, 409s on apply, dropped watches and latency, each at a
seeded rate. Worker 0 is killed with SIGKILL (its whole process group) while it runs an operation,
once during the creates and once during the updates and deletes, and restarted each time; the killed
operations are taken over by ``provisioning.claim`` once the broker redelivers them and their heartbeat
is stale (``MICROSTAX_TASK_TIMEOUT`` is set small so that happens within the run).

Afterwards it checks, and prints with counts:
  * every environment is in the state its last requested operation asked for (ready/stopped/deleted);
  * no namespace labelled ``app.kubernetes.io/managed-by=microstax`` without a live environment, and
    no live environment without its namespace;
  * no object duplicated: no environment's objects outside its namespace, no deployment with more pods
    than replicas, one Operation per requested action;
  * no Operation left queued or running;
  * every requested action audited exactly once, and ``manage.py audit_verify`` passes.
Exits 1 with ``MISSED:`` lines when an invariant fails.

Run: .venv/bin/python tests/bench/bench_soak.py [--environments 40] [--database sqlite|postgres]
         [--broker orm|redis] [--task-timeout 20] [--fault-rate 0.03]
PostgreSQL is 127.0.0.1:5432, user postgres (``--server``); a database of its own is created and dropped.
The broker is django-q2's ORM broker unless ``--broker redis`` (``--redis``, database 15 of 127.0.0.1:6379).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load import _environment, drop_database, own_database  # noqa: E402  (no Django needed)

BASE = """\
name: {name}
routing: {{mode: {mode}, propagateHeader: true}}
services:
  - {{name: db, image: "postgres:16.4", ports: ["5432"], resources: {{cpu: 50m, memory: 64Mi}}}}
  - {{name: api, image: "ghcr.io/shop/api:{tag}", ports: ["80:8080"], dependsOn: [db],
     resources: {{cpu: 50m, memory: 64Mi}}}}
  - {{name: web, image: "ghcr.io/shop/web:1.9.0", ports: ["80:3000"], expose: true, dependsOn: [api],
     resources: {{cpu: 50m, memory: 64Mi}}}}
"""
OVERLAY = """\
name: {name}
routing: {{mode: overlay, overlayId: {name}}}
services:
  - name: api
    image: ghcr.io/shop/api:{tag}
"""
ACTIVE = ("queued", "running")


class Workers:
    """The two qcluster processes; each leads its own process group, so SIGKILL takes its children too."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp, self.env = tmp, env
        self.procs: dict[int, subprocess.Popen] = {}
        self.starts = Counter()

    def start(self, index: int) -> None:
        self.starts[index] += 1
        log = open(self.tmp / f"worker{index}-{self.starts[index]}.log", "wb")  # noqa: SIM115 - with the process
        self.procs[index] = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def group_of(self, pid: int) -> int | None:
        try:
            return os.getpgid(pid)
        except ProcessLookupError:
            return None

    def kill(self, index: int) -> None:
        proc = self.procs[index]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def check(self) -> list[str]:
        """Workers that died on their own (not killed by us) — a finding, not a crash of the soak."""
        dead = []
        for index, proc in self.procs.items():
            if proc.poll() is not None:
                dead.append(f"worker{index} exited {proc.returncode}")
        return dead

    def stop(self) -> None:
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--environments", type=int, default=40, help="environments and overlays in all")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/")
    parser.add_argument("--broker", choices=("orm", "redis"), default="orm")
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379/15", help="a database of its own: the task list is not shared"
    )
    parser.add_argument(
        "--task-timeout",
        type=int,
        default=20,
        help="MICROSTAX_TASK_TIMEOUT of the workers (s); the broker redelivers a killed task after it + 60 s",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes per qcluster")
    parser.add_argument("--fault-rate", type=float, default=0.03, help="rate of each error fault")
    parser.add_argument("--settle", type=float, default=420.0, help="longest wait for a phase to settle (s)")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


def configure(args) -> tuple[Path, dict[str, str], object]:
    """Environment of this process and of the workers; a PostgreSQL database of its own if asked."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    database_url, admin_db = own_database(args, tmp, "soak")
    env = {**os.environ, **_environment(tmp, database_url), "PYTHONPATH": str(ROOT)}
    env["MICROSTAX_TASK_TIMEOUT"] = str(args.task_timeout)
    env["MICROSTAX_WORKERS"] = str(args.workers)
    env["LOG_LEVEL"] = "INFO"
    if args.broker == "redis":
        env["REDIS_URL"] = args.redis
    else:
        env.pop("REDIS_URL", None)
    os.environ.clear()
    os.environ.update(env)
    # This process records through the test settings with tasks enqueued (not run inline); the
    # workers run the production settings.
    os.environ["DJANGO_SETTINGS_MODULE"] = "microstax.settings_test"
    env["DJANGO_SETTINGS_MODULE"] = "microstax.settings"
    return tmp, env, admin_db


class Soak:
    """The run's bookkeeping: what was asked of each environment, and what was counted."""

    def __init__(self, args, user, team, sim, workers: Workers) -> None:
        self.args, self.user, self.team, self.sim, self.workers = args, user, team, sim, workers
        self.want: dict[str, str] = {}  # public id → ready | stopped | deleted
        self.requested: Counter = Counter()  # (audit action, public id) → times asked
        self.kinds: Counter = Counter()  # (operation kind, public id) → operations the bench asked for
        self.refused: Counter = Counter()
        self.user_retries = 0
        self.kills: list[str] = []
        self.unexpected: list[str] = []

    # -- asking ----------------------------------------------------------------------------------

    def ask(self, action: str, kind: str, env, want: str | None, call) -> bool:
        """Call one action; count it as asked (and audited, and an Operation) unless it was refused."""
        try:
            result = call()
        except Exception as exc:  # a refusal (Conflict, InvalidInput) is recorded, not fatal
            if type(exc).__name__ in ("Conflict", "InvalidInput", "OverlayConflict", "PermissionDenied"):
                self.refused[f"{action}: {type(exc).__name__}: {str(exc)[:80]}"] += 1
                return False
            raise
        if env is None:  # a create: the new environment
            env = result
        self.requested[(action, env.public_id)] += 1
        self.kinds[(kind, env.public_id)] += 1
        if want is not None:
            self.want[env.public_id] = want
        return True

    # -- waiting ---------------------------------------------------------------------------------

    def active(self) -> int:
        from environments.models import Operation

        return Operation.objects.filter(state__in=ACTIVE).count()

    def kill_during(self, label: str, timeout: float = 60.0) -> None:
        """SIGKILL worker 0 while it runs an operation (or, failing that within ``timeout``, anyway)."""
        from environments.models import Operation

        group = self.workers.procs[0].pid
        deadline = time.monotonic() + timeout
        victims: list[str] = []
        while time.monotonic() < deadline:
            for public_id, claimed_by in Operation.objects.filter(state="running").values_list(
                "public_id", "claimed_by"
            ):
                pid = int(claimed_by.rsplit(":", 1)[1]) if ":" in claimed_by else 0
                if pid and self.workers.group_of(pid) == group:
                    victims.append(public_id)
            if victims:
                break
            time.sleep(0.05)
        self.workers.kill(0)
        self.kills.append(f"{label}: worker0 killed at {time.strftime('%H:%M:%S')} running {len(victims)} operation(s)")
        print(f"  SIGKILL worker0 ({label}); it was running {len(victims)} operation(s) {victims}")
        time.sleep(2.0)
        self.workers.start(0)

    def settle(self, label: str) -> float:
        """Wait until no operation is queued or running; as a user would, retry what failed."""
        from environments import actions
        from environments.models import Environment, Operation

        started = time.monotonic()
        deadline = started + self.args.settle
        retried: Counter = Counter()
        last_report = started
        while time.monotonic() < deadline:
            self.unexpected += [d for d in self.workers.check() if d not in self.unexpected]
            active = self.active()
            if active == 0:
                stuck = self._retry_failures(actions, Environment, Operation, retried)
                if not stuck:
                    break
            if time.monotonic() - last_report > 30:
                last_report = time.monotonic()
                print(f"  … {label}: {active} operation(s) queued or running after {last_report - started:.0f} s")
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        print(f"  {label} settled in {elapsed:.1f} s ({self.active()} operation(s) still queued or running)")
        return elapsed

    def _retry_failures(self, actions, Environment, Operation, retried: Counter) -> int:
        """Failed or degraded environments that should be up are retried (at most 3 times each)."""
        asked = 0
        for env in Environment.objects.filter(public_id__in=list(self.want)).select_related("team"):
            want = self.want[env.public_id]
            if retried[env.public_id] >= 3:
                continue
            if want in ("ready", "stopped") and env.state in ("failed", "degraded"):
                retried[env.public_id] += 1
                self.user_retries += 1
                if want == "ready":
                    self.ask(
                        "environment.retry",
                        "retry",
                        env,
                        None,
                        lambda e=env: actions.retry_environment(actor=self.user, env=e),
                    )
                else:
                    self.ask(
                        "environment.stop",
                        "stop",
                        env,
                        None,
                        lambda e=env: actions.stop_environment(actor=self.user, env=e),
                    )
                asked += 1
            elif want == "deleted" and env.state == "deleting":
                retried[env.public_id] += 1
                self.user_retries += 1
                self.ask(
                    "environment.delete",
                    "delete",
                    env,
                    None,
                    lambda e=env: actions.delete_environment(actor=self.user, env=e, force=True),
                )
                asked += 1
        return asked


def run(args) -> int:
    tmp, worker_env, admin_db = configure(args)
    import django

    django.setup()
    import logging

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connections
    from django_q.conf import Conf

    logging.getLogger("django-q").setLevel(logging.WARNING)
    Conf.SYNC = False  # enqueue on the broker, as production does

    from environments import actions
    from environments.models import Environment, TeamPolicy
    from microstax.kubesim import Delays, KubeSim
    from microstax.teams import actions as team_actions

    workers = Workers(tmp, worker_env)
    rng = random.Random(args.seed)
    wall = time.monotonic()
    try:
        call_command("migrate", verbosity=0)
        # As the deployment's migrations Job does: the workers then sweep the fleet every minute, which
        # is what recovers an operation the Redis broker lost with a killed worker (no redelivery there).
        call_command("install_schedules", verbosity=0)
        user = get_user_model().objects.create_superuser("soak", password="bench-password-1")
        team = team_actions.create_team(actor=user, slug="soak", name="Soak")
        TeamPolicy.objects.update_or_create(
            team=team,
            defaults={
                "max_environments": 100_000,
                "max_cpu_millicores": 10**8,
                "max_memory_mib": 10**8,
                "max_pods_per_environment": 1000,
            },
        )
        # Zero controller delays, upstream deadlines (the test-speed ones trip under a loaded machine).
        with KubeSim(delays=Delays(time_factor=1.0)) as sim:
            actions.register_cluster(
                actor=user,
                name="sandbox",
                kubeconfig=sim.kubeconfig(),
                kind="sandbox",
                ingress_domain="soak.localhost",
                is_default=True,
            )
            connections.close_all()
            workers.start(0)
            workers.start(1)
            rate = args.fault_rate
            sim.faults._rng.seed(args.seed)
            faults = {
                "429 Too Many Requests": sim.faults.add(status=429, rate=rate, retry_after=1),
                "500 Internal Error": sim.faults.add(status=500, rate=rate, retry_after=0),
                "409 Conflict (apply)": sim.faults.add(status=409, verb="patch", rate=rate),
                "dropped watch": sim.faults.add(verb="watch", drop_watch_after=1, abrupt=True, rate=0.25),
                "latency 200 ms": sim.faults.add(latency=0.2, rate=0.05),
            }
            soak = Soak(args, user, team, sim, workers)
            bases_n = max(2, args.environments // 2)
            overlays_n = max(1, args.environments - bases_n)
            print(
                f"fault soak: {bases_n} baselines/isolated + {overlays_n} overlays on {args.database} "
                f"({args.broker} broker), 2 qclusters × {args.workers} workers, task timeout {args.task_timeout} s, "
                f"fault rate {rate:g}"
            )

            # Phase 1: baselines (and every fourth isolated), worker 0 killed half-way through.
            phase = time.monotonic()
            bases = []
            for i in range(bases_n):
                mode = "isolated" if i % 4 == 3 else "baseline"
                source = BASE.format(name=f"base-{i}", mode=mode, tag="2.3.1")
                soak.ask(
                    "environment.create",
                    "create",
                    None,
                    "ready",
                    lambda s=source, n=f"base-{i}": actions.create_environment(actor=user, team=team, source=s, name=n),
                )
                if i == bases_n // 2:
                    soak.kill_during("creates")
            bases = list(Environment.objects.filter(team=team).order_by("pk"))
            soak.settle("phase 1 (creates)")
            print(f"  phase 1: {time.monotonic() - phase:.1f} s")

            # Phase 2: overlays on the baselines that are up.
            phase = time.monotonic()
            baselines = [
                b for b in Environment.objects.filter(pk__in=[b.pk for b in bases], mode="baseline", state="ready")
            ]
            for i in range(overlays_n if baselines else 0):
                base = baselines[i % len(baselines)]
                source = OVERLAY.format(name=f"ov-{i}", tag=f"ov-{i}")
                soak.ask(
                    "environment.overlay.create",
                    "create",
                    None,
                    "ready",
                    lambda b=base, s=source: actions.create_overlay(actor=user, base=b, source=s),
                )
            soak.settle("phase 2 (overlays)")
            print(f"  phase 2: {time.monotonic() - phase:.1f} s")

            # Phase 3: updates, stops, deletes (and an update superseded by a delete), worker 0 killed again.
            phase = time.monotonic()
            everyone = list(Environment.objects.filter(team=team).select_related("team", "parent").order_by("pk"))
            overlays = [e for e in everyone if e.mode == "overlay"]
            plain = [e for e in everyone if e.mode != "overlay"]
            rng.shuffle(overlays)
            chosen_base_delete = next((b for b in plain if b.mode == "baseline" and b.children.exists()), None)
            ops = []
            for i, env in enumerate(overlays):
                if i % 4 == 0:
                    ops.append(("delete", env))
                elif i % 4 == 1:
                    ops.append(("update", env))
                elif i % 8 == 2:
                    ops.append(("update+delete", env))
            for i, env in enumerate(plain):
                if env is chosen_base_delete:
                    ops.append(("force-delete", env))
                elif env.mode == "isolated" and i % 2 == 1:
                    ops.append(("stop", env))
                elif i % 3 == 0:
                    ops.append(("update", env))
            rng.shuffle(ops)
            for n, (what, env) in enumerate(ops):
                env.refresh_from_db()
                if env.state == "deleted" or env.public_id in soak.want and soak.want[env.public_id] == "deleted":
                    continue
                if what in ("update", "update+delete"):
                    if env.mode == "overlay":
                        source = OVERLAY.format(name=env.name, tag=f"{env.name}-v2")
                    else:
                        source = BASE.format(name=env.name, mode=env.mode, tag="2.4.0")
                    soak.ask(
                        "environment.update",
                        "update",
                        env,
                        "ready",
                        lambda e=env, s=source: actions.update_environment(actor=user, env=e, source=s),
                    )
                if what in ("delete", "update+delete"):
                    env.refresh_from_db()
                    soak.ask(
                        "environment.delete",
                        "delete",
                        env,
                        "deleted",
                        lambda e=env: actions.delete_environment(actor=user, env=e),
                    )
                elif what == "force-delete":
                    dependants = list(Environment.objects.live().filter(parent=env).exclude(state="deleting"))
                    if soak.ask(
                        "environment.delete",
                        "delete",
                        env,
                        "deleted",
                        lambda e=env: actions.delete_environment(actor=user, env=e, force=True),
                    ):
                        for d in dependants:  # deleted by the same request, each audited
                            soak.requested[("environment.delete", d.public_id)] += 1
                            soak.kinds[("delete", d.public_id)] += 1
                            soak.want[d.public_id] = "deleted"
                elif what == "stop":
                    soak.ask(
                        "environment.stop",
                        "stop",
                        env,
                        "stopped",
                        lambda e=env: actions.stop_environment(actor=user, env=e),
                    )
                if n == len(ops) // 3:
                    soak.kill_during("updates and deletes")
            soak.settle("phase 3 (updates, stops, deletes)")
            print(f"  phase 3: {time.monotonic() - phase:.1f} s")
            sim.wait_idle(10.0)
            connections.close_all()
            workers.stop()
            elapsed = time.monotonic() - wall
            return report(soak, faults, elapsed)
    finally:
        workers.stop()
        connections.close_all()
        drop_database(admin_db)
        print(f"(logs in {tmp})")


def check_objects(sim, envs) -> tuple[list[str], list[str], list[str], list[str], dict]:
    """Orphaned namespaces, live environments without one, duplicated objects, objects of deleted ones."""
    from microstax.kube.labels import ENVIRONMENT

    live = {e.namespace: e for e in envs if e.state != "deleted"}
    ids = {e.public_id: e for e in envs} | {str(e.pk): e for e in envs}
    by_pk = {e.pk: e for e in envs}
    managed = {
        ns["metadata"]["name"]: ns
        for ns in sim.list("namespaces")
        if ns["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") == "microstax"
    }
    orphaned = sorted(set(managed) - set(live))
    missing = sorted(set(live) - set(managed))
    duplicated, leaked = [], []
    counts = Counter()
    for resource in ("deployments", "services", "configmaps", "secrets", "networkpolicies", "ingresses", "jobs"):
        for obj in sim.list(resource):
            owner = obj["metadata"].get("labels", {}).get(ENVIRONMENT)
            if owner is None:
                continue
            counts[resource] += 1
            env = ids.get(owner)
            where = f"{resource} {obj['metadata']['namespace']}/{obj['metadata']['name']} of {owner}"
            if env is None:
                duplicated.append(f"{where} (no such environment)")
                continue
            # An overlay's bridges live in its providers' namespaces (DESIGN.md §5): allowed while it is live.
            chain, cursor = set(), env
            while cursor is not None:
                chain.add(cursor.namespace)
                cursor = by_pk.get(cursor.parent_id)
            if obj["metadata"]["namespace"] not in chain:
                duplicated.append(where)
            elif env.state == "deleted":
                leaked.append(f"{where} ({env.mode} {env.name} is deleted)")
    pods = sim.list("pods")
    for deployment in sim.list("deployments"):
        meta = deployment["metadata"]
        if meta["namespace"] not in live:
            continue
        selector = deployment["spec"]["selector"].get("matchLabels", {})
        running = [
            p
            for p in pods
            if p["metadata"]["namespace"] == meta["namespace"]
            and not p["metadata"].get("deletionTimestamp")
            and all(p["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())
        ]
        counts["pods"] += len(running)
        if len(running) > deployment["spec"].get("replicas", 1):
            duplicated.append(
                f"deployment {meta['namespace']}/{meta['name']}: {len(running)} pods for "
                f"{deployment['spec'].get('replicas', 1)} replicas"
            )
    return orphaned, missing, duplicated, leaked, dict(counts)


def report(soak: Soak, faults: dict, elapsed: float) -> int:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from audit.models import AuditEvent
    from environments.models import Environment, Operation

    envs = list(Environment.objects.filter(team=soak.team))
    operations = Operation.objects.filter(environment__team=soak.team)
    missed = []

    print(f"\nenvironments: {len(envs)} ({Counter(e.mode for e in envs)})")
    print(f"final states: {dict(Counter(e.state for e in envs))}")
    by_state = Counter(operations.values_list("state", flat=True))
    by_kind = Counter(operations.values_list("kind", flat=True))
    retried = operations.filter(attempts__gt=1)
    print(f"operations: {operations.count()} by state {dict(by_state)}, by kind {dict(by_kind)}")
    print(
        f"retries: {retried.count()} operation(s) claimed more than once (attempts > 1; max "
        f"{max(operations.values_list('attempts', flat=True), default=0)}), {soak.user_retries} retried by the "
        f"user after a failure; failed operations: {by_state.get('failed', 0)}"
    )
    for op in operations.filter(state="failed").select_related("environment")[:8]:
        step = op.steps.filter(outcome="failed").order_by("-position").first()
        print(
            f"  failed {op.kind} {op.environment.public_id} ({op.environment.mode}) at step "
            f"'{step.name if step else '?'}': {op.error[:160]}"
        )
    print("faults injected: " + ", ".join(f"{name} {f.fired}" for name, f in faults.items()))
    print(f"worker kills: {len(soak.kills)}, restarts: {sum(soak.workers.starts.values()) - 2}")
    for line in soak.kills:
        print(f"  {line}")
    if soak.refused:
        print(f"refused requests (not counted as asked): {dict(soak.refused)}")
    if soak.unexpected:
        print(f"workers that exited on their own: {soak.unexpected}")
    print(f"time: {elapsed:.1f} s")

    def invariant(name: str, ok: bool, detail: str) -> None:
        print(f"  {'ok    ' if ok else 'FAILED'} {name}: {detail}")
        if not ok:
            missed.append(f"{name}: {detail}")

    print("\ninvariants")
    states = {e.public_id: e.state for e in envs}
    wrong = {pid: f"{states.get(pid)} (asked {want})" for pid, want in soak.want.items() if states.get(pid) != want}
    invariant(
        "final state is what the last operation asked",
        not wrong,
        f"{len(soak.want) - len(wrong)}/{len(soak.want)} as asked"
        + (f"; wrong: {dict(list(wrong.items())[:6])}" if wrong else ""),
    )
    orphaned, missing, duplicated, leaked, counts = check_objects(soak.sim, envs)
    invariant(
        "no namespace orphaned",
        not orphaned and not missing,
        f"{len(orphaned)} orphaned, {len(missing)} live environments without a namespace"
        + (f": {(orphaned + missing)[:6]}" if orphaned or missing else ""),
    )
    invariant(
        "no object of a deleted environment left",
        not leaked,
        f"{len(leaked)} left" + (f": {leaked[:6]}" if leaked else ""),
    )
    extra_ops = []
    for (kind, pid), asked in soak.kinds.items():
        got = operations.filter(environment__public_id=pid, kind=kind, actor=soak.user).count()
        if got != asked:
            extra_ops.append(f"{kind} {pid}: {got} operations for {asked} requests")
    invariant(
        "no object duplicated",
        not duplicated and not extra_ops,
        f"{sum(counts.values())} objects checked ({counts}); {len(duplicated)} duplicated objects, "
        f"{len(extra_ops)} operation count mismatches"
        + (f": {(duplicated + extra_ops)[:6]}" if duplicated or extra_ops else ""),
    )
    left = list(operations.filter(state__in=ACTIVE).values_list("public_id", "kind", "state", "attempts", "claimed_by"))
    invariant("no operation left queued or running", not left, f"{len(left)} left" + (f": {left[:6]}" if left else ""))
    audited = Counter(
        AuditEvent.objects.filter(actor=soak.user, target_type="environment").values_list("action", "target_id")
    )
    unaudited = {key: (n, audited.get(key, 0)) for key, n in soak.requested.items() if audited.get(key, 0) != n}
    invariant(
        "every action audited once",
        not unaudited,
        f"{sum(soak.requested.values())} requested actions, {sum(audited[k] for k in soak.requested)} audit events"
        + (f"; mismatched (asked, audited): {dict(list(unaudited.items())[:6])}" if unaudited else ""),
    )
    try:
        call_command("audit_verify", stdout=open(os.devnull, "w"))  # noqa: SIM115
        invariant("audit_verify passes", True, f"{AuditEvent.objects.count()} events in the chain")
    except CommandError as exc:
        invariant("audit_verify passes", False, str(exc))
    for line in missed:
        print(f"MISSED: {line}")
    return 1 if missed else 0


def main() -> int:
    return run(parse_args())


if __name__ == "__main__":
    sys.exit(main())
