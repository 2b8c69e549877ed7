"""Snapshot actions against the three personas: permission, governance, one audit event each, and
nothing left behind by a denied call. Captures here run on kubesim without an agent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from environments.models import Operation, TeamPolicy
from microstax.lib.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from microstax.teams import actions as team_actions
from microstax.teams.choices import Role
from snapshots import actions
from snapshots.fleet import purge_expired
from snapshots.models import SanitizationPolicy, Snapshot, SnapshotRestore, SnapshotState
from tests.snapshots_agent.pii import POLICY_YAML

KEEP_RAW = "name: raw\nkeepUnsanitized: true\n"


def events(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def trace() -> tuple[int, int, int, int]:
    """Everything an action could leave behind."""
    return (
        AuditEvent.objects.count(),
        Operation.objects.count(),
        Snapshot.objects.count(),
        SnapshotRestore.objects.count(),
    )


@pytest.fixture
def env(provision, owner, team):
    return provision(owner, team)


# --- policies ----------------------------------------------------------------------------------


def test_a_policy_is_versioned_and_identical_content_returns_the_existing_version(owner, team) -> None:
    first = actions.create_policy(actor=owner, team=team, name="shop-dev", source=POLICY_YAML)
    again = actions.create_policy(actor=owner, team=team, name="shop-dev", source=POLICY_YAML)
    second = actions.create_policy(
        actor=owner,
        team=team,
        name="shop-dev",
        source=POLICY_YAML + "  # changed\n  - {table: audit_log, column: actor_email, strategy: nullify}\n",
    )

    assert again.pk == first.pk
    assert (first.version, second.version) == (1, 2)
    assert first.strict and not first.keep_unsanitized
    assert events("snapshot_policy.create") == 2


def test_policy_errors_are_reported_with_line_and_column(owner, team) -> None:
    with pytest.raises(InvalidInput) as caught:
        actions.create_policy(
            actor=owner,
            team=team,
            name="bad",
            source="name: x\nrules:\n  - {table: t, column: c, strategy: mask, keepLst: 2}\n",
        )
    assert caught.value.field == "source" and "policy:3:" in caught.value.message and "keepLst" in caught.value.message
    problems = actions.validate_policy("name: x\nstrict: maybe\n")
    assert [(p.code, p.line) for p in problems] == [("MSX-S003", 2)]
    assert actions.validate_policy(POLICY_YAML) == []
    assert SanitizationPolicy.objects.count() == 0 and events("snapshot_policy.create") == 0


def test_only_maintainers_and_owners_publish_policies(viewer, outsider, team) -> None:
    before = trace()
    with pytest.raises(PermissionDenied):
        actions.create_policy(actor=viewer, team=team, name="p", source=POLICY_YAML)
    with pytest.raises(NotFound):
        actions.create_policy(actor=outsider, team=team, name="p", source=POLICY_YAML)
    assert trace() == before and SanitizationPolicy.objects.count() == 0


def test_keep_unsanitized_is_part_of_the_policy_schema(owner, team) -> None:
    policy = actions.create_policy(actor=owner, team=team, name="raw", source=KEEP_RAW)
    assert policy.keep_unsanitized
    assert actions.validate_policy("name: x\nkeepUnsanitised: true\n")[0].code == "MSX-S002"


# --- create ------------------------------------------------------------------------------------


def test_on_a_simulated_cluster_without_an_agent_the_capture_fails_with_the_reason(
    env, owner, team, sim, django_capture_on_commit_callbacks
) -> None:
    TeamPolicy.objects.create(team=team, snapshot_retention_days=3)
    with django_capture_on_commit_callbacks(execute=True):
        snapshot = actions.create_snapshot(actor=owner, env=env)

    snapshot.refresh_from_db()
    assert snapshot.state == SnapshotState.FAILED
    assert "without uploading" in snapshot.state_reason and "simulated" in snapshot.state_reason
    assert snapshot.service == "db" and snapshot.policy_name == "default"
    assert timedelta(days=2, hours=23) < snapshot.expires_at - timezone.now() <= timedelta(days=3)
    operation = snapshot.operation
    operation.refresh_from_db()
    assert (operation.kind, operation.state) == ("snapshot", "failed")
    steps = list(operation.steps.values_list("name", "outcome"))
    assert ("apply capture job", "ok") in steps and ("remove the capture job", "ok") in steps
    assert steps[-1] == ("check the artifact", "failed")
    env.refresh_from_db()
    assert env.state == "ready"  # a failed capture never touches the environment
    assert sim.list("jobs", env.namespace) == [] or all(
        j["metadata"].get("deletionTimestamp") for j in sim.list("jobs", env.namespace)
    )
    assert not [s for s in sim.list("secrets", env.namespace) if s["metadata"]["name"].startswith("snap-")]
    assert events("snapshot.create") == 1 and events("snapshot.create.failed") == 1


def test_the_capture_job_connects_like_a_seed_job_and_carries_no_secret_in_its_spec(
    env, owner, team, sim, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    from microstax import kube

    applied: list[dict] = []
    real_apply = kube.apply

    def spy(cluster, objects, **kwargs):
        objects = list(objects)
        applied.extend(objects)
        return real_apply(cluster, objects, **kwargs)

    monkeypatch.setattr(kube, "apply", spy)
    policy = actions.create_policy(actor=owner, team=team, name="shop-dev", source=POLICY_YAML)
    with django_capture_on_commit_callbacks(execute=True):
        actions.create_snapshot(actor=owner, env=env, service="db", policy=policy)

    job = next(o for o in applied if o["kind"] == "Job" and o["metadata"]["name"].startswith("snap-capture-"))
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/microstax/microstax:latest"
    assert container["command"][:5] == ["microstax", "snapshot-agent", "capture", "--policy", "/policy/policy.yaml"]
    assert container["command"][5] == "--upload" and container["command"][6].endswith("/artifact")
    env_vars = {e["name"]: e for e in container["env"]}
    assert env_vars["PGHOST"]["value"] == "db" and env_vars["PGPORT"]["value"] == "5432"
    assert env_vars["PGDATABASE"]["value"] == "shop"
    assert env_vars["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "db-password"
    assert "secretKeyRef" in env_vars["MICROSTAX_SNAPSHOT_TOKEN"]["valueFrom"]
    assert "test-salt-0123456789" not in str(job) and "msxsnap_" not in str(job)
    config = next(o for o in applied if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("snap-capture-"))
    assert "salt" not in config["data"]["policy.yaml"] and "shop-dev" in config["data"]["policy.yaml"]
    assert job["spec"]["backoffLimit"] == 0


def test_create_snapshot_refuses_bad_input_with_located_errors(env, owner, team, other_team, outsider) -> None:
    before = trace()
    with pytest.raises(InvalidInput, match="no service 'cache'"):
        actions.create_snapshot(actor=owner, env=env, service="cache")
    with pytest.raises(InvalidInput, match="not a PostgreSQL database"):
        actions.create_snapshot(actor=owner, env=env, service="api")
    foreign = actions.create_policy(actor=outsider, team=other_team, name="theirs", source=POLICY_YAML)
    with pytest.raises(NotFound):
        actions.create_snapshot(actor=owner, env=env, policy=foreign)
    type(env).objects.filter(pk=env.pk).update(state="failed")
    env.refresh_from_db()
    with pytest.raises(Conflict, match="failed; a snapshot needs it running: retry it first"):
        actions.create_snapshot(actor=owner, env=env)  # (a stopped one is woken: tests/snapshots/test_wake.py)
    assert trace()[1:] == before[1:]  # (the outsider's policy wrote its own event)


def test_permission_denials_change_nothing(env, viewer, outsider) -> None:
    before = trace()
    with pytest.raises(PermissionDenied):
        actions.create_snapshot(actor=viewer, env=env)
    with pytest.raises(NotFound):
        actions.create_snapshot(actor=outsider, env=env)
    assert trace() == before


# --- restore and governance ----------------------------------------------------------------------


def test_restore_is_recorded_as_lineage_and_audited_once(
    env, provision, owner, team, make_snapshot, django_capture_on_commit_callbacks
) -> None:
    target = provision(owner, team, name="shop-copy")
    snapshot = make_snapshot(env, storage_key="payments/x.msxsnap", sha256="ab" * 32)
    with django_capture_on_commit_callbacks(execute=True):
        restore = actions.restore_snapshot(actor=owner, snapshot=snapshot, env=target)

    restore.refresh_from_db()
    assert (restore.environment, restore.service, restore.state) == (target, "db", "failed")
    assert "without downloading" in restore.state_reason and "simulated" in restore.state_reason
    assert restore.operation.kind == "restore" and restore.operation.environment == target
    assert events("snapshot.restore") == 1
    target.refresh_from_db()
    assert target.state == "ready"


def test_unsanitized_snapshots_stay_with_their_teams_owners(
    env, provision, owner, viewer, outsider, team, other_team, make_snapshot
) -> None:
    raw = make_snapshot(env, sanitized=False)
    clean = make_snapshot(env)
    theirs = provision(outsider, other_team, name="search")
    developer = team_actions.add_team_member(actor=owner, team=team, username=outsider.username, role=Role.DEVELOPER)
    assert developer is not None
    before = trace()

    # the outsider is now a developer of the owning team, and owner of the target team:
    with pytest.raises(PermissionDenied, match="another team"):
        actions.restore_snapshot(actor=outsider, snapshot=raw, env=theirs)
    with pytest.raises(PermissionDenied, match="only owners"):
        actions.restore_snapshot(actor=outsider, snapshot=raw, env=env)
    with pytest.raises(PermissionDenied, match="only owners"):
        actions.download_snapshot(actor=outsider, snapshot=raw)
    with pytest.raises(PermissionDenied):
        actions.download_snapshot(actor=viewer, snapshot=clean)
    assert trace() == before

    # a sanitized snapshot may cross teams
    actions.restore_snapshot(actor=outsider, snapshot=clean, env=theirs)
    assert events("snapshot.restore") == 1


def test_outsiders_cannot_see_snapshots(env, outsider, make_snapshot, other_team, provision) -> None:
    snapshot = make_snapshot(env)
    theirs = provision(outsider, other_team, name="search")
    before = trace()
    for call in (
        lambda: actions.restore_snapshot(actor=outsider, snapshot=snapshot, env=theirs),
        lambda: actions.download_snapshot(actor=outsider, snapshot=snapshot),
        lambda: actions.delete_snapshot(actor=outsider, snapshot=snapshot),
    ):
        with pytest.raises(NotFound):
            call()
    assert trace() == before
    assert list(actions.visible_snapshots(outsider)) == []


def test_only_ready_unexpired_snapshots_are_restored(env, owner, make_snapshot) -> None:
    with pytest.raises(Conflict, match="failed"):
        actions.restore_snapshot(actor=owner, snapshot=make_snapshot(env, state=SnapshotState.FAILED), env=env)
    old = make_snapshot(env, expires_at=timezone.now() - timedelta(hours=1))
    with pytest.raises(Conflict, match="expired"):
        actions.restore_snapshot(actor=owner, snapshot=old, env=env)


def test_visible_snapshots_are_filtered_in_sql(env, owner, viewer, make_snapshot, django_assert_num_queries) -> None:
    for _ in range(3):
        make_snapshot(env)
    make_snapshot(env, state=SnapshotState.DELETED)
    with django_assert_num_queries(1):
        rows = [(s.public_id, s.environment.public_id, s.team.slug) for s in actions.visible_snapshots(viewer)]
    assert len(rows) == 3


# --- delete, download, purge ---------------------------------------------------------------------


def test_download_streams_the_stored_artifact_and_is_audited(env, owner, make_snapshot, snapshot_storage) -> None:
    import io

    from snapshots.storage import get_storage

    stored = get_storage().save("payments/d.msxsnap", io.BytesIO(b"artifact-bytes"))
    snapshot = make_snapshot(env, storage_key=stored.key, sha256=stored.sha256, size_bytes=stored.size)
    download = actions.download_snapshot(actor=owner, snapshot=snapshot)
    with download.stream:
        assert download.stream.read() == b"artifact-bytes"
    assert (download.sha256, download.filename) == (stored.sha256, f"{snapshot.public_id}.msxsnap")
    assert events("snapshot.download") == 1


def test_delete_removes_the_artifact_after_commit_and_keeps_the_row(
    env, owner, viewer, make_snapshot, snapshot_storage, django_capture_on_commit_callbacks
) -> None:
    import io

    from snapshots.storage import get_storage

    get_storage().save("payments/del.msxsnap", io.BytesIO(b"bytes"))
    snapshot = make_snapshot(env, storage_key="payments/del.msxsnap")
    with pytest.raises(PermissionDenied):
        actions.delete_snapshot(actor=viewer, snapshot=snapshot)
    assert get_storage().exists("payments/del.msxsnap")

    with django_capture_on_commit_callbacks(execute=True):
        deleted = actions.delete_snapshot(actor=owner, snapshot=snapshot)

    assert deleted.state == SnapshotState.DELETED and deleted.deleted_at is not None
    assert not get_storage().exists("payments/del.msxsnap")
    assert events("snapshot.delete") == 1
    with pytest.raises(Conflict):
        actions.delete_snapshot(actor=owner, snapshot=snapshot)


def test_purge_deletes_expired_snapshots_as_system(env, make_snapshot, django_capture_on_commit_callbacks) -> None:
    import io

    from snapshots.storage import get_storage

    now = timezone.now()
    get_storage().save("payments/old.msxsnap", io.BytesIO(b"old"))
    old = make_snapshot(env, storage_key="payments/old.msxsnap", expires_at=now - timedelta(days=1))
    fresh = make_snapshot(env, expires_at=now + timedelta(days=1))
    gone = make_snapshot(env, state=SnapshotState.DELETED, expires_at=now - timedelta(days=2))

    dry = purge_expired(now=now, dry_run=True, batch_size=1)
    assert [(f["id"], f["outcome"]) for f in dry] == [(old.public_id, "would purge")]
    assert Snapshot.objects.get(pk=old.pk).state == SnapshotState.READY

    with django_capture_on_commit_callbacks(execute=True):
        done = purge_expired(now=now, dry_run=False, batch_size=1)

    assert [(f["id"], f["outcome"]) for f in done] == [(old.public_id, "purged")]
    assert Snapshot.objects.get(pk=old.pk).state == SnapshotState.DELETED
    assert Snapshot.objects.get(pk=fresh.pk).state == SnapshotState.READY
    assert Snapshot.objects.get(pk=gone.pk).state == SnapshotState.DELETED
    assert not get_storage().exists("payments/old.msxsnap")
    event = AuditEvent.objects.get(action="snapshot.delete")
    assert (event.actor_name, event.target_id) == ("system", old.public_id)
    assert purge_expired(now=now, dry_run=False) == []


def test_the_fleet_sweep_purges_expired_snapshots_and_reports_them(
    env, make_snapshot, django_capture_on_commit_callbacks
) -> None:
    from environments.fleet import sweep

    now = timezone.now()
    old = make_snapshot(env, expires_at=now - timedelta(hours=1))

    dry = sweep(now=now, dry_run=True)
    assert [f.id for f in dry.snapshots_purged] == [old.public_id]
    assert Snapshot.objects.get(pk=old.pk).state == SnapshotState.READY

    with django_capture_on_commit_callbacks(execute=True):
        done = sweep(now=now)
    assert [f.id for f in done.snapshots_purged] == [old.public_id]
    assert done.counts()["snapshots_purged"] == 1
    assert Snapshot.objects.get(pk=old.pk).state == SnapshotState.DELETED
    assert sweep(now=now).snapshots_purged == []


# --- replay and provisioning restores ------------------------------------------------------------


def test_replay_creates_an_environment_from_the_recorded_blueprint_with_the_latest_snapshot(
    env, owner, make_snapshot, django_capture_on_commit_callbacks
) -> None:
    make_snapshot(env, created_at=timezone.now() - timedelta(hours=2))
    latest = make_snapshot(env)
    make_snapshot(env, state=SnapshotState.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        replay = actions.replay_environment(actor=owner, env=env, name="shop-replay")

    replay.refresh_from_db()
    assert (replay.name, replay.source, replay.team) == ("shop-replay", env.source, env.team)
    restore = SnapshotRestore.objects.get(environment=replay)
    assert restore.snapshot == latest and restore.service == "db"
    # no agent on the simulated cluster: the environment comes up, the restore says why it has no data
    assert replay.state == "ready", replay.state_reason
    assert restore.state == "failed" and "simulated" in restore.state_reason
    steps = [s.name for s in replay.operations.get().steps.all()]
    assert "resolve snapshot" in steps and "check the restore" in steps
    seed_wave = replay.operations.get().steps.get(name="render").details["waves"]
    assert "seed-0" in seed_wave
    assert events("environment.replay") == 1


def test_replay_without_a_ready_snapshot_is_a_conflict(env, owner, viewer) -> None:
    before = trace()
    with pytest.raises(Conflict, match="no ready snapshot"):
        actions.replay_environment(actor=owner, env=env)
    with pytest.raises(PermissionDenied):
        actions.replay_environment(actor=viewer, env=env)
    assert trace() == before


def test_a_blueprint_snapshot_that_does_not_exist_fails_provisioning_with_the_reason(
    owner, team, sandbox_cluster, django_capture_on_commit_callbacks
) -> None:
    from environments import actions as env_actions
    from tests.snapshots.conftest import STACK

    source = STACK + "snapshot:\n  service: db\n  id: snap_doesnotexist\n"
    with django_capture_on_commit_callbacks(execute=True):
        env = env_actions.create_environment(actor=owner, team=team, source=source)
    env.refresh_from_db()
    assert env.state == "failed"
    assert "snap_doesnotexist was not found" in env.state_reason


def test_a_blueprint_snapshot_restores_in_the_seed_wave_before_dependants(
    env, owner, team, make_snapshot, sim, django_capture_on_commit_callbacks
) -> None:
    from environments import actions as env_actions
    from tests.snapshots.conftest import STACK

    snapshot = make_snapshot(env)
    source = STACK + f"snapshot:\n  service: db\n  fromEnvironment: {env.public_id}\n"
    with django_capture_on_commit_callbacks(execute=True):
        copy = env_actions.create_environment(actor=owner, team=team, source=source, name="shop-seeded")
    copy.refresh_from_db()
    steps = [s.name for s in copy.operations.get().steps.order_by("position")]
    assert steps.index("apply seed-0") < steps.index("apply services-1")
    restore = SnapshotRestore.objects.get(environment=copy)
    assert restore.snapshot == snapshot
    job_names = [j["metadata"]["name"] for j in sim.list("jobs", copy.namespace)]
    assert any(name.startswith("snap-restore-") for name in job_names)


def test_a_blueprint_cannot_bring_another_teams_unsanitized_snapshot(
    env, owner, outsider, other_team, make_snapshot, django_capture_on_commit_callbacks
) -> None:
    from environments import actions as env_actions
    from tests.snapshots.conftest import STACK

    raw = make_snapshot(env, sanitized=False)
    team_actions.add_team_member(actor=owner, team=env.team, username=outsider.username, role=Role.OWNER)
    source = STACK + f"snapshot:\n  service: db\n  id: {raw.public_id}\n"
    with django_capture_on_commit_callbacks(execute=True):
        theirs = env_actions.create_environment(actor=outsider, team=other_team, source=source)
    theirs.refresh_from_db()
    assert theirs.state == "failed"
    assert "not sanitized" in theirs.state_reason and "another team" in theirs.state_reason
    assert not SnapshotRestore.objects.filter(environment=theirs).exists()
