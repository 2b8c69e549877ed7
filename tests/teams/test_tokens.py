"""API tokens: shown once, stored hashed, expiring, revocable, and the only way tools authenticate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from microstax.teams import actions
from microstax.teams.models import ApiToken

VIEWER = "{ viewer { username tokenName } }"


def test_a_token_authenticates_graphql_and_is_stored_only_as_a_hash(gql, owner):
    token, secret = actions.create_api_token(actor=owner, name="laptop")
    assert secret.startswith("msx_") and len(secret) > 40
    assert secret not in repr(ApiToken.objects.values_list())
    assert gql(VIEWER, token=secret)["data"]["viewer"] == {"username": "olivia", "tokenName": "laptop"}
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.parametrize("state", ["revoked", "expired", "garbage", "inactive-user"])
def test_unusable_tokens_get_401_and_an_audit_event(gql, owner, state):
    token, secret = actions.create_api_token(actor=owner, name="t")
    if state == "revoked":
        actions.revoke_api_token(actor=owner, token=token)
    elif state == "expired":
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "garbage":
        secret = "msx_not-a-real-token"
    else:
        owner.is_active = False
        owner.save()
    body = gql(VIEWER, token=secret, expect_status=401)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert AuditEvent.objects.filter(action="auth.token.failed", outcome="failure").count() == 1


def test_create_and_revoke_through_graphql_show_the_secret_once(gql, owner):
    created = gql(
        'mutation { createApiToken(input: {name: "ci", expiresInDays: 30}) '
        "{ secret token { id name status expiresAt displayPrefix } errors { code } } }",
        user=owner,
    )["data"]["createApiToken"]
    assert created["errors"] == [] and created["secret"].startswith(created["token"]["displayPrefix"])
    listed = gql("{ apiTokens { edges { node { id name status } } } }", user=owner)["data"]["apiTokens"]
    assert "secret" not in str(listed)
    assert listed["edges"][0]["node"]["status"] == "active"
    revoked = gql(
        "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { token { status } errors { code } } }",
        {"id": created["token"]["id"]},
        token=created["secret"],
    )["data"]["revokeApiToken"]
    assert revoked == {"token": {"status": "revoked"}, "errors": []}
    assert [e.action for e in AuditEvent.objects.order_by("sequence")] == ["token.create", "token.revoke"]


def test_nobody_sees_or_revokes_someone_elses_token(gql, owner, outsider, no_trace):
    token, _ = actions.create_api_token(actor=owner, name="mine")
    outsider_secret = gql.token_for(outsider)
    gql(VIEWER, token=outsider_secret)
    with no_trace():
        listed = gql("{ apiTokens { totalCount edges { node { name } } } }", token=outsider_secret)
        revoked = gql(
            "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { errors { code } } }",
            {"id": token.public_id},
            token=outsider_secret,
        )
    assert [e["node"]["name"] for e in listed["data"]["apiTokens"]["edges"]] == ["test"]
    assert revoked["data"]["revokeApiToken"]["errors"] == [{"code": "NOT_FOUND"}]


@pytest.mark.parametrize("days", [0, -1, 100000])
def test_expiry_out_of_range_is_refused(gql, owner, no_trace, days):
    with no_trace():
        data = gql(
            'mutation($d: Int) { createApiToken(input: {name: "x", expiresInDays: $d}) '
            "{ secret errors { code field } } }",
            {"d": days},
            user=owner,
        )["data"]["createApiToken"]
    assert data == {"secret": None, "errors": [{"code": "INVALID", "field": "expiresInDays"}]}


def test_create_api_token_command_prints_a_working_token(gql, owner, capsys):
    call_command("create_api_token", "olivia", "--name", "deploy", "--expires-in", "7")
    secret = capsys.readouterr().out.strip()
    assert gql(VIEWER, token=secret)["data"]["viewer"]["tokenName"] == "deploy"
    assert ApiToken.objects.get(name="deploy").expires_at is not None


def test_bootstrap_demo_is_idempotent_and_prints_a_working_token(gql, db, capsys, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("bootstrap_demo")
    first = capsys.readouterr().out
    secret = next(line.split()[2] for line in first.splitlines() if "API token" in line)
    call_command("bootstrap_demo")
    second = capsys.readouterr().out
    assert "already created" in second
    password_line = [line for line in first.splitlines() if "Sign in as" in line][0]
    assert password_line in second
    assert gql(VIEWER, token=secret)["data"]["viewer"]["username"] == "admin"
    assert gql("{ teams { totalCount } }", token=secret)["data"]["teams"]["totalCount"] == 1


def test_bootstrap_demo_creates_the_demo_environment_once(
    db, sim, capsys, settings, tmp_path, django_capture_on_commit_callbacks
):
    from environments.models import Environment

    settings.VAR_DIR = tmp_path
    kubeconfig = tmp_path / "sandbox.kubeconfig"
    sim.kubeconfig(kubeconfig)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("bootstrap_demo", "--sandbox-kubeconfig", str(kubeconfig), "--demo-environment")
    out = capsys.readouterr().out
    assert "Sandbox cluster" in out and "Demo environment  hello" in out
    env = Environment.objects.get()
    assert (env.name, env.cluster.name, env.cluster.kind) == ("hello", "sandbox", "sandbox")
    call_command("bootstrap_demo", "--sandbox-kubeconfig", str(kubeconfig), "--demo-environment")
    assert Environment.objects.count() == 1
    env.refresh_from_db()
    assert env.state == "ready", env.state_reason


def test_bootstrap_demo_installs_the_fleet_sweep_schedule_once(db, settings, tmp_path, capsys):
    from django_q.models import Schedule

    settings.VAR_DIR = tmp_path
    call_command("bootstrap_demo")
    call_command("bootstrap_demo")
    assert Schedule.objects.filter(name="microstax-fleet-sweep").count() == 1
