"""The PostgreSQL connection pool and django-q2's forked workers: a child never uses its parent's
pooled connections, and the parent's connections survive the child's exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json, os, sys
import django
django.setup()
from django.db import connection

def backend_pid():
    with connection.cursor() as cursor:
        cursor.execute("select pg_backend_pid()")
        return cursor.fetchone()[0]

parent = backend_pid()
connection.close()  # back into the pool, still open: what a forked worker inherits
read, write = os.pipe()
child = os.fork()
if child == 0:
    os.close(read)
    mine = backend_pid()
    connection.close()
    os.write(write, json.dumps(mine).encode())
    sys.exit(0)  # a normal exit: the interpreter's clean-up runs, as when django-q2 recycles a worker
os.close(write)
child_pid = json.loads(os.read(read, 100))
os.waitpid(child, 0)
again = backend_pid()
print(json.dumps({"parent": parent, "child": child_pid, "again": again}))
"""


def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents_alone():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "microstax.settings",
        "DEBUG": "true",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        "DB_POOL_MAX_SIZE": "1",  # one connection: "again" can only be the same one or a new one
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DB_CONN_MAX_AGE", None)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    pids = json.loads(result.stdout.strip().splitlines()[-1])
    # The child's queries ran on a session of its own, not on the socket it inherited,
    assert pids["child"] != pids["parent"]
    # and the parent's pooled session is the same one, still working after the child exited.
    assert pids["again"] == pids["parent"]
