"""Load: the GraphQL API and the dashboard under concurrent clients, on SQLite and on PostgreSQL.

Starts MicroStax on loopback as it runs in production (the ASGI server, ``DEBUG=false``, a django-q2
worker, kubesim as the cluster), seeds a team with baselines, overlays and isolated environments,
then runs ``--clients`` developers at once for ``--seconds``. Each client has its own user, API token
(GraphQL) and session cookie (dashboard) and repeats a mix of environment list and detail reads,
log tails, creates and overlay creates, pausing a random think time between requests; a few more
hold ``environmentEvents`` subscriptions open throughout. Reported per operation: p50/p95/p99
latency and count; overall throughput; errors (any non-2xx, GraphQL error or payload error).
Also the SQL queries each read runs with the seeded team, so an N+1 shows as a number.

Target: p95 of every read < 100 ms at 50 clients on PostgreSQL, and no errors anywhere.

The default pace is a developer's: a page, a command or a create every 5 s on average (50 clients
then offer about 10 requests a second, creates included). ``--think 1`` is the stress mix (about 40
a second): on a 2-core machine shared by the web processes, the worker, kubesim, PostgreSQL and the
clients themselves, the CPU saturates there, and the report says so. Two web processes by default,
as deployed (one per core). kubesim (a cluster's API server, elsewhere in reality) and the worker
(its own pods in a deployment) run at a lower priority (``--nice 10``; ``--nice 0`` to share equally):
they still use the same two cores, but their bursts — a create provisions a whole namespace — wait
behind the web processes' requests rather than in front of them.

Run: .venv/bin/python tests/bench/bench_load.py [--clients 50] [--seconds 10] [--think 5]
         [--database sqlite|postgres|both] [--web 2] [--nice 10]
PostgreSQL is 127.0.0.1:5432, user postgres (``--server`` to change); a database of its own is
created and dropped; beside it Redis, database 14 of 127.0.0.1:6379 (``--redis``), as production runs.
``--think 0`` gives a closed loop: the saturation throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from microstax.cli.commands import _env_api, env_observe  # noqa: E402  (no Django needed)

READS = ("gql environments", "gql environment", "page list", "page detail")
TARGET_P95_MS = 100.0

# A small web shop: what the seeded baselines run and what clients create.
STACK = """\
name: {name}
routing: {{mode: {mode}, propagateHeader: true}}
services:
  - {{name: db, image: "postgres:16.4", ports: ["5432"], resources: {{cpu: 100m, memory: 128Mi}}}}
  - {{name: cache, image: "redis:7.4", ports: ["6379"], resources: {{cpu: 50m, memory: 64Mi}}}}
  - {{name: api, image: "ghcr.io/shop/api:2.3.1", ports: ["80:8080"], dependsOn: [db, cache],
     resources: {{cpu: 100m, memory: 128Mi}}}}
  - {{name: web, image: "ghcr.io/shop/web:1.9.0", ports: ["80:3000"], expose: true, dependsOn: [api],
     resources: {{cpu: 50m, memory: 64Mi}}}}
  - {{name: worker, image: "ghcr.io/shop/worker:2.3.1", dependsOn: [db, cache],
     resources: {{cpu: 50m, memory: 64Mi}}}}
"""
OVERLAY = """\
name: {name}
routing: {{mode: overlay, overlayId: {name}}}
services:
  - name: api
    image: ghcr.io/shop/api:{name}
"""

# The API as tooling uses it: the CLI's own `env list` and `env get` documents.
LIST_QUERY = env_observe.LIST_QUERY
LIST_VARIABLES = {"team": None, "state": None, "all": False, "after": None}
DETAIL_QUERY = _env_api.ENVIRONMENT_QUERY
LOGS_QUERY = """query($id: ID!) { environmentLogs(id: $id, service: "api", tailLines: 50) { pod line } }"""
CREATE_MUTATION = """mutation($input: CreateEnvironmentInput!) { createEnvironment(input: $input) {
  environment { id state } operation { id } errors { code message } } }"""
OVERLAY_MUTATION = """mutation($input: CreateOverlayInput!) { createOverlay(input: $input) {
  environment { id state } operation { id } errors { code message } } }"""
EVENTS_SUBSCRIPTION = """subscription($id: ID!) { environmentEvents(id: $id) { kind state step outcome } }"""

# The mix, as weights: mostly reads, as a team looking at its environments would do.
MIX = {
    "gql environments": 20,
    "gql environment": 25,
    "page list": 15,
    "page detail": 20,
    "gql logs": 10,
    "page logs": 4,
    "gql create": 3,
    "gql overlay": 3,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


# --- one run: this process is configured for one database ---------------------------------------------------


def _environment(tmp: Path, database_url: str) -> dict[str, str]:
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key_file = tmp / "audit-signing-key.pem"
    key_file.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return {
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "SECRET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "MICROSTAX_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "MICROSTAX_AUDIT_SIGNING_KEY_FILE": str(key_file),
        "MICROSTAX_VAR_DIR": str(tmp),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "MICROSTAX_MAX_ENVIRONMENTS_PER_TEAM": "100000",
        "MICROSTAX_MAX_TEAM_CPU_MILLICORES": "100000000",
        "MICROSTAX_MAX_TEAM_MEMORY_MIB": "100000000",
        "LOG_LEVEL": "WARNING",
    }


class Servers:
    """kubesim, the web process(es) and the worker; each leads its own process group."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp, self.env, self.children = tmp, env, []

    def start(self, name: str, args: list[str], *, nice: int = 0, **kwargs) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        if nice:
            args = ["nice", "-n", str(nice), *args]
        child = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )
        self.children.append((name, child))
        return child

    def check(self) -> None:
        for name, child in self.children:
            if child.poll() is not None:
                tail = (self.tmp / f"{name}.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"{name} exited ({child.returncode}):\n{tail}")

    def cpu_seconds(self, prefix: str) -> float:
        """CPU time used so far by the children named ``prefix``… and their own children."""
        total = 0.0
        for name, child in self.children:
            if name.startswith(prefix):
                group = child.pid
                for stat in Path("/proc").glob("[0-9]*/stat"):
                    try:
                        fields = stat.read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    if int(fields[2]) == group:  # the process group (each child leads its own)
                        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self) -> None:
        import signal

        for _, child in self.children:
            try:
                os.killpg(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for _, child in self.children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


def _wait_http(url: str, seconds: float, servers: Servers) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        servers.check()
        try:
            urllib.request.urlopen(url, timeout=2).read()  # noqa: S310 - loopback
            return
        except urllib.error.HTTPError:
            return  # answering at all is enough
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer within {seconds:.0f} s") from None
            time.sleep(0.2)


def seed(*, clients: int, environments: int, kubeconfig: str):
    """The team, one developer per client (token and session), and the seeded environments."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from environments import actions
    from environments.models import Environment, TeamPolicy
    from microstax.teams import actions as team_actions

    User = get_user_model()
    admin = User.objects.create_superuser("admin", password="bench-password-1")
    team = team_actions.create_team(actor=admin, slug="shop", name="Shop")
    TeamPolicy.objects.update_or_create(
        team=team,
        defaults={
            "max_environments": 100_000,
            "max_cpu_millicores": 10**8,
            "max_memory_mib": 10**8,
            "max_pods_per_environment": 1000,
        },
    )
    actions.register_cluster(
        actor=admin,
        name="sandbox",
        kubeconfig=kubeconfig,
        kind="sandbox",
        ingress_domain="bench.localhost",
        is_default=True,
    )
    people = []
    for i in range(clients):
        user = User.objects.create_user(f"dev{i}", password="bench-password-1")
        team_actions.add_team_member(actor=admin, team=team, username=user.username, role="developer")
        _, secret = team_actions.create_api_token(actor=user, name="bench")
        browser = Client(HTTP_HOST="localhost")
        browser.force_login(user)
        people.append({"token": secret, "session": browser.cookies["sessionid"].value})
    # A third baselines, the rest overlays of them, plus a few isolated environments.
    baselines = max(1, environments // 3)
    isolated = max(1, environments // 10)
    owner = User.objects.get(username="dev0")
    made = [
        actions.create_environment(  # baselines need a maintainer or the owner
            actor=admin, team=team, source=STACK.format(name=f"base-{i}", mode="baseline"), name=f"base-{i}"
        )
        for i in range(baselines)
    ]
    for i in range(isolated):
        made.append(
            actions.create_environment(
                actor=owner, team=team, source=STACK.format(name=f"iso-{i}", mode="isolated"), name=f"iso-{i}"
            )
        )
    for i in range(environments - baselines - isolated):
        base = Environment.objects.get(pk=made[i % baselines].pk)  # provisioned since (tasks run inline)
        made.append(actions.create_overlay(actor=owner, base=base, source=OVERLAY.format(name=f"seed-ov-{i}")))
    states = dict(Environment.objects.values_list("public_id", "state"))
    not_ready = {k: v for k, v in states.items() if v != "ready"}
    assert not not_ready, f"seeded environments not ready: {not_ready}"
    base_ids = [env.public_id for env in made[:baselines]]
    return team, people, [env.public_id for env in made], base_ids


def read_query_counts(env_ids: list[str]) -> dict[str, int]:
    """SQL queries per read, in-process, with the seeded team (an N+1 would scale with it)."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user = get_user_model().objects.get(username="dev0")
    browser = Client(HTTP_HOST="localhost")
    browser.force_login(user)
    env_id = env_ids[-1]  # an overlay: lineage, plan and its base

    def gql(query: str, variables: dict):
        return browser.post("/graphql", {"query": query, "variables": variables}, content_type="application/json")

    calls = {
        "gql environments": lambda: gql(LIST_QUERY, LIST_VARIABLES),
        "gql environment": lambda: gql(DETAIL_QUERY, {"id": env_id, "last": 20}),
        "page list": lambda: browser.get("/environments/"),
        "page detail": lambda: browser.get(f"/environments/{env_id}/"),
    }
    counts = {}
    for name, call in calls.items():
        call()  # warm: session, content types, touch_activity
        with CaptureQueriesContext(connection) as queries:
            response = call()
        assert response.status_code == 200, (name, response.status_code)
        counts[name] = len(queries)
    return counts


class Recorder:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)

    def ok(self, name: str, seconds: float) -> None:
        self.latencies[name].append(seconds)

    def error(self, name: str, message: str) -> None:
        self.errors[name].append(message[:300])


async def run_clients(
    *, bases: list[str], env_ids: list[str], people: list[dict], team_id: str, args, recorder: Recorder
) -> float:
    import aiohttp

    ports = args.ports
    rng = random.Random(1)
    names, weights = list(MIX), list(MIX.values())
    counter = iter(range(10**9))
    deadline = time.monotonic() + args.seconds
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)

    async def client(index: int, person: dict, session: aiohttp.ClientSession) -> None:
        base_url = f"http://127.0.0.1:{ports[index % len(ports)]}"
        token = {"Authorization": f"Bearer {person['token']}"}
        cookies = {"Cookie": f"sessionid={person['session']}"}
        await asyncio.sleep(rng.random() * max(args.think, 0.05))  # don't all start in one instant

        async def gql(query: str, variables: dict) -> tuple[int, dict]:
            async with session.post(
                f"{base_url}/graphql", json={"query": query, "variables": variables}, headers=token
            ) as r:
                return r.status, await r.json(content_type=None)

        async def page(path: str) -> int:
            async with session.get(f"{base_url}{path}", headers=cookies, allow_redirects=False) as r:
                await r.read()
                return r.status

        while time.monotonic() < deadline:
            name = rng.choices(names, weights)[0]
            env_id = rng.choice(env_ids)
            started = time.perf_counter()
            try:
                problem = None
                if name.startswith("gql"):
                    n = next(counter)
                    if name == "gql environments":
                        status, body = await gql(LIST_QUERY, LIST_VARIABLES)
                    elif name == "gql environment":
                        status, body = await gql(DETAIL_QUERY, {"id": env_id, "last": 20})
                    elif name == "gql logs":
                        status, body = await gql(LOGS_QUERY, {"id": env_id})
                    elif name == "gql create":
                        source = STACK.format(name=f"load-{index}-{n}", mode="isolated")
                        status, body = await gql(CREATE_MUTATION, {"input": {"team": team_id, "yaml": source}})
                    else:
                        source = OVERLAY.format(name=f"load-ov-{index}-{n}")
                        status, body = await gql(
                            OVERLAY_MUTATION, {"input": {"base": rng.choice(bases), "yaml": source}}
                        )
                    if status != 200 or body.get("errors"):
                        problem = f"{status} {json.dumps(body)[:200]}"
                    else:
                        payload = next(iter(body["data"].values()))
                        if name == "gql environment" and payload is None:
                            problem = f"environment {env_id} not found"
                        elif isinstance(payload, dict) and payload.get("errors"):
                            problem = json.dumps(payload["errors"])
                        elif isinstance(payload, dict) and "environment" in payload:
                            env_ids.append(payload["environment"]["id"])  # later reads see new ones too
                else:
                    path = {
                        "page list": "/environments/",
                        "page detail": f"/environments/{env_id}/",
                        "page logs": f"/environments/{env_id}/logs/?service=api&lines=50",
                    }[name]
                    status = await page(path)
                    if status != 200:
                        problem = f"{status} {path}"
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            elapsed = time.perf_counter() - started
            if problem:
                recorder.error(name, problem)
            else:
                recorder.ok(name, elapsed)
            if args.think > 0:  # but not past the end, which would stretch the measured time
                await asyncio.sleep(min(rng.expovariate(1 / args.think), max(0.0, deadline - time.monotonic())))

    async def subscriber(index: int, person: dict, session: aiohttp.ClientSession) -> None:
        """Hold an environmentEvents subscription open for the whole run."""
        url = f"ws://127.0.0.1:{ports[index % len(ports)]}/graphql"
        started = time.perf_counter()
        try:
            async with session.ws_connect(
                url, protocols=("graphql-transport-ws",), headers={"Authorization": f"Bearer {person['token']}"}
            ) as ws:
                await ws.send_json({"type": "connection_init", "payload": {}})
                ack = await ws.receive_json(timeout=10)
                if ack.get("type") != "connection_ack":
                    raise RuntimeError(f"no ack: {ack}")
                await ws.send_json(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": EVENTS_SUBSCRIPTION, "variables": {"id": env_ids[index % len(env_ids)]}},
                    }
                )
                events = 0
                while time.monotonic() < deadline:
                    try:
                        # wait_for, not receive's own timeout: that one does not cover a close handshake.
                        message = await asyncio.wait_for(ws.receive_json(), max(0.1, deadline - time.monotonic()))
                    except TimeoutError:
                        break
                    if message.get("type") == "next" and not message["payload"].get("errors"):
                        if events == 0:
                            recorder.ok("subscription first event", time.perf_counter() - started)
                        events += 1
                    elif message.get("type") in ("error", "complete") or message["payload"].get("errors"):
                        raise RuntimeError(json.dumps(message)[:300])
                if events == 0:
                    raise RuntimeError("no event received")
                recorder.ok("subscription held", time.perf_counter() - started)
                await ws.send_json({"id": "1", "type": "complete"})
        except (aiohttp.ClientError, RuntimeError, TimeoutError, ValueError) as exc:
            recorder.error("subscription held", f"{type(exc).__name__}: {exc}")

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.monotonic()
        tasks = [client(i, p, session) for i, p in enumerate(people[: args.clients])]
        tasks += [subscriber(i, people[i % len(people)], session) for i in range(args.subscriptions)]
        tasks = [asyncio.ensure_future(task) for task in tasks]
        # Every request has a 30 s timeout; a client still busy well past the end is stuck: say where.
        done, pending = await asyncio.wait(tasks, timeout=args.seconds + 60)
        for task in pending:
            task.print_stack(limit=8)
            task.cancel()
        if pending:
            raise SystemExit(f"{len(pending)} clients were stuck at the end (stacks above)")
        for task in done:
            task.result()
        return time.monotonic() - started


def own_database(args, tmp: Path, label: str) -> tuple[str, tuple | None]:
    """The run's own database: a SQLite file under ``tmp``, or a fresh PostgreSQL database together
    with the admin connection that drops it (``drop_database``)."""
    if args.database != "postgres":
        return f"sqlite:///{tmp / f'{label}.sqlite3'}", None
    import psycopg

    name = f"microstax_bench_{label}_{os.getpid()}"
    admin = psycopg.connect(args.server + "postgres", autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    return args.server + name, (admin, name)


def drop_database(admin_db: tuple | None) -> None:
    if admin_db is not None:
        admin_db[0].execute(f'DROP DATABASE IF EXISTS "{admin_db[1]}" WITH (FORCE)')
        admin_db[0].close()


def one_database(args) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    database_url, admin_db = own_database(args, tmp, "load")
    env = {**os.environ, **_environment(tmp, database_url), "PYTHONPATH": str(ROOT)}
    env["DB_CONN_MAX_AGE"] = str(args.conn_max_age)
    if args.conn_max_age:
        env["DB_POOL_MAX_SIZE"] = "0"  # the two exclude each other
    # PostgreSQL runs as production does, with Redis (cache, throttling, channel layer, task broker);
    # SQLite as the embedded default, without.
    redis_client = None
    if args.database == "postgres" and args.redis:
        import redis

        env["REDIS_URL"] = args.redis
        redis_client = redis.Redis.from_url(args.redis)
        redis_client.flushdb()
    else:
        env.pop("REDIS_URL", None)
    os.environ.update(env)
    # This process seeds through the test settings (tasks run synchronously here, against the same
    # kubesim); the server and the worker run the production settings.
    os.environ["DJANGO_SETTINGS_MODULE"] = "microstax.settings_test"
    env["DJANGO_SETTINGS_MODULE"] = "microstax.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import logging

    from django.core.management import call_command

    logging.getLogger("django-q").setLevel(logging.WARNING)  # the inline tasks of the seeding

    servers = Servers(tmp, env)
    try:
        call_command("migrate", verbosity=0)
        kubeconfig = tmp / "kubesim.kubeconfig"
        manage = [sys.executable, "manage.py"]
        servers.start(
            "kubesim",
            [*manage, "kubesim", "--port", "0", "--instant", "--kubeconfig-out", str(kubeconfig)],
            nice=args.nice,
        )
        deadline = time.monotonic() + 30
        while not kubeconfig.exists():
            servers.check()
            if time.monotonic() > deadline:
                raise SystemExit("kubesim did not start")
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written before the first byte is flushed

        started = time.perf_counter()
        team, people, env_ids, bases = seed(
            clients=max(args.clients, args.subscriptions),
            environments=args.environments,
            kubeconfig=kubeconfig.read_text(),
        )
        print(f"seeded {len(env_ids)} environments ({len(bases)} baselines) in {time.perf_counter() - started:.1f} s")
        queries = read_query_counts(env_ids)
        from django.db import connections

        connections.close_all()

        # The web process(es) share one listening socket, as behind a Service; the worker runs beside.
        port = _free_port()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(1024)
        for i in range(args.web):
            servers.start(
                f"web{i}",
                [
                    str(Path(sys.executable).parent / "daphne"),
                    "-v",
                    "0",
                    "--fd",
                    str(listener.fileno()),
                    "microstax.asgi:application",
                ],
                pass_fds=(listener.fileno(),),
            )
        servers.start("worker", [*manage, "qcluster"], nice=args.nice)
        args.ports = [port]
        _wait_http(f"http://127.0.0.1:{port}/login/", 60, servers)
        # Warm every web process (imports, URL resolver, first connection) outside the measurement.
        import urllib.request

        for _ in range(4 * args.web):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=10).read()  # noqa: S310

        recorder = Recorder()
        parts = ("web", "worker", "kubesim")
        cpu_before = {part: servers.cpu_seconds(part) for part in parts}
        clients_before = time.process_time()
        load_before = os.getloadavg()
        elapsed = asyncio.run(
            run_clients(
                bases=bases, env_ids=list(env_ids), people=people, team_id=team.public_id, args=args, recorder=recorder
            )
        )
        load_after = os.getloadavg()
        cpu = {part: servers.cpu_seconds(part) - cpu_before[part] for part in parts}
        cpu["clients (this process)"] = time.process_time() - clients_before
        servers.check()
        return report(args, recorder, elapsed, queries, load_before, load_after, cpu)
    finally:
        servers.stop()
        from django.db import connections

        connections.close_all()
        drop_database(admin_db)
        if redis_client is not None:
            redis_client.flushdb()


def report(args, recorder: Recorder, elapsed: float, queries: dict, load_before, load_after, cpu: dict) -> int:
    requests = sum(len(v) for k, v in recorder.latencies.items() if not k.startswith("subscription"))
    errors = sum(len(v) for v in recorder.errors.values())
    print(
        f"\n{args.database}: {args.clients} clients (think {args.think:g} s), {args.subscriptions} subscriptions, "
        f"{args.web} web process(es), kubesim and worker at nice {args.nice}, {elapsed:.1f} s; "
        f"load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after (cpus {os.cpu_count()})"
    )
    print(
        f"{'operation':<26} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'errors':>6} {'SQL':>4}"
    )
    missed = []
    for name in [*MIX, "subscription first event", "subscription held"]:
        values = sorted(recorder.latencies.get(name, []))
        failed = len(recorder.errors.get(name, []))
        if not values and not failed:
            continue
        ms = [_percentile(values, q) * 1000 for q in (50, 95, 99, 100)]
        print(
            f"{name:<26} {len(values):>6} {ms[0]:>8.1f} {ms[1]:>8.1f} {ms[2]:>8.1f} {ms[3]:>8.1f} {failed:>6} "
            f"{queries.get(name, ''):>4}"
        )
        if name in READS and args.database == "postgres" and ms[1] >= TARGET_P95_MS:
            missed.append(f"{name} p95 {ms[1]:.0f} ms ≥ {TARGET_P95_MS:.0f} ms")
    print(f"throughput: {requests / elapsed:.1f} requests/s, errors: {errors}")
    print(
        "CPU used: "
        + ", ".join(f"{part} {seconds / elapsed:.0%} of a core" for part, seconds in cpu.items())
        + f"; web {cpu['web'] * 1000 / max(requests, 1):.1f} ms per request"
    )
    for name, messages in recorder.errors.items():
        for message in messages[:3]:
            print(f"  error {name}: {message}")
    if errors:
        missed.append(f"{errors} errors")
    for line in missed:
        print(f"MISSED: {line}")
    return 1 if missed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--think", type=float, default=5.0, help="mean pause between a client's requests (s)")
    parser.add_argument("--subscriptions", type=int, default=5)
    parser.add_argument("--environments", type=int, default=50, help="seeded environments")
    parser.add_argument("--web", type=int, default=2, help="web processes sharing the port")
    parser.add_argument(
        "--nice",
        type=int,
        default=10,
        help="niceness of kubesim and the worker: kubesim stands in for a cluster's API server, which runs "
        "elsewhere, and the worker for pods with CPU of their own; 0 lets them compete with the web processes",
    )
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=0,
        help="DB_CONN_MAX_AGE of the server instead of its connection pool (under ASGI each request runs on a "
        "thread of its own, so a persistent connection is kept idle rather than reused)",
    )
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/14",
        help="Redis beside PostgreSQL, a database of its own (flushed); '' runs PostgreSQL without Redis",
    )
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/")
    args = parser.parse_args()
    if args.database != "both":
        return one_database(args)
    # One process per database: Django is configured once per process.
    status = 0
    for database in ("sqlite", "postgres"):
        argv = [a for a in sys.argv[1:]]
        if "--database" in argv:
            i = argv.index("--database")
            del argv[i : i + 2]
        status |= subprocess.call([sys.executable, __file__, *argv, "--database", database])
    return status


if __name__ == "__main__":
    sys.exit(main())
