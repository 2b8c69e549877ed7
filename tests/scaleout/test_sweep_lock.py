"""The fleet sweep runs alone: a sweep that finds another one running does nothing, and two sweeps
started together act once on each environment (on SQLite and on PostgreSQL alike)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from environments import actions
from environments.fleet import TTL_WARNING_ACTION, sweep, sweep_lock
from environments.models import Environment, Operation

pytestmark = pytest.mark.django_db(transaction=True)

BLUEPRINT = """\
name: old
ttl: 8h
services:
  - name: web
    image: nginx:1.27-alpine
    ports: ["80"]
"""


@pytest.fixture
def expired(team, owner, sandbox_cluster):
    """Three ready environments whose TTL ran out a minute ago."""
    envs = [actions.create_environment(actor=owner, team=team, source=BLUEPRINT, name=f"old-{i}") for i in range(3)]
    Environment.objects.filter(pk__in=[e.pk for e in envs]).update(expires_at=timezone.now() - timedelta(minutes=1))
    return envs


class LockHolder(threading.Thread):
    """Holds the sweep lock from another thread (its own database connection) until released."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.taken = threading.Event()
        self.release = threading.Event()
        self.held: bool | None = None

    def run(self) -> None:
        try:
            with sweep_lock() as held:
                self.held = held
                self.taken.set()
                self.release.wait(30)
        finally:
            self.taken.set()
            connection.close()


def _deletes(env: Environment) -> tuple[int, int]:
    operations = Operation.objects.filter(environment=env, kind="delete").count()
    events = AuditEvent.objects.filter(action="environment.delete", target_id=env.public_id).count()
    return operations, events


def test_the_lock_is_taken_by_one_holder_at_a_time():
    holder = LockHolder()
    holder.start()
    try:
        assert holder.taken.wait(10) and holder.held is True
        with sweep_lock() as held:
            assert held is False
    finally:
        holder.release.set()
        holder.join(10)
    with sweep_lock() as held:
        assert held is True  # released with its holder


def test_a_sqlite_file_database_is_locked_with_a_file_beside_it(tmp_path, monkeypatch):
    if connection.vendor != "sqlite":
        pytest.skip("the file lock is the SQLite fallback")
    # given the embedded database on disk (the suite's own is in memory)
    monkeypatch.setitem(connection.settings_dict, "NAME", str(tmp_path / "microstax.sqlite3"))
    monkeypatch.setattr(connection, "is_in_memory_db", lambda: False)
    with sweep_lock() as first:
        # a second open file description, as another process would have, does not get it
        with sweep_lock() as second:
            assert (first, second) == (True, False)
    assert (tmp_path / "microstax.sqlite3.fleet-sweep.lock").exists()
    with sweep_lock() as again:
        assert again is True


def test_a_sweep_finds_another_running_and_does_nothing(expired):
    # given another sweep holding the lock
    holder = LockHolder()
    holder.start()
    try:
        assert holder.taken.wait(10) and holder.held is True
        # when a second sweep starts
        report = sweep()
    finally:
        holder.release.set()
        holder.join(10)
    # then it says so and touched nothing
    assert report.busy is True and sum(report.counts().values()) == 0
    assert "another fleet sweep was running" in report.summary()
    assert all(_deletes(env) == (0, 0) for env in expired)
    # and once the lock is free, the next sweep does the work
    later = sweep()
    assert later.busy is False and len(later.expired) == 3
    assert all(_deletes(env) == (1, 1) for env in expired)


def test_a_dry_run_needs_no_lock(expired):
    holder = LockHolder()
    holder.start()
    try:
        assert holder.taken.wait(10)
        report = sweep(dry_run=True)
    finally:
        holder.release.set()
        holder.join(10)
    assert report.busy is False and len(report.expired) == 3


@pytest.fixture
def expiring(team, owner, sandbox_cluster):
    """Two ready environments that expire in 20 minutes: inside the TTL warning window."""
    envs = [actions.create_environment(actor=owner, team=team, source=BLUEPRINT, name=f"soon-{i}") for i in range(2)]
    Environment.objects.filter(pk__in=[e.pk for e in envs]).update(expires_at=timezone.now() + timedelta(minutes=20))
    return envs


def test_two_sweeps_started_together_act_once_on_each_environment(expired, expiring):
    # given two sweeps released at the same instant from two threads (two database connections)
    start = threading.Barrier(2)
    reports, errors = [], []

    def run() -> None:
        try:
            start.wait(10)
            reports.append(sweep())
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # then between them each expired environment was deleted once: one operation, one audit event
    assert not errors, errors
    assert sorted(f.id for r in reports for f in r.expired) == sorted(e.public_id for e in expired)
    assert all(_deletes(env) == (1, 1) for env in expired)
    assert all(env.state == "deleted" for env in Environment.objects.filter(pk__in=[e.pk for e in expired]))
    # and each environment about to expire was warned once (warnings are read, then written: the race
    # the lock closes, since the lifecycle actions' guarded transitions do not cover it)
    warnings = AuditEvent.objects.filter(action=TTL_WARNING_ACTION).values_list("target_id", flat=True)
    assert sorted(warnings) == sorted(e.public_id for e in expiring)
