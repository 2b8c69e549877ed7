"""Fixtures for the snapshot interfaces: a provisioned environment, ready snapshots made as rows
(capture on the sandbox completes its Job without a real agent), policies, and artifact storage
in a temporary directory."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from environments import actions as env_actions
from snapshots.models import SanitizationPolicy, Snapshot, SnapshotRestore, SnapshotState
from tests.environments.test_lifecycle import STACK

POLICY = """\
name: shop-dev
salt: 0123456789abcdef
tables:
  include: ["*"]
rules:
  - {table: customers, column: email, strategy: fake, kind: email}
  - {table: customers, column: phone, strategy: mask, keepLast: 2}
"""

# Line 4: a misspelt parameter; line 5: a strategy that does not exist.
BAD_POLICY = """\
name: shop-dev
rules:
  - {table: customers, column: email, strategy: fake, kind: email}
  - {table: customers, column: phone, strategy: mask, keepLst: 2}
  - {table: customers, column: ssn, strategy: shred}
"""

ARTIFACT = b"MSXSNAP\x00" + b"sanitized rows\n" * 64


@pytest.fixture(autouse=True)
def snapshot_storage(settings, tmp_path):
    """Artifacts go to a temporary directory, never to the project's var/."""
    settings.MICROSTAX_SNAPSHOT_STORAGE_URL = f"file://{tmp_path / 'snapshots'}"
    return tmp_path / "snapshots"


@pytest.fixture
def env(team, owner, sandbox_cluster, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return env_actions.create_environment(actor=owner, team=team, source=STACK)


@pytest.fixture
def other_env(other_team, outsider, sandbox_cluster, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return env_actions.create_environment(actor=outsider, team=other_team, source=STACK, name="search-shop")


@pytest.fixture
def policy(team, owner) -> SanitizationPolicy:
    return SanitizationPolicy.objects.create(
        team=team,
        name="shop-dev",
        version=1,
        source=POLICY,
        content_hash=hashlib.sha256(POLICY.encode()).hexdigest(),
        created_by=owner,
    )


def _store(key: str, data: bytes) -> None:
    from snapshots.storage import get_storage

    get_storage().save(key, io.BytesIO(data))


@pytest.fixture
def make_snapshot(owner):
    """A snapshot row as a finished capture leaves it (and its artifact in storage when ready)."""

    def make(env, *, state: str = SnapshotState.READY, sanitized: bool = True, **fields) -> Snapshot:
        now = timezone.now()
        values = {
            "team": env.team,
            "environment": env,
            "service": "db",
            "state": state,
            "sanitized": sanitized,
            "policy_name": "shop-dev",
            "policy_version": "e1e559b14ba9",
            "created_by": owner,
            "expires_at": now + timedelta(days=7),
        }
        if state == SnapshotState.READY:
            values |= {
                "size_bytes": len(ARTIFACT),
                "sha256": hashlib.sha256(ARTIFACT).hexdigest(),
                "row_counts": {"public.customers": 12, "public.orders": 40},
                "storage_backend": "filesystem",
                "completed_at": now,
            }
        values |= fields
        snapshot = Snapshot.objects.create(**values)
        if state == SnapshotState.READY and not snapshot.storage_key:
            snapshot.storage_key = f"{env.team.slug}/{snapshot.public_id}.msxsnap"
            snapshot.save(update_fields=["storage_key"])
            _store(snapshot.storage_key, ARTIFACT)
        return snapshot

    return make


@pytest.fixture
def snapshot(env, make_snapshot, policy) -> Snapshot:
    return make_snapshot(env, policy=policy)


@pytest.fixture
def restored(snapshot, env, owner) -> SnapshotRestore:
    """A finished restore, so the snapshot has lineage to show."""
    return SnapshotRestore.objects.create(
        snapshot=snapshot,
        environment=env,
        service="db",
        state="succeeded",
        requested_by=owner,
        finished_at=timezone.now(),
    )


@pytest.fixture
def developer(team, make_user):
    """A member who uses environments but does not own the team."""
    from microstax.teams import actions
    from microstax.teams.choices import Role

    user = make_user("dana")
    actions.add_team_member(
        actor=team.memberships.get(role=Role.OWNER).user, team=team, username="dana", role=Role.DEVELOPER
    )
    return user


@pytest.fixture
def bridge(team, other_team, owner, outsider, make_user):
    """A developer of both teams: the one who could carry data from one to the other."""
    from microstax.teams import actions
    from microstax.teams.choices import Role

    user = make_user("bea")
    actions.add_team_member(actor=owner, team=team, username="bea", role=Role.DEVELOPER)
    actions.add_team_member(actor=outsider, team=other_team, username="bea", role=Role.DEVELOPER)
    return user
