"""Audit coverage, enforced: every GraphQL mutation, every management command that changes state and
every dashboard form writes exactly one audit event, and a refused call exactly one ``denied`` event
that carries the attempted action, the actor and the reason — never the payload — and changes nothing else.

The mutations are read from the schema by introspection, the commands from ``get_commands()`` and the
forms from the URL resolver, so a new one that nobody classified fails here: add its auditing (its
action's ``record`` call, and its row in ``microstax.graphql.auditing.MUTATION_AUDIT`` or
``audit.middleware.FORM_AUDIT``) and a row in the tables below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import get_commands
from django.urls import URLPattern, URLResolver, get_resolver

from audit.middleware import FORM_AUDIT
from audit.models import AuditEvent
from blueprints.models import Blueprint
from environments import actions as env_actions
from environments.models import Cluster, Environment
from microstax.graphql.auditing import MUTATION_AUDIT, READ_ONLY_MUTATIONS
from microstax.graphql.schema import schema
from microstax.teams import actions as team_actions
from microstax.teams.choices import Role
from microstax.teams.models import ApiToken, Team
from snapshots.models import SanitizationPolicy, Snapshot
from tests.environments.test_lifecycle import STACK
from tests.environments.test_overlays import BASELINE, OVERLAY
from tests.snapshots_api.conftest import (  # noqa: F401  (fixtures)
    POLICY,
    env,
    make_snapshot,
    policy,
    snapshot,
    snapshot_storage,
)

# --- the mutations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One mutation's representative call: its input (built from the world), the persona allowed to
    make it, the personas refused, and the event a success records (action, target)."""

    input_type: str
    inputs: Callable[[Any], dict]
    action: str
    target: Callable[[Any, dict], str]
    allowed: str = "owner"
    refused: tuple[str, ...] = ("viewer", "outsider")
    setup: Callable[[Any], None] | None = None
    # What the denied event names as its target (the id the caller gave), from the world.
    refused_target: Callable[[Any], str] = field(default=lambda w: "")


def _env_id(w) -> str:
    return w.env.public_id


def _team_id(w) -> str:
    return w.team.public_id


def _stopped(w) -> None:
    with w.on_commit(execute=True):
        env_actions.stop_environment(actor=w.owner, env=w.env)
    w.env.refresh_from_db()
    assert w.env.state == "stopped", w.env.state_reason


def _failed(w) -> None:
    Environment.objects.filter(pk=w.env.pk).update(state="failed")
    w.env.refresh_from_db()


def _baseline(w) -> None:
    with w.on_commit(execute=True):
        w.baseline = env_actions.create_environment(actor=w.owner, team=w.team, source=BASELINE, name="base")
    w.baseline.refresh_from_db()
    assert w.baseline.state == "ready", w.baseline.state_reason


def _member(w) -> None:
    w.newbie = w.make_user("newbie")


def _member_added(w) -> None:
    _member(w)
    team_actions.add_team_member(actor=w.owner, team=w.team, username="newbie", role=Role.DEVELOPER)


def _blueprint(w) -> None:
    from blueprints import actions as blueprint_actions

    w.blueprint, _ = blueprint_actions.create_blueprint(actor=w.owner, team=w.team, name="shop", source=STACK)


def _owner_token(w) -> None:
    w.token, _ = team_actions.create_api_token(actor=w.owner, name="ci")


def _env_field(data: dict) -> str:
    return data["environment"]["id"]


ENV_ID = "environment { id }"


def _env_case(action: str, extra: dict | None = None, **options) -> Case:
    return Case(
        "EnvironmentIdInput" if not extra else options.pop("input_type"),
        lambda w: {"id": w.env.public_id, **(extra or {})},
        action,
        lambda w, data: w.env.public_id,
        refused_target=_env_id,
        **options,
    )


CASES: dict[str, Case] = {
    "createTeam": Case(
        "CreateTeamInput",
        lambda w: {"slug": "billing", "name": "Billing"},
        "team.create",
        lambda w, data: data["team"]["id"],
        refused=(),  # anyone signed in may create a team
    ),
    "renameTeam": Case(
        "RenameTeamInput",
        lambda w: {"team": w.team.public_id, "name": "Payments & Co"},
        "team.rename",
        lambda w, data: w.team.public_id,
        refused_target=_team_id,
    ),
    "addTeamMember": Case(
        "TeamMemberInput",
        lambda w: {"team": w.team.public_id, "username": "newbie", "role": "DEVELOPER"},
        "team.member.add",
        lambda w, data: f"{w.team.public_id}/newbie",
        setup=_member,
        refused_target=_team_id,
    ),
    "setMemberRole": Case(
        "TeamMemberInput",
        lambda w: {"team": w.team.public_id, "username": "newbie", "role": "MAINTAINER"},
        "team.member.role",
        lambda w, data: f"{w.team.public_id}/newbie",
        setup=_member_added,
        refused_target=_team_id,
    ),
    "removeTeamMember": Case(
        "RemoveTeamMemberInput",
        lambda w: {"team": w.team.public_id, "username": "newbie"},
        "team.member.remove",
        lambda w, data: f"{w.team.public_id}/newbie",
        setup=_member_added,
        refused_target=_team_id,
    ),
    "createApiToken": Case(
        "CreateApiTokenInput",
        lambda w: {"name": "laptop"},
        "token.create",
        lambda w, data: data["token"]["id"],
        refused=(),  # everyone makes their own tokens
    ),
    "revokeApiToken": Case(
        "RevokeApiTokenInput",
        lambda w: {"id": w.token.public_id},
        "token.revoke",
        lambda w, data: w.token.public_id,
        setup=_owner_token,
        refused_target=lambda w: w.token.public_id,
    ),
    "createBlueprint": Case(
        "CreateBlueprintInput",
        lambda w: {"team": w.team.public_id, "name": "shop", "yaml": STACK},
        "blueprint.create",
        lambda w, data: data["blueprint"]["id"],
        refused_target=_team_id,
    ),
    "publishBlueprintVersion": Case(
        "PublishBlueprintVersionInput",
        lambda w: {"blueprint": w.blueprint.public_id, "yaml": STACK.replace("ttl: 48h", "ttl: 24h")},
        "blueprint.publish",
        lambda w, data: w.blueprint.public_id,
        setup=_blueprint,
        refused_target=lambda w: w.blueprint.public_id,
    ),
    "registerCluster": Case(
        "RegisterClusterInput",
        lambda w: {"name": "second", "kubeconfig": w.sim.kubeconfig(), "kind": "sandbox"},
        "cluster.register",
        lambda w, data: data["cluster"]["id"],
        allowed="admin",
        refused_target=lambda w: "second",
    ),
    "createEnvironment": Case(
        "CreateEnvironmentInput",
        lambda w: {"team": w.team.public_id, "yaml": STACK, "name": "shop-two"},
        "environment.create",
        lambda w, data: _env_field(data),
        refused_target=_team_id,
    ),
    "createBaseline": Case(
        "CreateEnvironmentInput",
        lambda w: {"team": w.team.public_id, "yaml": STACK, "name": "shop-base"},
        "environment.create",
        lambda w, data: _env_field(data),
        refused_target=_team_id,
    ),
    "createOverlay": Case(
        "CreateOverlayInput",
        lambda w: {"base": w.baseline.public_id, "yaml": OVERLAY},
        "environment.overlay.create",
        lambda w, data: _env_field(data),
        setup=_baseline,
        refused_target=lambda w: w.baseline.public_id,
    ),
    "updateEnvironment": _env_case(
        "environment.update",
        {"yaml": STACK.replace("ttl: 48h", "ttl: 24h")},
        input_type="UpdateEnvironmentInput",
    ),
    "promoteEnvironment": _env_case("environment.promote"),
    "stopEnvironment": _env_case("environment.stop"),
    "resumeEnvironment": _env_case("environment.resume", setup=_stopped),
    "retryEnvironment": _env_case("environment.retry", setup=_failed),
    "deleteEnvironment": _env_case("environment.delete", {"force": False}, input_type="DeleteEnvironmentInput"),
    "scaleService": _env_case("environment.scale", {"service": "api", "replicas": 2}, input_type="ScaleServiceInput"),
    "extendEnvironment": _env_case("environment.ttl", {"ttl": "24h"}, input_type="ExtendEnvironmentInput"),
    "setAutoShutdown": _env_case("environment.idle_policy", {"enabled": False}, input_type="SetAutoShutdownInput"),
    "updateTeamPolicy": Case(
        "UpdateTeamPolicyInput",
        lambda w: {"team": w.team.public_id, "maxEnvironments": 7},
        "team.policy.update",
        lambda w, data: w.team.public_id,
        refused_target=_team_id,
    ),
    "createSnapshot": Case(
        "CreateSnapshotInput",
        lambda w: {"environment": w.env.public_id, "service": "db"},
        "snapshot.create",
        lambda w, data: data["snapshot"]["id"],
        refused_target=_env_id,
    ),
    "restoreSnapshot": Case(
        "RestoreSnapshotInput",
        lambda w: {"snapshot": w.snapshot.public_id, "environment": w.env.public_id, "service": "db"},
        "snapshot.restore",
        lambda w, data: w.snapshot.public_id,
        refused_target=lambda w: w.snapshot.public_id,
    ),
    "replayEnvironment": Case(
        "ReplayEnvironmentInput",
        lambda w: {"environment": w.env.public_id, "snapshot": w.snapshot.public_id},
        "environment.replay",
        lambda w, data: _env_field(data),
        refused_target=_env_id,
    ),
    "deleteSnapshot": Case(
        "SnapshotIdInput",
        lambda w: {"id": w.snapshot.public_id},
        "snapshot.delete",
        lambda w, data: w.snapshot.public_id,
        refused_target=lambda w: w.snapshot.public_id,
    ),
    "createSanitizationPolicy": Case(
        "CreateSanitizationPolicyInput",
        lambda w: {"team": w.team.public_id, "name": "shop-strict", "yaml": POLICY.replace("shop-dev", "shop-strict")},
        "snapshot_policy.create",
        lambda w, data: data["policy"]["id"],
        refused_target=_team_id,
    ),
    "shareSnapshot": Case(
        "ShareSnapshotInput",
        lambda w: {"snapshot": w.snapshot.public_id, "team": "search"},
        "snapshot.share",
        lambda w, data: w.snapshot.public_id,
        refused_target=lambda w: w.snapshot.public_id,
    ),
}

# What each payload is asked for: the object whose id the expected target is read from.
SELECTIONS = {
    "createTeam": "team { id }",
    "createApiToken": "token { id }",
    "createBlueprint": "blueprint { id }",
    "registerCluster": "cluster { id }",
    "createSnapshot": "snapshot { id }",
    "createSanitizationPolicy": "policy { id }",
}


def schema_mutations() -> set[str]:
    result = schema.execute_sync("{ __schema { mutationType { fields { name } } } }")
    assert result.errors is None, result.errors
    return {f["name"] for f in result.data["__schema"]["mutationType"]["fields"]}


def test_every_mutation_is_audited_and_has_a_row_here():
    mutations = schema_mutations() - READ_ONLY_MUTATIONS
    missing = sorted(mutations - set(CASES))
    assert not missing, (
        f"mutations without an audit coverage row: {', '.join(missing)} — make each record exactly one "
        "audit event (in its action), name it in microstax.graphql.auditing.MUTATION_AUDIT, and add a row "
        "to CASES in tests/audit/test_coverage.py (or to READ_ONLY_MUTATIONS if it changes nothing)"
    )
    assert not sorted(set(CASES) - mutations), "rows for mutations the schema no longer has"
    unnamed = sorted(m for m in mutations if m not in MUTATION_AUDIT)
    assert not unnamed, f"name the audit action of {', '.join(unnamed)} in MUTATION_AUDIT (its denied events)"


@pytest.fixture
def world(owner, viewer, outsider, admin_user, team, other_team, env, snapshot, sim, make_user, make_snapshot):  # noqa: F811
    """Everything a representative call needs: the personas, a provisioned environment with a ready
    snapshot, the emulator; a case's ``setup`` adds what else it needs."""
    return SimpleNamespace(
        owner=owner,
        viewer=viewer,
        outsider=outsider,
        admin=admin_user,
        team=team,
        env=env,
        snapshot=snapshot,
        sim=sim,
        make_user=make_user,
        make_snapshot=make_snapshot,
        on_commit=None,
    )


def _mutate(gql, name: str, case: Case, variables: dict, user) -> dict:
    selection = SELECTIONS.get(name, ENV_ID if "environment" in case.action or name == "replayEnvironment" else "")
    query = (
        f"mutation($input: {case.input_type}!) {{ {name}(input: $input) {{ {selection} "
        "errors { code field message } } }"
    )
    body = gql(query, {"input": variables}, user=user)
    assert "errors" not in body, body
    return body["data"][name]


def _new_events(since: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(sequence__gt=since).order_by("sequence"))


def _head() -> int:
    return AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_mutation_writes_one_event_and_a_refused_one_one_denied_event(
    gql, world, request, no_trace, django_capture_on_commit_callbacks, name
):
    case = CASES[name]
    world.on_commit = django_capture_on_commit_callbacks
    if case.setup:
        case.setup(world)
    variables = case.inputs(world)

    # when: each refused persona tries it
    for persona in case.refused:
        user = getattr(world, persona)
        since = _head()
        with no_trace(refused=1):
            result = _mutate(gql, name, case, variables, user)
        assert [e["code"] for e in result["errors"]] in (["PERMISSION_DENIED"], ["NOT_FOUND"]), result
        # then: one denied event with the attempt, the actor and the reason — no payload
        [denied] = _new_events(since)
        assert (denied.outcome, denied.action, denied.actor_id) == ("denied", case.action, user.pk), denied
        assert denied.target_id == case.refused_target(world), (denied.target_type, denied.target_id)
        assert denied.reason.startswith(result["errors"][0]["code"]) and result["errors"][0]["message"] in denied.reason
        assert denied.before is None and denied.after is None
        assert denied.request_id.startswith("req_") and denied.ip == "127.0.0.1"
        if result["errors"][0]["code"] == "PERMISSION_DENIED" and name not in ("registerCluster",):
            assert denied.team_id == world.team.pk

    # when: the allowed persona makes the call
    since = _head()
    result = _mutate(gql, name, case, variables, getattr(world, case.allowed))
    assert result["errors"] == [], result
    # then: exactly one event, of the expected action and target
    events = _new_events(since)
    assert [(e.action, e.outcome) for e in events] == [(case.action, "success")], [str(e) for e in events]
    assert events[0].target_id == case.target(world, result)
    declared = MUTATION_AUDIT[name].action
    assert (declared(variables) if callable(declared) else declared) == case.action


def test_a_token_caller_is_named_in_the_denied_event(gql, world):
    token = gql.token_for(world.viewer, name="viewer-laptop")
    since = _head()
    gql(
        "mutation($id: ID!) { stopEnvironment(input: {id: $id}) { errors { code } } }",
        {"id": world.env.public_id},
        token=token,
    )
    [denied] = _new_events(since)
    assert (denied.outcome, denied.actor_kind, denied.token_name) == ("denied", "token", "viewer-laptop")


def test_a_mutation_that_fails_for_another_reason_writes_nothing(gql, world, no_trace):
    since = _head()
    with no_trace(refused=0):
        result = gql(
            "mutation($id: ID!) { resumeEnvironment(input: {id: $id}) { errors { code } } }",
            {"id": world.env.public_id},
            user=world.owner,
        )["data"]["resumeEnvironment"]
    assert result["errors"][0]["code"] == "CONFLICT"
    assert _new_events(since) == []


# --- management commands ----------------------------------------------------------------------------

# Commands that change nothing the trail covers. Read-only, or audit bookkeeping that is itself the trail.
READ_ONLY_COMMANDS = {
    "audit_verify": "reads and verifies the chain",
    "kubesim": "runs the emulator; no database change",
    "render_deploy": "prints deployment manifests",
    "wait_for_migrations": "waits until the database schema is migrated",
    # Deployment bookkeeping next to `migrate`: the worker's task schedules, no object the trail covers.
    "install_schedules": "creates or repairs the django-q2 schedules (fleet sweep, audit checkpoint)",
    # Signs daily checkpoints: rows of the trail's own integrity, not a change to a covered object.
    "audit_checkpoint": "writes checkpoints, which are the trail's integrity, not events about objects",
}

# Commands that change state, and the action of the one event each call records.
AUDITED_COMMANDS = {
    "audit_prune": "audit.prune",
    "audit_rotate_key": "audit.key.rotated",
    "bootstrap_demo": "(several: one per user, team, token and cluster it creates)",
    "create_api_token": "token.create",
    "fleet_sweep": "(one per environment or snapshot it expires, stops, deletes or purges)",
    "register_cluster": "cluster.register",
}

PROJECT_APPS = ("audit", "blueprints", "environments", "snapshots", "frontend", "microstax")


def test_every_project_command_is_audited_or_listed_read_only():
    commands = {name for name, app in get_commands().items() if app.split(".")[0] in PROJECT_APPS}
    unknown = sorted(commands - set(READ_ONLY_COMMANDS) - set(AUDITED_COMMANDS))
    assert not unknown, (
        f"management commands not classified: {', '.join(unknown)} — if it changes state, make it record "
        "one audit event per change (through an action) and add it to AUDITED_COMMANDS with a test; "
        "otherwise add it to READ_ONLY_COMMANDS saying why"
    )
    assert not sorted((set(READ_ONLY_COMMANDS) | set(AUDITED_COMMANDS)) - commands), "listed commands that are gone"


def test_create_api_token_command_writes_one_event(owner, capsys):
    from django.core.management import call_command

    since = _head()
    call_command("create_api_token", owner.username, "--name", "ci")
    assert [(e.action, e.outcome) for e in _new_events(since)] == [("token.create", "success")]


def test_register_cluster_command_writes_one_event(admin_user, sim, tmp_path, capsys):
    from django.core.management import call_command

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(sim.kubeconfig())
    since = _head()
    call_command("register_cluster", "--name", "edge", "--kubeconfig", str(kubeconfig), "--kind", "sandbox")
    assert [(e.action, e.outcome) for e in _new_events(since)] == [("cluster.register", "success")]


# --- dashboard forms --------------------------------------------------------------------------------

# Named routes that change nothing the trail covers (pages, fragments, read-only posts).
READ_ONLY_ROUTES = {
    "frontend:home",
    "frontend:login",
    "frontend:logout",
    "frontend:team",
    "frontend:switch-team",  # the session's current team: a preference, not a change to the team
    "environments:list",
    "environments:rows",
    "environments:detail",
    "environments:status",
    "environments:logs",
    "environments:fleet",
    "blueprints:list",
    "blueprints:detail",
    "blueprints:validate",
    "blueprint-schema",
    "snapshots:list",
    "snapshots:rows",
    "snapshots:detail",
    "snapshots:policy-validate",
    "snapshots:download",  # GET only; the download itself is audited (snapshot.download) by its action
    "audit:events",
    "audit:event",
    "audit:export-csv",
    "audit:export-jsonl",
    "audit:environment",
    "audit:compliance",
    "audit:integrity",
    "graphql",  # every mutation is covered above
    "healthz",
    "livez",
}
# Routes that change state but are not dashboard forms: their callers are machines, and the action
# behind them records its own event.
MACHINE_ROUTES = {
    "environments:wake": "environment.resume, by the system, when a stopped environment is visited",
    "environments:wake-service": "as environments:wake",
    "snapshots:artifact": "the snapshot Job's artifact transfer; the capture/restore operation records the event",
}


def _route_names(resolver: URLResolver | None = None, prefix: str = "") -> set[str]:
    names = set()
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                continue  # Django's admin: the audit models are read-only there; it keeps its own log
            inner = f"{prefix}{pattern.namespace}:" if pattern.namespace else prefix
            names |= _route_names(pattern, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(prefix + pattern.name)
    return names


def test_every_dashboard_route_is_an_audited_form_or_listed_read_only():
    routes = _route_names()
    unknown = sorted(routes - set(FORM_AUDIT) - READ_ONLY_ROUTES - set(MACHINE_ROUTES))
    assert not unknown, (
        f"routes not classified: {', '.join(unknown)} — if a POST there changes state, make its action record "
        "one event, name it in audit.middleware.FORM_AUDIT and add a row to FORMS here; otherwise add it to "
        "READ_ONLY_ROUTES"
    )
    assert not sorted((set(FORM_AUDIT) | READ_ONLY_ROUTES | set(MACHINE_ROUTES)) - routes), (
        "listed routes that are gone"
    )


@dataclass(frozen=True)
class Form:
    path: Callable[[Any], str]
    data: Callable[[Any], dict]
    action: str
    target: Callable[[Any], str]
    refused: tuple[str, ...] = ("viewer", "outsider")
    setup: Callable[[Any], None] | None = None
    allowed: str = "owner"
    # The denied event's target (named by the URL); default: the success target's team or object.
    refused_target: Callable[[Any], str] | None = None


def _policy_form(w) -> dict:
    from environments.actions import policies
    from environments.models import TeamPolicy

    values = policies.policy_snapshot(TeamPolicy.for_team(w.team))
    return {**{k: v for k, v in values.items() if v is not None}, "max_environments": 7}


def _latest(model, **lookup) -> str:
    return model.objects.filter(**lookup).order_by("-pk").values_list("public_id", flat=True).first() or ""


FORMS: dict[str, Form] = {
    "frontend:team-create": Form(
        lambda w: "/teams/new/",
        lambda w: {"slug": "billing", "name": "Billing"},
        "team.create",
        lambda w: _latest(Team, slug="billing"),
        refused=(),  # anyone signed in may create a team
    ),
    "frontend:team-policy": Form(
        lambda w: f"/teams/{w.team.public_id}/policy/", _policy_form, "team.policy.update", lambda w: w.team.public_id
    ),
    "frontend:member-role": Form(
        lambda w: f"/teams/{w.team.public_id}/members/newbie/role/",
        lambda w: {"role": "maintainer"},
        "team.member.role",
        lambda w: f"{w.team.public_id}/newbie",
        setup=_member_added,
    ),
    "frontend:member-remove": Form(
        lambda w: f"/teams/{w.team.public_id}/members/newbie/remove/",
        lambda w: {},
        "team.member.remove",
        lambda w: f"{w.team.public_id}/newbie",
        setup=_member_added,
    ),
    "frontend:token-create": Form(
        lambda w: "/tokens/create/",
        lambda w: {"name": "laptop"},
        "token.create",
        lambda w: _latest(ApiToken, name="laptop"),
        refused=(),  # everyone makes their own tokens
    ),
    "environments:create": Form(
        lambda w: "/environments/new/",
        lambda w: {"yaml": STACK.replace("name: shop", "name: shop-two")},
        "environment.create",
        lambda w: _latest(Environment, name="shop-two"),
        refused=("viewer",),  # the form creates in the caller's current team: an outsider's is their own
    ),
    "environments:overlay-create": Form(
        lambda w: f"/environments/{w.baseline.public_id}/overlays/new/",
        lambda w: {"yaml": OVERLAY},
        "environment.overlay.create",
        lambda w: _latest(Environment, parent=w.baseline),
        setup=_baseline,
        refused_target=lambda w: w.baseline.public_id,
    ),
    "environments:clusters": Form(
        lambda w: "/clusters/",
        lambda w: {"name": "second", "kind": "sandbox", "kubeconfig": w.sim.kubeconfig()},
        "cluster.register",
        lambda w: _latest(Cluster, name="second"),
        refused=(),  # non-admins are shown no form, and a post from them is ignored
        allowed="admin",
    ),
    "blueprints:new": Form(
        lambda w: "/blueprints/new/",
        lambda w: {"name": "shop", "yaml": STACK},
        "blueprint.create",
        lambda w: _latest(Blueprint, name="shop"),
        refused=("viewer",),  # in the caller's current team
    ),
    "blueprints:publish": Form(
        lambda w: f"/blueprints/{w.blueprint.public_id}/publish/",
        lambda w: {"yaml": STACK.replace("ttl: 48h", "ttl: 24h")},
        "blueprint.publish",
        lambda w: w.blueprint.public_id,
        setup=_blueprint,
    ),
    "snapshots:policies": Form(
        lambda w: "/snapshots/policies/",
        lambda w: {"name": "shop-strict", "yaml": POLICY.replace("shop-dev", "shop-strict")},
        "snapshot_policy.create",
        lambda w: _latest(SanitizationPolicy, name="shop-strict"),
        refused=("viewer",),  # in the caller's current team
    ),
    "snapshots:environment": Form(
        lambda w: f"/environments/{w.env.public_id}/snapshots/",
        lambda w: {"service": "db"},
        "snapshot.create",
        lambda w: _latest(Snapshot, environment=w.env),
        refused_target=_env_id,
    ),
    "frontend:team-rename": Form(
        lambda w: f"/teams/{w.team.public_id}/rename/",
        lambda w: {"name": "Renamed"},
        "team.rename",
        lambda w: w.team.public_id,
    ),
    "frontend:member-add": Form(
        lambda w: f"/teams/{w.team.public_id}/members/add/",
        lambda w: {"username": "newbie", "role": "developer"},
        "team.member.add",
        lambda w: f"{w.team.public_id}/newbie",
        setup=_member,
    ),
    "frontend:token-revoke": Form(
        lambda w: f"/tokens/{w.token.public_id}/revoke/",
        lambda w: {},
        "token.revoke",
        lambda w: w.token.public_id,
        setup=_owner_token,
    ),
    "environments:action": Form(
        lambda w: f"/environments/{w.env.public_id}/actions/stop/",
        lambda w: {},
        "environment.stop",
        lambda w: w.env.public_id,
    ),
    "environments:promote": Form(
        lambda w: f"/environments/{w.env.public_id}/promote/",
        lambda w: {},
        "environment.promote",
        lambda w: w.env.public_id,
    ),
    "snapshots:delete": Form(
        lambda w: f"/snapshots/{w.snapshot.public_id}/delete/",
        lambda w: {},
        "snapshot.delete",
        lambda w: w.snapshot.public_id,
    ),
    "snapshots:restore": Form(
        lambda w: f"/snapshots/{w.snapshot.public_id}/restore/",
        lambda w: {"environment": w.env.public_id, "service": "db"},
        "snapshot.restore",
        lambda w: w.snapshot.public_id,
    ),
}


def test_every_audited_form_has_a_row_here():
    missing = sorted(set(FORM_AUDIT) - set(FORMS))
    assert not missing, f"forms without a coverage row in FORMS: {', '.join(missing)}"


@pytest.mark.parametrize("name", sorted(FORMS))
def test_each_form_writes_one_event_and_a_refused_post_one_denied_event(
    world, client_for, no_trace, django_capture_on_commit_callbacks, name
):
    form = FORMS[name]
    world.on_commit = django_capture_on_commit_callbacks
    if form.setup:
        form.setup(world)
    for persona in form.refused:
        user = getattr(world, persona)
        since = _head()
        with no_trace(refused=1):
            client_for(user).post(form.path(world), form.data(world))
        [denied] = _new_events(since)
        assert (denied.outcome, denied.action, denied.actor_id) == ("denied", form.action, user.pk), denied
        expected = form.refused_target(world) if form.refused_target else form.target(world).split("/")[0]
        assert denied.target_id == expected and denied.reason
        assert denied.before is None and denied.after is None

    since = _head()
    client_for(getattr(world, form.allowed)).post(form.path(world), form.data(world))
    events = _new_events(since)
    assert [(e.action, e.outcome) for e in events] == [(form.action, "success")], [str(e) for e in events]
    assert events[0].target_id == form.target(world)


# --- background work --------------------------------------------------------------------------------


def test_an_operation_run_records_one_event_per_outcome_and_no_denied_events(world, django_capture_on_commit_callbacks):
    # given: an owner's stop, run by the worker
    since = _head()
    with django_capture_on_commit_callbacks(execute=True):
        env_actions.stop_environment(actor=world.owner, env=world.env)
    actions = [(e.action, e.outcome) for e in _new_events(since)]
    # then: the request's event, and none from the task but its own outcome (if it records one)
    assert actions[0] == ("environment.stop", "success")
    assert all(outcome != "denied" for _, outcome in actions)
    assert len([a for a in actions if a[0] == "environment.stop"]) == 1


def test_the_fleet_sweep_records_one_event_per_expired_environment(world, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from environments import fleet

    Environment.objects.filter(pk=world.env.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    other_env = env_actions.create_environment(actor=world.owner, team=world.team, source=STACK, name="kept")
    expired_snapshot = world.make_snapshot(other_env, expires_at=timezone.now() - timedelta(minutes=1))
    since = _head()
    with django_capture_on_commit_callbacks(execute=True):
        fleet.sweep()
    events = [e for e in _new_events(since) if e.target_id == world.env.public_id]
    # then: one delete by the system, and no event twice
    assert [(e.action, e.actor_kind) for e in events if e.action == "environment.delete"] == [
        ("environment.delete", "system")
    ]
    assert len({e.action for e in events}) == len(events), [str(e) for e in events]
    assert all(e.outcome != "denied" for e in events)
    # and: one purge of the expired snapshot
    purged = [(e.action, e.actor_kind) for e in _new_events(since) if e.target_id == expired_snapshot.public_id]
    assert purged == [("snapshot.delete", "system")]
