"""auditEvents, auditEvent, verifyAudit and complianceSummary: read-only, filtered in SQL."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from audit.actions import record
from audit.models import AuditEvent
from microstax.graphql.schema import schema
from tests.audit.tampering import raw

EVENTS = """
query($filters: AuditEventFilter, $first: Int, $after: String) {
  auditEvents(filters: $filters, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id action teamSlug actorName tokenName outcome targetId before after keyId } }
  }
}
"""
VERIFY = (
    "query($since: Date, $event: ID) {"
    " verifyAudit(since: $since, event: $event) { status ok checked brokenSequence kind problem } }"
)


@pytest.fixture
def auditor(make_user):
    user = make_user("rita")
    user.user_permissions.add(Permission.objects.get(codename="view_all_events"))
    return user


@pytest.fixture
def events(team, other_team, owner, outsider):
    for i in range(3):
        record(action=f"environment.test{i}", actor=owner, team=team, target_id=f"env_{i}", after={"i": i})
    record(action="environment.other", actor=outsider, team=other_team)


def _actions(result) -> list[str]:
    return [edge["node"]["action"] for edge in result["data"]["auditEvents"]["edges"]]


def test_auditors_read_all_owners_their_team_others_nothing(gql, events, auditor, owner, viewer, outsider):
    assert "environment.other" in _actions(gql(EVENTS, user=auditor))
    own = _actions(gql(EVENTS, user=owner))
    assert "environment.test0" in own and "environment.other" not in own
    assert _actions(gql(EVENTS, user=viewer)) == []
    assert _actions(gql(EVENTS, user=outsider)) == ["environment.other", "team.create"]


def test_filters_and_relay_pages(gql, events, auditor):
    result = gql(EVENTS, {"filters": {"team": "payments", "action": "environment.*"}, "first": 2}, user=auditor)
    page = result["data"]["auditEvents"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"]
    assert _actions(result) == ["environment.test2", "environment.test1"]
    rest = gql(
        EVENTS,
        {"filters": {"team": "payments", "action": "environment.*"}, "after": page["pageInfo"]["endCursor"]},
        user=auditor,
    )
    assert _actions(rest) == ["environment.test0"]
    assert _actions(gql(EVENTS, {"filters": {"search": "env_1"}}, user=auditor)) == ["environment.test1"]


def test_one_event_by_id_is_null_for_those_who_may_not_read_it(gql, events, auditor, outsider):
    event = AuditEvent.objects.get(action="environment.test1")
    query = "query($id: ID!) { auditEvent(id: $id) { id action after tokenName } }"
    assert gql(query, {"id": str(event.sequence)}, user=auditor)["data"]["auditEvent"]["after"] == {"i": 1}
    assert gql(query, {"id": str(event.sequence)}, user=outsider)["data"]["auditEvent"] is None


def test_token_use_is_visible_on_the_event(gql, team, owner):
    token = gql.token_for(owner, name="deploy-bot")
    gql('mutation { renameTeam(input: {team: "payments", name: "Pay"}) { errors { code } } }', token=token)
    result = gql(EVENTS, {"filters": {"action": "team.rename"}}, user=owner)
    node = result["data"]["auditEvents"]["edges"][0]["node"]
    assert (node["actorName"], node["tokenName"]) == ("olivia", "deploy-bot")


def test_verify_audit_reports_the_first_broken_event(gql, events, auditor, owner, viewer):
    assert gql(VERIFY, user=auditor)["data"]["verifyAudit"]["status"] == "verified"
    victim = AuditEvent.objects.get(action="environment.test1")
    raw("UPDATE audit_auditevent SET after=%s WHERE sequence=%s", ['{"i": 9}', victim.sequence])
    result = gql(VERIFY, user=owner)["data"]["verifyAudit"]
    assert (result["ok"], result["brokenSequence"], result["kind"]) == (False, victim.sequence, "field_changed")
    one = gql(VERIFY, {"event": str(victim.sequence - 1)}, user=auditor)["data"]["verifyAudit"]
    assert one["ok"]
    denied = gql(VERIFY, user=viewer)
    assert denied["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


def test_the_schema_has_no_audit_mutation():
    mutation = schema.get_type_by_name("Mutation")
    names = [f.name.lower() for f in mutation.fields]
    assert not [n for n in names if "audit" in n or "checkpoint" in n]


def test_compliance_summary(gql, events, auditor, owner, viewer):
    gql.token_for(viewer, name="victors-laptop")
    query = (
        "{ complianceSummary { teams { team roles { role members } } tokens { user name lastUsedAt }"
        " platform { username role } } }"
    )
    mine = gql(query, user=owner)["data"]["complianceSummary"]
    assert [t["team"] for t in mine["teams"]] == ["payments"]
    assert {"role": "viewer", "members": ["victor"]} in mine["teams"][0]["roles"]
    assert ("victor", "victors-laptop") in [(t["user"], t["name"]) for t in mine["tokens"]]
    assert mine["platform"] == []
    everything = gql(query, user=auditor)["data"]["complianceSummary"]
    assert {t["team"] for t in everything["teams"]} == {"payments", "search"}
    assert {"username": "rita", "role": "auditor"} in everything["platform"]
    assert gql(query, user=viewer)["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


def test_reading_through_graphql_changes_nothing(gql, events, auditor):
    before = AuditEvent.objects.count()
    gql(EVENTS, user=auditor)
    gql(VERIFY, user=auditor)
    assert AuditEvent.objects.count() == before
