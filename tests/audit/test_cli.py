"""``microstax governance logs|verify`` and ``microstax org compliance`` against a live server."""

from __future__ import annotations

import json

import pytest

from audit.actions import record
from audit.models import AuditEvent
from microstax.teams import actions
from tests.audit.tampering import raw


@pytest.fixture
def trail(team, other_team, owner, outsider):
    for i in range(3):
        record(action=f"environment.test{i}", actor=owner, team=team, target_type="environment", target_id=f"env_{i}")
    record(action="environment.other", actor=outsider, team=other_team)


def test_governance_logs_lists_the_owners_team_with_filters(cli, trail, owner_token):
    code, out, err = cli("governance", "logs", token=owner_token)
    assert code == 0, err
    assert "environment.test2" in out and "environment.other" not in out
    assert out.splitlines()[0].split()[:3] == ["#", "TIME", "(UTC)"]
    code, out, _ = cli("-o", "json", "governance", "logs", "--action", "environment.*", "--since", "1d", "-n", "2")
    events = json.loads(out)
    assert code == 0 and [e["action"] for e in events] == ["environment.test2", "environment.test1"]
    code, out, _ = cli("governance", "logs", "--team", "search")
    assert code == 0 and out.strip() == "no audit events match"


def test_governance_logs_shows_the_token_used(cli, team, owner):
    token = actions.create_api_token(actor=owner, name="deploy-bot")[1]
    cli("auth", "verify", token=token)
    from audit import context

    with context.bound({"request_id": "req_1", "token_name": "deploy-bot"}):
        record(action="environment.scale", actor=owner, team=team)
    code, out, _ = cli("governance", "logs", "--action", "environment.scale")
    assert code == 0 and "olivia (token deploy-bot)" in out


def test_governance_logs_rejects_a_bad_day(cli, trail, owner_token):
    code, out, err = cli("governance", "logs", "--since", "last tuesday", token=owner_token)
    assert code == 1 and out == "" and "--since" in err


def test_governance_verify_exit_status_follows_the_chain(cli, trail, owner_token):
    code, out, _ = cli("governance", "verify", token=owner_token)
    assert code == 0 and out.startswith("verified:")
    victim = AuditEvent.objects.get(action="environment.test1")
    code, out, _ = cli("governance", "verify", str(victim.sequence - 1))
    assert code == 0
    raw("UPDATE audit_auditevent SET target_id=%s WHERE sequence=%s", ["env_forged", victim.sequence])
    code, out, _ = cli("governance", "verify")
    assert code == 1 and f"BROKEN at event #{victim.sequence} (field_changed)" in out
    code, out, _ = cli("-o", "json", "governance", "verify", str(victim.sequence))
    assert code == 1 and json.loads(out)["brokenSequence"] == victim.sequence
    code, _, err = cli("governance", "verify", "999999")
    assert code == 1 and "no audit event #999999" in err


def test_developers_and_viewers_are_refused(cli, trail, viewer_token):
    code, out, _ = cli("governance", "logs", token=viewer_token)
    assert code == 0 and "no audit events match" in out  # nothing readable
    code, _, err = cli("governance", "verify")
    assert code == 1 and "PERMISSION_DENIED" in err
    code, _, err = cli("org", "compliance")
    assert code == 1 and "PERMISSION_DENIED" in err


def test_org_compliance(cli, trail, owner_token, viewer):
    actions.create_api_token(actor=viewer, name="victors-laptop")
    code, out, err = cli("org", "compliance", token=owner_token)
    assert code == 0, err
    assert "TEAM MEMBERS BY ROLE" in out and "payments  viewer  victor" in out
    assert "victors-laptop" in out and "SNAPSHOTS RESTORED ACROSS TEAMS" in out
    code, out, _ = cli("-o", "json", "org", "compliance")
    assert code == 0 and json.loads(out)["teams"][0]["team"] == "payments"
