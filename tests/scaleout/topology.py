"""The scale-out topology on loopback: PostgreSQL, Redis, kubesim, two web and two worker processes.

Every process is a child in its own process group (so stopping it also stops what it forked:
django-q's worker processes), with stdout and stderr captured to a file per process that a failing
test prints. The database is a fresh one on the PostgreSQL server of ``DATABASE_URL``; the Redis
database is a fixed number, flushed before and after.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
import yaml

ROOT = Path(__file__).resolve().parents[2]
# A Redis database number no other test uses (tests/test_redis_backends.py takes 14).
REDIS_DB = 12
# The line a django-q2 cluster logs once its guard loop runs, with the time (logging's local asctime).
QCLUSTER_RUNNING = re.compile(r"^(\S+ \S+) INFO django-q Q Cluster \S+ (?:\[\S+\] )?running", re.MULTILINE)
DAPHNE_LISTENING = re.compile(r"Listening on TCP address 127\.0\.0\.1:(\d+)")


def unavailable(database_url: str | None, redis_url: str) -> str | None:
    """Why the topology cannot run here, or None when PostgreSQL and Redis both answer."""
    if not database_url or urlsplit(database_url).scheme not in ("postgres", "postgresql"):
        return (
            "the scale-out topology runs on the PostgreSQL pass: DATABASE_URL does not point at PostgreSQL "
            "(set DATABASE_URL=postgres://postgres@127.0.0.1:5432/microstax)"
        )
    try:
        psycopg.connect(_with_database(database_url, "postgres"), connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at {urlsplit(database_url).netloc} is unreachable: {str(exc).strip()[:200]}"
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return f"Redis at {redis_url} is unreachable: {exc}"
    return None


def redis_url_for_tests() -> str:
    """Redis's host and port from ``REDIS_URL`` (default 127.0.0.1:6379), with our own database number."""
    parts = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379")
    return urlunsplit((parts.scheme, parts.netloc, f"/{REDIS_DB}", "", ""))


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        return self.popen.poll() is None


class Topology:
    """Start, query and stop the processes; ``stop`` is safe to call whatever state set-up reached."""

    def __init__(self, *, workdir: Path, database_server_url: str, redis_url: str) -> None:
        self.workdir = workdir
        self.database_name = f"msx_scaleout_{secrets.token_hex(4)}"
        self.admin_url = _with_database(database_server_url, "postgres")
        self.database_url = _with_database(database_server_url, self.database_name)
        self.redis_url = redis_url
        self.processes: list[Process] = []
        self.web: list[str] = []  # base URLs of web A and web B
        self.workers: list[Process] = []
        self.workers_ready: list[float] = []  # when each worker's guard loop started (epoch seconds)
        self.kubeconfig = workdir / "kubesim.kubeconfig"
        self.token = ""
        self.team_id = ""
        self._created_database = False
        self.timings: dict[str, float] = {}  # seconds from the start of set-up to the end of each phase
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MICROSTAX_", "Q_CLUSTER"))},
            "DJANGO_SETTINGS_MODULE": "microstax.settings",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "DEBUG": "true",
            "SECRET_KEY": "microstax-scaleout-test",
            "MICROSTAX_VAR_DIR": str(workdir / "var"),
            "MICROSTAX_WORKERS": "2",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
        }

    # -- set-up -----------------------------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        redis.Redis.from_url(self.redis_url).flushdb()
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database_name}"')
        self._created_database = True
        # The cluster starts while the schema is migrated; bootstrap needs both.
        kubesim = self.spawn(
            "kubesim", "manage.py", "kubesim", "--port", "0", "--instant", "--kubeconfig-out", str(self.kubeconfig)
        )
        self.run("migrate", "manage.py", "migrate", "--no-input", "-v", "0")
        self.timings["migrate"] = time.monotonic() - started
        # Web and worker processes start while bootstrap runs: neither touches the database until asked.
        webs = [
            self.spawn(f"web-{x}", "-m", "daphne", "-b", "127.0.0.1", "-p", "0", "microstax.asgi:application")
            for x in "ab"
        ]
        self.workers = [self.spawn(f"worker-{x}", "manage.py", "qcluster") for x in "ab"]
        self.wait_until(lambda: self.kubeconfig.exists(), 30, "kubesim to write its kubeconfig", kubesim)
        # Admin, demo team, token, the fleet and checkpoint schedules, the sandbox cluster; this also
        # generates the audit signing key, before any request or task could race to create it.
        out = self.run("bootstrap", "manage.py", "bootstrap_demo", "--sandbox-kubeconfig", str(self.kubeconfig)).stdout
        self.token = re.search(r"API token\s+(msx_\S+)", out).group(1)
        self.team_id = re.search(r"Demo team\s+demo \((\S+)\)", out).group(1)
        self.timings["bootstrap"] = time.monotonic() - started
        for web in webs:
            port = self.wait_until(lambda web=web: DAPHNE_LISTENING.search(web.output()), 60, f"{web.name}", web)
            self.web.append(f"http://127.0.0.1:{port.group(1)}")
        for worker in self.workers:
            running = self.wait_until(lambda w=worker: QCLUSTER_RUNNING.search(w.output()), 60, worker.name, worker)
            # Its guard loop starts now, and calls the scheduler every 30 s from here.
            self.workers_ready.append(datetime.strptime(running.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp())
        self.timings["processes"] = time.monotonic() - started

    def spawn(self, name: str, *args: str) -> Process:
        log = self.workdir / f"{name}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stopped with everything it forks
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def run(self, name: str, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        (self.workdir / f"{name}.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def wait_until(self, condition: Callable[[], Any], seconds: float, what: str, process: Process | None = None):
        deadline = time.monotonic() + seconds
        while True:
            value = condition()
            if value:
                return value
            if process is not None and not process.alive():
                raise RuntimeError(f"{process.name} exited ({process.popen.returncode}) while waiting for {what}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {seconds:.0f} s waiting for {what}")
            time.sleep(0.2)

    # -- tear-down --------------------------------------------------------------------------------

    def stop(self) -> None:
        started = time.monotonic()
        for process in self.processes:
            _signal(process, signal.SIGTERM)
        # A short grace: the data is thrown away, and a worker may still be finishing a task.
        deadline = time.monotonic() + 5
        for process in self.processes:
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal(process, signal.SIGKILL)  # whatever of the group is still there
        self.timings["stop processes"] = time.monotonic() - started
        try:
            redis.Redis.from_url(self.redis_url).flushdb()
        except redis.RedisError:
            pass
        if self._created_database:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')
            self._created_database = False
        self.timings["drop database"] = time.monotonic() - started

    def logs(self) -> str:
        """Every process's output (the tail of long ones), for a failing test's report."""
        parts = []
        for log in sorted(self.workdir.glob("*.log")):
            text = log.read_text(errors="replace")
            parts.append(f"===== {log.stem} =====\n{text[-6000:]}")
        return "\n".join(parts)

    # -- talking to it ----------------------------------------------------------------------------

    def graphql(self, web: int, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.web[web]}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"web {'AB'[web]}: HTTP {exc.code}: {exc.read()[:500]!r}") from None
        assert not body.get("errors"), body
        return body["data"]

    def sql(self, query: str, params: tuple | dict = ()) -> list[tuple]:
        """Read the deployment's database directly (the test process's Django uses its own test DB)."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def kube(self, path: str) -> bytes:
        """GET from kubesim with the sandbox's credentials."""
        config = yaml.safe_load(self.kubeconfig.read_text())
        server = config["clusters"][0]["cluster"]["server"]
        token = config["users"][0]["user"]["token"]
        request = urllib.request.Request(server + path, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()


def _signal(process: Process, sig: int) -> None:
    try:
        os.killpg(process.popen.pid, sig)
    except ProcessLookupError:
        pass
