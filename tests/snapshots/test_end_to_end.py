"""The whole path on PostgreSQL: kubesim runs the capture and restore Jobs through an executor that
runs the real agent, which uploads to and downloads from a live server.

SQLite cannot serve the live server's thread and the test's at once (an in-memory test database
is per connection), so these tests need PostgreSQL (``DATABASE_URL=postgres://…``).
"""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from audit.models import AuditEvent
from microstax.lib.errors import PermissionDenied
from microstax.teams import actions as team_actions
from microstax.teams.choices import Role
from snapshots import actions
from snapshots.models import SnapshotState
from snapshots.storage import get_storage
from tests.snapshots_agent.pii import POLICY_YAML, customer_rows, populate

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: the live server and the test share committed data across threads",
    ),
    pytest.mark.django_db(transaction=True),
]

CUSTOMERS = 40


def rows(dsn: str, sql: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def source(provision, owner, team, agent_executor, make_database):
    """A ready environment whose database service is a real PostgreSQL database full of PII."""
    env = provision(owner, team)
    dsn = make_database("source")
    populate(dsn, CUSTOMERS)
    agent_executor.databases[env.namespace] = dsn
    return env, dsn


@pytest.fixture
def policy(owner, team):
    return actions.create_policy(actor=owner, team=team, name="shop-dev", source=POLICY_YAML)


def capture(owner, env, policy, capture_callbacks):
    with capture_callbacks(execute=True):
        snapshot = actions.create_snapshot(actor=owner, env=env, policy=policy)
    snapshot.refresh_from_db()
    return snapshot


def test_a_sanitized_snapshot_is_captured_stored_and_restored_into_a_new_environment(
    source, policy, owner, team, provision, agent_executor, django_capture_on_commit_callbacks
) -> None:
    env, source_dsn = source

    # when: the capture Job runs the agent, which uploads to the control plane
    snapshot = capture(owner, env, policy, django_capture_on_commit_callbacks)

    # then: the snapshot is ready, described by its manifest, with no PII in the stored bytes
    assert snapshot.state == SnapshotState.READY, (snapshot.state_reason, agent_executor.runs)
    assert snapshot.sanitized and len(snapshot.sha256) == 64 and snapshot.size_bytes > 0
    assert snapshot.row_counts["public.customers"] == CUSTOMERS
    assert snapshot.row_counts["public.accounts"] == CUSTOMERS
    assert snapshot.row_counts["billing.invoices"] == 2 * CUSTOMERS
    assert "public.audit_log" not in snapshot.row_counts
    assert snapshot.policy_version
    with get_storage().open(snapshot.storage_key) as handle:
        stored = handle.read()
    import hashlib

    assert hashlib.sha256(stored).hexdigest() == snapshot.sha256
    for customer in customer_rows(CUSTOMERS):
        for field in ("email", "full_name", "address"):
            assert customer[field].encode() not in stored, (field, customer[field])
    assert snapshot.operation.steps.filter(outcome="failed").count() == 0

    # when: it is restored into another environment's fresh database
    target = provision(owner, team, name="shop-copy")
    with django_capture_on_commit_callbacks(execute=True):
        restore = actions.restore_snapshot(actor=owner, snapshot=snapshot, env=target)
    restore.refresh_from_db()

    # then: same rows, sanitized, foreign keys joining
    assert restore.state == "succeeded", (restore.state_reason, agent_executor.runs)
    target_dsn = agent_executor.databases[target.namespace]
    count_sql = "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM billing.invoices)"
    assert rows(target_dsn, count_sql) == [(CUSTOMERS, 2 * CUSTOMERS)]
    emails = {r[0] for r in rows(target_dsn, "SELECT email FROM customers")}
    assert emails.isdisjoint({c["email"] for c in customer_rows(CUSTOMERS)})
    joined = rows(
        target_dsn, "SELECT count(*) FROM billing.invoices i JOIN accounts a ON a.username = i.account_username"
    )
    assert joined == [(2 * CUSTOMERS,)]
    assert rows(source_dsn, "SELECT count(*) FROM customers") == [(CUSTOMERS,)]
    assert [run[1][2] for run in agent_executor.runs] == ["capture", "restore"]
    assert AuditEvent.objects.filter(action="snapshot.create").count() == 1
    assert AuditEvent.objects.filter(action="snapshot.restore").count() == 1


def test_replay_recreates_the_environment_and_restores_its_latest_snapshot(
    source, policy, owner, agent_executor, django_capture_on_commit_callbacks
) -> None:
    env, _ = source
    snapshot = capture(owner, env, policy, django_capture_on_commit_callbacks)
    assert snapshot.state == SnapshotState.READY, snapshot.state_reason

    with django_capture_on_commit_callbacks(execute=True):
        replay = actions.replay_environment(actor=owner, env=env)
    replay.refresh_from_db()

    assert replay.state == "ready", replay.state_reason
    restore = replay.restores.get()
    assert (restore.snapshot, restore.state) == (snapshot, "succeeded")
    replay_dsn = agent_executor.databases[replay.namespace]
    assert rows(replay_dsn, "SELECT count(*) FROM customers") == [(CUSTOMERS,)]
    assert AuditEvent.objects.filter(action="environment.replay").count() == 1


def test_an_unsanitized_snapshot_is_kept_only_when_the_policy_says_so_and_never_crosses_teams(
    source, owner, team, outsider, other_team, provision, agent_executor, django_capture_on_commit_callbacks
) -> None:
    env, _ = source
    raw_policy = actions.create_policy(
        actor=owner, team=team, name="raw", source="name: raw\nkeepUnsanitized: true\ntables: {exclude: [audit_*]}\n"
    )
    snapshot = capture(owner, env, raw_policy, django_capture_on_commit_callbacks)
    assert snapshot.state == SnapshotState.READY, snapshot.state_reason
    assert not snapshot.sanitized
    with get_storage().open(snapshot.storage_key) as handle:
        assert customer_rows(1)[0]["email"].encode() in handle.read()

    theirs = provision(outsider, other_team, name="search")
    # the owner may use the other team's environments too, and still cannot take raw data there
    team_actions.add_team_member(actor=outsider, team=other_team, username=owner.username, role=Role.DEVELOPER)
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied, match="another team"):
        actions.restore_snapshot(actor=owner, snapshot=snapshot, env=theirs)
    assert AuditEvent.objects.count() == before and not theirs.restores.exists()


def test_a_capture_refused_by_a_strict_policy_fails_the_snapshot_with_the_agents_reason(
    source, owner, team, agent_executor, django_capture_on_commit_callbacks
) -> None:
    env, _ = source
    strict = actions.create_policy(actor=owner, team=team, name="strict", source="name: strict\nstrict: true\n")
    snapshot = capture(owner, env, strict, django_capture_on_commit_callbacks)
    assert snapshot.state == SnapshotState.FAILED
    assert "capture job did not complete" in snapshot.state_reason
    assert "agent: policy" in snapshot.state_reason and "nothing was done" in snapshot.state_reason
    assert snapshot.storage_key == ""
    env.refresh_from_db()
    assert env.state == "ready"
