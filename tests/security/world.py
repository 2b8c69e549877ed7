"""One populated installation for the authorization matrix, built once per test module.

A team (``payments``) with one member of every role, an outsider owning another team, an auditor
(the ``audit.view_all_events`` permission) and a platform admin; a sandbox cluster on kubesim; a
blueprint, a provisioned isolated environment and a provisioned baseline, a ready snapshot, a
sanitization policy and an API token. Every test of the module runs inside a savepoint on top of
it, so what one call changes is gone before the next.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction
from django.test import TestCase, override_settings
from django.utils import timezone

from audit.models import AuditEvent
from blueprints import actions as blueprint_actions
from environments import actions as env_actions
from microstax.kubesim import KubeSim
from microstax.teams import actions as team_actions
from microstax.teams.choices import Role
from snapshots.models import SanitizationPolicy, Snapshot, SnapshotState
from tests.environments.test_lifecycle import STACK
from tests.fixtures.blueprints import SHOP_V1

EXAMPLES = Path(__file__).resolve().parents[1] / "blueprints" / "examples"
BASELINE = "\n".join(line for line in (EXAMPLES / "shop-baseline.yaml").read_text().splitlines() if "init:" not in line)
OVERLAY = (EXAMPLES / "feat-checkout-overlay.yaml").read_text().replace("  baselineId: env_base_123\n", "")
POLICY = """\
name: payments-pii
salt: 0123456789abcdef
tables:
  include: ["*"]
rules:
  - {table: customers, column: email, strategy: fake, kind: email}
"""
PERSONAS = ("anonymous", "outsider", "viewer", "developer", "maintainer", "owner", "auditor", "admin")
ARTIFACT = b"MSXSNAP\x00" + b"sanitized rows\n" * 64


@dataclass
class World:
    users: dict[str, object]
    team_id: str
    team_slug: str
    other_team_id: str
    cluster_name: str
    kubeconfig: str
    blueprint_id: str
    version_id: str
    env_id: str
    baseline_id: str
    snapshot_id: str
    policy_id: str
    token_id: str
    event_sequence: int
    extra: dict[str, str] = field(default_factory=dict)

    def user(self, persona: str):
        return None if persona == "anonymous" else self.users[persona]


def _user(username: str, **extra):
    return get_user_model().objects.create_user(username=username, password="pw-" + username, **extra)


def _build(sim: KubeSim) -> World:
    owner, viewer, outsider = _user("olivia"), _user("victor"), _user("oscar")
    developer, maintainer, auditor = _user("dana"), _user("mara"), _user("audrey")
    _user("walter")  # a second viewer: the member the matrix's personas try to change or remove
    admin = get_user_model().objects.create_superuser(username="root-admin", password="pw-admin")
    auditor.user_permissions.add(Permission.objects.get(content_type__app_label="audit", codename="view_all_events"))

    team = team_actions.create_team(actor=owner, slug="payments", name="Payments")
    for username, role in (
        ("victor", Role.VIEWER),
        ("walter", Role.VIEWER),
        ("dana", Role.DEVELOPER),
        ("mara", Role.MAINTAINER),
    ):
        team_actions.add_team_member(actor=owner, team=team, username=username, role=role)
    other = team_actions.create_team(actor=outsider, slug="search", name="Search")

    kubeconfig = sim.kubeconfig()
    env_actions.register_cluster(
        actor=admin,
        name="sandbox",
        kubeconfig=kubeconfig,
        kind="sandbox",
        ingress_domain="sandbox.localhost",
        is_default=True,
    )
    blueprint, version = blueprint_actions.create_blueprint(
        actor=owner, team=team, name="shop", source=SHOP_V1, message="m"
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        env = env_actions.create_environment(actor=owner, team=team, source=STACK)
    with TestCase.captureOnCommitCallbacks(execute=True):
        baseline = env_actions.create_environment(actor=owner, team=team, source=BASELINE, name="shop-base")
    env.refresh_from_db()
    baseline.refresh_from_db()
    assert (env.state, baseline.state, baseline.mode) == ("ready", "ready", "baseline"), (
        env.state_reason,
        baseline.state_reason,
    )

    policy = SanitizationPolicy.objects.create(
        team=team,
        name="payments-pii",
        version=1,
        source=POLICY,
        content_hash=hashlib.sha256(POLICY.encode()).hexdigest(),
        created_by=owner,
    )
    snapshot = _ready_snapshot(env, owner, policy)
    token, _secret = team_actions.create_api_token(actor=owner, name="ci")
    event = AuditEvent.objects.filter(team=team).order_by("sequence").first()
    return World(
        users={
            "outsider": outsider,
            "viewer": viewer,
            "developer": developer,
            "maintainer": maintainer,
            "owner": owner,
            "auditor": auditor,
            "admin": admin,
        },
        team_id=team.public_id,
        team_slug=team.slug,
        other_team_id=other.public_id,
        cluster_name="sandbox",
        kubeconfig=kubeconfig,
        blueprint_id=blueprint.public_id,
        version_id=version.public_id,
        env_id=env.public_id,
        baseline_id=baseline.public_id,
        snapshot_id=snapshot.public_id,
        policy_id=str(policy.pk),
        token_id=token.public_id,
        event_sequence=event.sequence,
    )


def _ready_snapshot(env, owner, policy) -> Snapshot:
    from snapshots.storage import get_storage

    now = timezone.now()
    snapshot = Snapshot.objects.create(
        team=env.team,
        environment=env,
        service="db",
        state=SnapshotState.READY,
        sanitized=True,
        policy=policy,
        policy_name="payments-pii",
        policy_version="e1e559b14ba9",
        created_by=owner,
        expires_at=now + timedelta(days=7),
        size_bytes=len(ARTIFACT),
        sha256=hashlib.sha256(ARTIFACT).hexdigest(),
        row_counts={"public.customers": 12},
        storage_backend="filesystem",
        completed_at=now,
    )
    snapshot.storage_key = f"{env.team.slug}/{snapshot.public_id}.msxsnap"
    snapshot.save(update_fields=["storage_key"])
    get_storage().save(snapshot.storage_key, io.BytesIO(ARTIFACT))
    return snapshot


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[World]:
    """Built inside a transaction that is rolled back after the module's last test."""
    storage = tmp_path_factory.mktemp("snapshots")
    with (
        django_db_blocker.unblock(),
        override_settings(MICROSTAX_SNAPSHOT_STORAGE_URL=f"file://{storage}"),
        KubeSim() as sim,
    ):
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield _build(sim)
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
