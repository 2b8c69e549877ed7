"""``microstax env snapshot …``, ``snapshot …``, ``env replay`` and ``policy …`` against a live server.

Capture on the sandbox cluster completes its Job without a real agent, so the snapshots these
commands restore or delete are rows made as a finished capture leaves them.
"""

from __future__ import annotations

import json

import pytest
import yaml

from environments import actions as env_actions
from environments.models import Environment
from microstax.cli.main import main
from snapshots.models import SanitizationPolicy, Snapshot, SnapshotRestore, SnapshotState
from tests.cli.conftest import cli, owner_token, viewer_token  # noqa: F401 - fixtures
from tests.environments.test_lifecycle import STACK
from tests.snapshots_api.conftest import BAD_POLICY, POLICY


@pytest.fixture
def live_env(cli, team, owner, sandbox_cluster) -> Environment:  # noqa: F811 - the cli fixture
    return env_actions.create_environment(actor=owner, team=team, source=STACK)


@pytest.fixture
def ready(live_env, make_snapshot, policy) -> Snapshot:
    return make_snapshot(live_env, policy=policy)


@pytest.fixture
def policy_file(tmp_path):
    def write(text: str) -> str:
        path = tmp_path / "policy.yaml"
        path.write_text(text)
        return str(path)

    return write


def test_env_snapshot_create_captures_a_service(cli, owner_token, live_env, policy):  # noqa: F811
    code, out, err = cli(
        "env", "snapshot", "create", live_env.public_id, "--service", "db", "--policy", "shop-dev", token=owner_token
    )
    assert code == 0, err
    snapshot = Snapshot.objects.get()
    assert out.startswith(f"{snapshot.public_id} of payments/{live_env.name} db: ")
    assert (snapshot.service, snapshot.policy) == ("db", policy)


def test_env_snapshot_create_as_json(cli, owner_token, live_env):  # noqa: F811
    code, out, err = cli("-o", "json", "env", "snapshot", "create", live_env.public_id, token=owner_token)
    assert code == 0, err
    data = json.loads(out)
    assert data["snapshot"]["id"] == Snapshot.objects.get().public_id
    assert data["snapshot"]["environment"]["id"] == live_env.public_id


def test_a_viewer_cannot_take_a_snapshot(cli, viewer_token, live_env):  # noqa: F811
    code, out, err = cli("env", "snapshot", "create", live_env.public_id, token=viewer_token)
    assert code == 1 and out == ""
    assert "error: PERMISSION_DENIED" in err and "Traceback" not in err
    assert not Snapshot.objects.exists()


def test_an_unknown_policy_fails_with_its_field(cli, owner_token, live_env):  # noqa: F811
    code, _, err = cli("env", "snapshot", "create", live_env.public_id, "--policy", "nope", token=owner_token)
    assert code == 1 and "error: NOT_FOUND (policy)" in err
    assert not Snapshot.objects.exists()


def test_env_snapshot_list_shows_state_size_and_sanitized(cli, owner_token, live_env, ready):  # noqa: F811
    code, out, err = cli("env", "snapshot", "list", live_env.public_id, token=owner_token)
    assert code == 0, err
    header, row = out.splitlines()[:2]
    assert header.split()[:6] == ["ID", "SOURCE", "SERVICE", "STATE", "SIZE", "SANITIZED"]
    assert row.split()[:4] == [ready.public_id, f"payments/{live_env.name}", "db", "ready"]
    assert "yes" in row and "shop-dev v1" in row

    code, out, _ = cli("env", "snapshot", "list", live_env.public_id, "-o", "json", token=owner_token)
    assert code == 0 and [s["id"] for s in json.loads(out)] == [ready.public_id]


def test_env_snapshot_list_of_an_invisible_environment_fails(cli, live_env, outsider, other_team):  # noqa: F811
    from microstax.teams import actions

    token = actions.create_api_token(actor=outsider, name="cli")[1]
    code, _, err = cli("env", "snapshot", "list", live_env.public_id, token=token)
    assert code == 1 and "environment not found" in err


def test_snapshot_list_get_restore_and_delete(cli, owner_token, live_env, ready, monkeypatch):  # noqa: F811
    code, out, _ = cli("snapshot", "list", "--team", "payments", token=owner_token)
    assert code == 0 and ready.public_id in out
    code, out, _ = cli("snapshot", "list", "-o", "yaml", token=owner_token)
    assert code == 0 and yaml.safe_load(out)[0]["id"] == ready.public_id

    # given the restore Job is queued but not run yet
    monkeypatch.setattr("snapshots.actions._enqueue", lambda operation: None)
    code, out, err = cli("snapshot", "restore", ready.public_id, "--env", live_env.public_id, token=owner_token)
    assert code == 0, (out, err)
    assert out.startswith(
        f"{ready.public_id} → {live_env.public_id} payments/{live_env.name} db: pending (operation op_"
    )
    assert SnapshotRestore.objects.filter(snapshot=ready, environment=live_env).count() == 1

    code, out, _ = cli("snapshot", "get", ready.public_id, token=owner_token)
    assert code == 0
    assert "Sanitized:" in out and "shop-dev v1" in out and "Restores (1):" in out
    assert f"{live_env.public_id} payments/{live_env.name}" in out and "olivia" in out

    code, out, err = cli("snapshot", "delete", ready.public_id, token=owner_token)
    assert code == 0, err
    assert out.strip().endswith("deleted")
    assert Snapshot.objects.get(pk=ready.pk).state == SnapshotState.DELETED


def test_snapshot_commands_on_unknown_or_refused_snapshots_exit_1(cli, owner_token, viewer_token, live_env, ready):  # noqa: F811
    code, _, err = cli("snapshot", "restore", "snap_nope", "--env", live_env.public_id, token=owner_token)
    assert code == 1 and "error: NOT_FOUND (snapshot)" in err
    code, _, err = cli("snapshot", "get", "snap_nope", token=owner_token)
    assert code == 1 and "NOT_FOUND" in err
    code, _, err = cli("snapshot", "delete", ready.public_id, token=viewer_token)
    assert code == 1 and "error: PERMISSION_DENIED" in err
    assert Snapshot.objects.get(pk=ready.pk).state == SnapshotState.READY


def test_a_restore_that_fails_exits_1_with_the_reason(cli, owner_token, live_env, ready):  # noqa: F811
    # The sandbox's Jobs run nothing, so no agent downloads the artifact: the restore fails, saying so.
    code, out, err = cli("snapshot", "restore", ready.public_id, "--env", live_env.public_id, token=owner_token)
    assert code == 1 and ": failed (" in out
    assert err.startswith("error: the restore failed: ") and "Traceback" not in err
    assert SnapshotRestore.objects.get(snapshot=ready).state == "failed"


def test_snapshot_restore_needs_env(cli, owner_token, ready):  # noqa: F811
    code, _, err = cli("snapshot", "restore", ready.public_id, token=owner_token)
    assert code == 2 and "--env" in err


def test_env_replay_recreates_the_environment_with_a_snapshot(cli, owner_token, live_env, ready):  # noqa: F811
    code, out, err = cli("-o", "json", "env", "replay", live_env.public_id, ready.public_id, token=owner_token)
    assert code == 0, err
    replayed = json.loads(out)["environment"]
    assert replayed["id"] != live_env.public_id
    assert Environment.objects.filter(public_id=replayed["id"], team=live_env.team).exists()


def test_env_replay_of_an_unknown_environment_fails(cli, owner_token, live_env):  # noqa: F811
    code, _, err = cli("env", "replay", "env_nope", token=owner_token)
    assert code == 1 and "error: NOT_FOUND (environment)" in err


def test_policy_create_publishes_and_lists_versions(cli, owner_token, team, policy_file):  # noqa: F811
    path = policy_file(POLICY)
    code, out, err = cli(
        "policy", "create", "--team", "payments", "--name", "shop-dev", "--file", path, token=owner_token
    )
    assert code == 0, err
    policy = SanitizationPolicy.objects.get()
    assert out.strip() == f"{policy.public_id} payments/shop-dev v1"
    code, out, _ = cli("policy", "list", "--team", "payments", token=owner_token)
    assert code == 0 and policy.public_id in out and "payments/shop-dev" in out


def test_policy_create_reports_problems_at_their_lines(cli, owner_token, team, policy_file):  # noqa: F811
    path = policy_file(BAD_POLICY)
    code, out, err = cli(
        "policy", "create", "--team", "payments", "--name", "shop-dev", "--file", path, token=owner_token
    )
    assert code == 1 and out == ""
    assert f"{path}:4:" in err and f"{path}:5:" in err and "MSX-S002" in err
    assert not SanitizationPolicy.objects.exists()


def test_policy_validate_works_offline(tmp_path, capsys, monkeypatch):
    # given an API URL nobody listens on: validation must not need it
    monkeypatch.setenv("MICROSTAX_API_URL", "http://127.0.0.1:9")
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(POLICY)
    bad.write_text(BAD_POLICY)

    assert main(["policy", "validate", "--file", str(good)]) == 0
    assert "valid policy shop-dev (2 rules" in capsys.readouterr().out

    assert main(["policy", "validate", "--file", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:4:55: MSX-S002 error: unknown field 'keepLst'" in out
    assert f"{bad}:5:" in out and "invalid (2 errors)" in out

    assert main(["-o", "json", "policy", "validate", "--file", str(bad)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False and {p["line"] for p in data["problems"]} == {4, 5}


def test_policy_validate_usage_errors_exit_2(capsys):
    assert main(["policy", "validate"]) == 2
    assert main(["policy", "validate", "--file", "/no/such/file.yaml"]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_env_snapshot_create_wait_reports_how_the_capture_ended(cli, owner_token, live_env):  # noqa: F811
    # The sandbox's Jobs run nothing, so no agent uploads an artifact: the capture fails, saying so.
    code, out, err = cli("env", "snapshot", "create", live_env.public_id, "--wait", token=owner_token)
    snapshot = Snapshot.objects.get()
    assert snapshot.state == SnapshotState.FAILED
    assert code == 1 and out.startswith(f"{snapshot.public_id} of payments/{live_env.name} db: failed")
    assert err.startswith(f"error: {snapshot.public_id} is failed: ") and snapshot.state_reason[:40] in err
