"""``microstax env …`` against a live MicroStax server provisioning on kubesim.

Tasks run synchronously at commit in tests, so a create returns once provisioning is done; ``--wait``
then sees a finished operation and prints its steps at once.
"""

from __future__ import annotations

import json

import pytest

from environments.models import Environment
from microstax.cli.commands import env_logs
from microstax.cli.commands.env_logs import LogDedupe
from microstax.cli.main import main
from microstax.teams import actions
from tests.fixtures.blueprints import BROKEN, SHOP_V1

BAD_IMAGE = SHOP_V1.replace("ghcr.io/example/api:1.0.0", "ghcr.io/x/api:does-not-exist")


@pytest.fixture
def env_id(cli, owner_token, sandbox_cluster, blueprint) -> str:
    code, out, err = cli(
        "-o", "json", "env", "create", "--team", "payments", "--file", blueprint(SHOP_V1), token=owner_token
    )
    assert code == 0, err
    return json.loads(out)["environment"]["id"]


def test_create_with_wait_shows_each_step_then_ready_endpoints_and_services(
    cli, owner_token, sandbox_cluster, blueprint
):
    code, out, err = cli(
        "env", "create", "--team", "payments", "--file", blueprint(SHOP_V1), "--ttl", "2h", "--wait", token=owner_token
    )
    assert code == 0, err
    assert "create op_" in out
    assert "✓ namespace (" in out and "✓ render (" in out and "✓ endpoints (" in out
    assert out.index("✓ namespace") < out.index("✓ render") < out.index("✓ endpoints")
    assert "payments/shop: ready" in out
    assert "endpoints: http://api-shop.sandbox.localhost" in out
    assert "api" in out and "1/1" in out


def test_create_reports_blueprint_problems_at_their_lines(cli, owner_token, sandbox_cluster, blueprint):
    path = blueprint(BROKEN, "broken.yaml")
    code, out, err = cli("env", "create", "--team", "payments", "--file", path, "--wait", token=owner_token)
    assert code == 1 and out == ""
    assert f"{path}:5:" in err and f"{path}:6:" in err
    assert "error: INVALID_BLUEPRINT" in err and "Traceback" not in err
    assert not Environment.objects.exists()


def test_list_get_and_status_show_the_environment(cli, env_id):
    code, out, _ = cli("env", "list", "--team", "payments")
    assert code == 0 and env_id in out and "ready" in out and "sandbox" in out

    code, out, _ = cli("env", "list", "--state", "stopped")
    assert code == 0 and out.strip() == "no environments"

    code, out, _ = cli("env", "get", env_id)
    assert code == 0
    assert "State:" in out and "ready" in out and "sandbox (simulated)" in out
    assert "ghcr.io/example/api:1.0.0" in out and "postgres:16.3" in out
    assert "create" in out and "succeeded" in out and "http://api-shop.sandbox.localhost" in out

    code, out, _ = cli("env", "status", env_id)
    lines = out.splitlines()
    assert code == 0 and lines[0] == f"{env_id} payments/shop: ready"
    assert any(line.split()[:3] == ["api", "ready", "1/1"] for line in lines)
    assert any(line.split()[:3] == ["db", "ready", "1/1"] for line in lines)


def test_json_and_yaml_print_the_raw_data(cli, env_id):
    code, out, _ = cli("env", "get", env_id, "-o", "json")
    env = json.loads(out)
    assert code == 0 and env["id"] == env_id and env["state"] == "ready"
    assert {s["name"] for s in env["services"]} == {"api", "db"}
    assert env["operations"][0]["steps"][0]["name"] == "namespace"

    code, out, _ = cli("-o", "json", "env", "list")
    assert code == 0 and [e["id"] for e in json.loads(out)] == [env_id]
    code, out, _ = cli("-o", "yaml", "env", "status", env_id)
    assert code == 0 and "state: ready" in out


def test_logs_of_all_services_are_prefixed_with_service_and_pod(cli, env_id):
    code, out, err = cli("env", "logs", env_id, "--tail", "5")
    assert code == 0, err
    lines = out.splitlines()
    assert any(line.startswith("[api/api-") for line in lines)
    assert any(line.startswith("[db/db-") for line in lines)

    code, out, _ = cli("env", "logs", env_id, "--service", "api", "--tail", "3")
    assert code == 0 and len(out.splitlines()) == 3 and out.startswith("[api-")

    code, _, err = cli("env", "logs", env_id, "--service", "ghost")
    assert code == 1 and "no service 'ghost'" in err


def test_logs_follow_prints_new_lines_once_until_interrupted(cli, env_id, monkeypatch):
    polls = []

    def sleep(_seconds: float) -> None:
        polls.append(1)
        if len(polls) == 3:
            raise KeyboardInterrupt
        import time

        time.sleep(0.3)  # kubesim containers print a heartbeat every 0.05 s in tests

    monkeypatch.setattr(env_logs, "_sleep", sleep)
    code, out, _ = cli("env", "logs", env_id, "--service", "api", "--tail", "2", "-f")
    lines = out.splitlines()
    assert code == 0 and len(polls) == 3
    assert len(lines) > 2, "later polls printed new lines"
    assert len(lines) == len(set(lines)), "no line printed twice"


def test_stop_resume_and_delete_wait_for_their_operations(cli, env_id):
    code, out, err = cli("env", "stop", env_id, "--wait")
    assert code == 0, err
    assert "stop op_" in out and "payments/shop: stopped" in out

    code, out, _ = cli("env", "resume", env_id)
    assert code == 0 and "resume requested" in out

    code, out, _ = cli("env", "status", env_id)
    assert out.startswith(f"{env_id} payments/shop: ready")

    code, out, err = cli("env", "delete", env_id, "--wait")
    assert code == 0, err
    assert "✓ delete namespace (" in out and "payments/shop: deleted" in out
    code, out, _ = cli("env", "list")
    assert out.strip() == "no environments"
    code, out, _ = cli("env", "list", "--all")
    assert env_id in out and "deleted" in out


def test_scale_then_traces_show_the_steps_on_a_timeline(cli, env_id):
    code, out, err = cli("env", "scale", env_id, "api", "2", "--wait")
    assert code == 0, err
    assert "scale op_" in out and "2/2" in out

    code, out, _ = cli("env", "traces", env_id)
    assert code == 0
    header, *rest = out.splitlines()
    assert header.startswith("scale op_") and "succeeded" in header
    namespace = next(line.split() for line in rest if line.split()[1:2] == ["namespace"])
    assert namespace[2] == "ok" and namespace[3].startswith("+0.0"), "the first step starts the timeline"
    assert "█" in out and "TIMELINE" in out

    create = json.loads(cli("env", "get", env_id, "-o", "json")[1])["operations"][-1]
    code, out, _ = cli("env", "traces", env_id, "--operation", create["id"], "-o", "json")
    trace = json.loads(out)
    assert code == 0 and trace["kind"] == "create" and trace["steps"][0]["offsetSeconds"] >= 0

    code, out, err = cli("env", "scale", env_id, "api", "1", "--wait", "-o", "json")
    result = json.loads(out)
    assert code == 0 and result["operation"]["kind"] == "scale" and result["timedOut"] is False
    assert "✓ endpoints" in err, "with --output json the progress goes to standard error"

    code, _, err = cli("env", "scale", env_id, "ghost", "1")
    assert code == 1 and err.startswith("error: INVALID (service):")


def test_extend_sets_a_new_expiry(cli, env_id):
    code, out, _ = cli("env", "extend", env_id, "--ttl", "24h")
    assert code == 0 and "expires" in out and "UTC" in out
    code, _, err = cli("env", "extend", env_id, "--ttl", "forever")
    assert code == 1 and "(ttl)" in err


def test_a_viewer_is_denied_and_nothing_changes(cli, env_id, viewer):
    token = actions.create_api_token(actor=viewer, name="cli")[1]
    code, out, err = cli("env", "stop", env_id, token=token)
    assert code == 1 and out == "" and err.startswith("error: PERMISSION_DENIED")
    assert Environment.objects.get(public_id=env_id).state == "ready"
    code, out, _ = cli("env", "status", env_id, token=token)
    assert code == 0 and "ready" in out, "viewers may look"


def test_an_unknown_environment_is_not_found(cli, owner_token):
    code, _, err = cli("env", "get", "env_nope", token=owner_token)
    assert code == 1 and "NOT_FOUND" in err
    code, _, err = cli("env", "delete", "env_nope", token=owner_token)
    assert code == 1 and err.startswith("error: NOT_FOUND (id):")


def test_a_failing_image_makes_wait_exit_1_with_the_reasons(cli, owner_token, sandbox_cluster, blueprint):
    code, out, err = cli(
        "env", "create", "--team", "payments", "--file", blueprint(BAD_IMAGE), "--wait", token=owner_token
    )
    assert code == 1
    assert "✗ apply" in out
    assert "Image" in err and "does-not-exist" in err
    assert "  api: failed:" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["env", "scale", "env_x", "api", "many"],
        ["env", "logs", "env_x", "--tail", "0"],
        ["env", "create", "--team", "payments"],
        ["env", "create", "-f", "x.yaml", "--team", "t", "--timeout", "-1"],
        ["env", "auto-shutdown", "env_x"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_log_dedupe_keeps_repeated_lines_and_survives_a_dropped_middle():
    dedupe = LogDedupe()

    def lines(*texts: str) -> list[dict[str, str]]:
        return [{"pod": "p", "line": text} for text in texts]

    assert [x["line"] for x in dedupe.fresh(lines("a", "a"))] == ["a", "a"]
    assert [x["line"] for x in dedupe.fresh(lines("a", "a", "a"))] == ["a"]
    assert [x["line"] for x in dedupe.fresh(lines("a", "b", "c"))] == ["b", "c"]
    # the log kept its first lines but lost some in the middle
    assert [x["line"] for x in dedupe.fresh(lines("a", "c", "d"))] == ["d"]


# -- --wait against a scripted API: steps that start and finish between polls, timeouts, superseding


class ScriptedApi:
    """Answers each poll with the next environment of a script (the last one repeats)."""

    def __init__(self, *operations: dict) -> None:
        self.operations = list(operations)

    def execute(self, query: str, variables: dict | None = None) -> dict:
        operations = self.operations.pop(0) if len(self.operations) > 1 else self.operations[0]
        env = {
            "id": "env_1",
            "name": "shop",
            "team": {"slug": "payments"},
            "state": "provisioning",
            "stateReason": "",
            "services": [],
            "endpoints": [],
        }
        return {"environment": {**env, "operations": operations}}


def _op(op_id: str, state: str, *steps: tuple[str, float | None]) -> dict:
    rows = [
        {
            "position": i,
            "name": name,
            "outcome": "running" if took is None else "ok",
            "startedAt": "2030-01-01T00:00:00+00:00",
            "finishedAt": None if took is None else "2030-01-01T00:00:01+00:00",
            "durationSeconds": took,
            "details": {},
        }
        for i, (name, took) in enumerate(steps, start=1)
    ]
    return {"id": op_id, "kind": "create", "state": state, "error": "", "steps": rows}


def _wait(api: ScriptedApi, monkeypatch, *, timeout: float = 60, tty: bool = False):
    import io

    from microstax.cli.commands import env_wait
    from microstax.cli.context import Context

    ticks = iter(range(10_000))
    monkeypatch.setattr(env_wait, "_sleep", lambda _s: None)
    monkeypatch.setattr(env_wait, "_clock", lambda: float(next(ticks)))
    stream = io.StringIO()
    stream.isatty = lambda: tty  # type: ignore[method-assign]
    outcome = env_wait.wait_for_operation(Context(_client=api), "env_1", "op_1", timeout=timeout, stream=stream)
    return outcome, stream.getvalue()


def test_wait_prints_each_step_when_it_starts_and_when_it_finishes(monkeypatch):
    api = ScriptedApi(
        [_op("op_1", "queued")],
        [_op("op_1", "running", ("namespace", None))],
        [_op("op_1", "running", ("namespace", 0.1), ("render", None))],
        [_op("op_1", "succeeded", ("namespace", 0.1), ("render", 0.25))],
    )
    outcome, text = _wait(api, monkeypatch)
    assert outcome.operation["state"] == "succeeded" and not outcome.timed_out
    assert text.splitlines() == [
        "create op_1: queued",
        "→ namespace",
        "✓ namespace (0.10s)",
        "→ render",
        "✓ render (0.25s)",
    ]


def test_wait_redraws_the_running_step_on_a_terminal(monkeypatch):
    api = ScriptedApi([_op("op_1", "running", ("namespace", None))], [_op("op_1", "succeeded", ("namespace", 0.1))])
    _, text = _wait(api, monkeypatch, tty=True)
    assert "  namespace … " in text and "\r\x1b[K✓ namespace (0.10s)\n" in text and "→" not in text


def test_wait_gives_up_after_the_timeout(monkeypatch):
    outcome, _ = _wait(ScriptedApi([_op("op_1", "running", ("apply data", None))]), monkeypatch, timeout=3)
    assert outcome.timed_out and not outcome.ok


def test_wait_follows_the_operation_that_superseded_its_own(monkeypatch):
    api = ScriptedApi(
        [_op("op_2", "running", ("namespace", None)), _op("op_1", "superseded", ("namespace", 0.1))],
        [_op("op_2", "succeeded", ("namespace", 0.2)), _op("op_1", "superseded", ("namespace", 0.1))],
    )
    outcome, text = _wait(api, monkeypatch)
    assert outcome.operation["id"] == "op_2" and outcome.ok
    assert "operation op_1 was superseded by op_2" in text and "✓ namespace (0.20s)" in text
