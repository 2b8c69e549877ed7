"""Blueprint and sanitization-policy YAML: oversized documents and alias bombs ("billion laughs")
are refused quickly with a located problem, through GraphQL, the dashboard forms and the CLI."""

from __future__ import annotations

import time
from contextlib import contextmanager

import pytest

from microstax.cli.main import main

# Nine levels of ten aliases each: 10**9 strings once expanded, a few hundred bytes written.
BILLION_LAUGHS = (
    "name: shop\nlol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"lol{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]\n" for n in range(1, 9))
    + "services:\n  - name: api\n    image: nginx:1.27\n"
)
# Over the 1 MiB document limit, under the request limit (3 MiB).
OVERSIZED = "name: shop\nservices:\n  - name: api\n    image: nginx:1.27\n" + "# padding\n" * 120_000


@pytest.fixture(autouse=True)
def warm(gql, owner):
    """The first request of a process loads the URLconf and the schema; time the ones after it."""
    gql("{ viewer { username } }", user=owner)


@contextmanager
def quickly(seconds: float = 3.0):
    started = time.monotonic()
    yield
    assert time.monotonic() - started < seconds, "hostile YAML must be refused quickly"


def _expanded_problem(problems: list[dict]) -> dict:
    (problem,) = [p for p in problems if "expands to more than" in p["message"]]
    assert problem["line"] and problem["column"]
    return problem


def _too_large_problem(problems: list[dict]) -> dict:
    (problem,) = [p for p in problems if "larger than" in p["message"]]
    return problem


PROBLEMS = "problems { code message line column }"


@pytest.mark.parametrize(("source", "check"), [(BILLION_LAUGHS, _expanded_problem), (OVERSIZED, _too_large_problem)])
def test_graphql_blueprint_operations_refuse_hostile_yaml(gql, owner, team, source, check):
    with quickly():
        validation = gql(
            f"query($y: String!) {{ validateBlueprint(yaml: $y) {{ valid {PROBLEMS} }} }}", {"y": source}, user=owner
        )
    assert validation["data"]["validateBlueprint"]["valid"] is False
    check(validation["data"]["validateBlueprint"]["problems"])

    with quickly():
        created = gql(
            f"""mutation($t: ID!, $y: String!) {{ createBlueprint(input: {{team: $t, name: "shop", yaml: $y}})
            {{ blueprint {{ id }} errors {{ code {PROBLEMS} }} }} }}""",
            {"t": team.public_id, "y": source},
            user=owner,
        )["data"]["createBlueprint"]
    assert created["blueprint"] is None
    check(created["errors"][0]["problems"])

    with quickly():
        env = gql(
            f"""mutation($t: ID!, $y: String!) {{ createEnvironment(input: {{team: $t, yaml: $y}})
            {{ environment {{ id }} errors {{ code {PROBLEMS} }} }} }}""",
            {"t": team.public_id, "y": source},
            user=owner,
        )["data"]["createEnvironment"]
    assert env["environment"] is None and env["errors"][0]["code"] == "INVALID_BLUEPRINT"
    check(env["errors"][0]["problems"])


def test_graphql_compose_import_refuses_an_alias_bomb(gql, owner):
    compose = BILLION_LAUGHS.replace("name: shop\n", "").replace(
        "services:\n  - name: api\n    image: nginx:1.27\n", ""
    )
    with quickly():
        result = gql(
            f"query($y: String!) {{ importCompose(yaml: $y) {{ yaml {PROBLEMS} }} }}", {"y": compose}, user=owner
        )
    assert result["data"]["importCompose"]["yaml"] == ""
    _expanded_problem(result["data"]["importCompose"]["problems"])


POLICY_BOMB = "name: p\nsalt: s3cr3t-salt-value\n" + BILLION_LAUGHS.split("services:")[0].replace("name: shop\n", "")


def test_graphql_policy_operations_refuse_an_alias_bomb(gql, owner, team):
    with quickly():
        checked = gql(
            f"mutation($y: String!) {{ validateSanitizationPolicy(yaml: $y) {{ valid {PROBLEMS} }} }}",
            {"y": POLICY_BOMB},
            user=owner,
        )["data"]["validateSanitizationPolicy"]
    assert checked["valid"] is False
    _expanded_problem(checked["problems"])
    with quickly():
        created = gql(
            f"""mutation($t: ID!, $y: String!) {{ createSanitizationPolicy(input: {{team: $t, name: "p", yaml: $y}})
            {{ policy {{ id }} errors {{ code {PROBLEMS} }} }} }}""",
            {"t": team.public_id, "y": POLICY_BOMB},
            user=owner,
        )["data"]["createSanitizationPolicy"]
    assert created["policy"] is None and created["errors"][0]["code"] == "INVALID_POLICY"
    _expanded_problem(created["errors"][0]["problems"])


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/blueprints/new/", {"name": "shop", "yaml": BILLION_LAUGHS}),
        ("/blueprints/validate/", {"yaml": BILLION_LAUGHS}),
        ("/environments/new/", {"yaml": BILLION_LAUGHS}),
        ("/snapshots/policies/", {"name": "p", "yaml": POLICY_BOMB}),
    ],
)
def test_dashboard_forms_refuse_an_alias_bomb_with_a_located_problem(client_for, owner, team, path, data):
    with quickly():
        response = client_for(owner).post(path, data)
    assert response.status_code in (200, 400), response.status_code
    body = response.content.decode()
    assert "expands to more than" in body
    assert "line" in body.lower()


def test_a_form_post_over_the_request_limit_is_a_clear_413(client_for, owner, team, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
    response = client_for(owner).post("/blueprints/new/", {"name": "shop", "yaml": OVERSIZED})
    assert response.status_code == 413
    assert b"larger than this server accepts" in response.content


@pytest.mark.parametrize(("source", "needle"), [(BILLION_LAUGHS, "expands to more than"), (OVERSIZED, "larger than")])
def test_cli_env_validate_refuses_hostile_yaml_offline(tmp_path, capsys, source, needle):
    path = tmp_path / "blueprint.yaml"
    path.write_text(source)
    with quickly():
        code = main(["env", "validate", "--file", str(path)])
    out = capsys.readouterr()
    assert code == 1
    assert needle in out.out + out.err
    assert f"{path}:" in out.out + out.err  # located: file:line:column
