"""The reviewer pages: who sees what, filters with stable URLs, keyset pages, the event detail,
an environment's history, exports, the compliance summary, and that reading changes nothing."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from audit import context
from audit.actions import record
from audit.models import AuditChainHead, AuditEvent
from audit.queries import STATUS_CACHE_KEY
from environments.models import Cluster, Environment, Operation
from microstax.teams import actions as team_actions
from microstax.teams.choices import Role
from tests.audit.tampering import raw

PAGES = [
    "/audit/",
    "/audit/compliance/",
    "/audit/integrity/",
    "/audit/export.csv",
    "/audit/export.jsonl",
]


@pytest.fixture(autouse=True)
def fresh_status():
    from django.core.cache import cache

    cache.delete(STATUS_CACHE_KEY)
    yield
    cache.delete(STATUS_CACHE_KEY)


@pytest.fixture
def auditor(make_user):
    user = make_user("rita")
    user.user_permissions.add(Permission.objects.get(codename="view_all_events"))
    return user


@pytest.fixture
def developer(team, owner, make_user):
    user = make_user("dora")
    team_actions.add_team_member(actor=owner, team=team, username="dora", role=Role.DEVELOPER)
    return user


@pytest.fixture
def environment(team, owner):
    cluster = Cluster.objects.create(name="c1", kind="sandbox")
    env = Environment.objects.create(
        team=team, name="web", cluster=cluster, namespace="msx-web", source="", spec={}, spec_hash="x", created_by=owner
    )
    return env


@pytest.fixture
def activity(team, other_team, owner, outsider, environment):
    """Events of both teams: the payments team's environment and operation, and search's."""
    operation = Operation.objects.create(environment=environment, kind="create", actor=owner)
    with context.bound({"request_id": "req_ci1", "ip": "10.0.0.7", "user_agent": "cli/1", "token_name": "ci-bot"}):
        record(
            action="environment.update",
            actor=owner,
            team=team,
            target_type="environment",
            target_id=environment.public_id,
            before={"state": "ready", "replicas": 1, "ttl": "24h"},
            after={"state": "ready", "replicas": 3, "plan": "large"},
        )
    record(action="operation.finish", actor=None, team=team, target_type="operation", target_id=operation.public_id)
    record(action="environment.delete", actor=outsider, team=other_team, target_type="environment", target_id="env_x")
    record(action="environment.stop", actor=owner, team=team, outcome="denied", reason="quota", target_id="env_y")
    return environment


def _text(response) -> str:
    return b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()


@pytest.mark.parametrize("path", PAGES)
def test_members_who_are_not_owners_and_users_of_no_team_get_404(
    client_for, activity, viewer, developer, make_user, path
):
    for user in (viewer, developer, make_user("nobody")):
        assert client_for(user).get(path).status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(client_for, activity):
    assert client_for().get("/audit/").status_code == 302


def test_auditors_read_every_team_and_owners_only_their_own(client_for, activity, auditor, owner, outsider):
    everything = client_for(auditor).get("/audit/").content.decode()
    assert "environment.delete" in everything and "environment.update" in everything
    own = client_for(owner).get("/audit/").content.decode()
    assert "environment.update" in own and "environment.delete" not in own
    theirs = client_for(outsider).get("/audit/").content.decode()
    assert "environment.delete" in theirs and "environment.update" not in theirs


def test_an_owner_cannot_open_another_teams_event_or_export_it(client_for, activity, outsider):
    foreign = AuditEvent.objects.get(action="environment.update")
    assert client_for(outsider).get(f"/audit/events/{foreign.sequence}/").status_code == 404
    exported = _text(client_for(outsider).get("/audit/export.jsonl"))
    assert "environment.update" not in exported and "environment.delete" in exported
    assert client_for(outsider).get(f"/audit/environments/{activity.public_id}/").status_code == 404


@pytest.mark.parametrize(
    ("query", "present", "absent"),
    [
        ("team=search", ["environment.delete"], ["environment.update"]),
        ("actor=ci-bot", ["environment.update"], ["environment.delete", "environment.stop"]),
        ("action=environment.*", ["environment.update", "environment.delete"], ["operation.finish"]),
        ("action=environment.stop", ["environment.stop"], ["environment.update"]),
        ("outcome=denied", ["environment.stop"], ["environment.update"]),
        ("target=operation", ["operation.finish"], ["environment.update"]),
        ("q=quota", ["environment.stop"], ["environment.update"]),
        ("q=req_ci1", ["environment.update"], ["environment.stop"]),
        ("since=2000-01-01&until=2000-01-31", [], ["environment.update", "environment.stop"]),
    ],
)
def test_filters(client_for, activity, auditor, query, present, absent):
    page = client_for(auditor).get(f"/audit/?{query}").content.decode()
    for action in present:
        assert f"<code>{action}</code>" in page
    for action in absent:
        assert f"<code>{action}</code>" not in page


def test_a_time_range_covers_whole_days(client_for, activity, auditor):
    today = timezone.now().date()
    page = client_for(auditor).get(f"/audit/?since={today}&until={today}").content.decode()
    assert "<code>environment.update</code>" in page
    yesterday = today - timedelta(days=1)
    assert (
        "<code>environment.update</code>" not in client_for(auditor).get(f"/audit/?until={yesterday}").content.decode()
    )


def test_the_filter_is_a_stable_url_carried_into_exports_and_pages(client_for, activity, auditor):
    page = client_for(auditor).get("/audit/?team=payments&outcome=success&bogus=1").content.decode()
    assert 'href="/audit/export.csv?team=payments&amp;outcome=success"' in page
    assert 'href="/audit/export.jsonl?team=payments&amp;outcome=success"' in page


def test_keyset_pages_walk_the_whole_trail_once(client_for, team, owner, auditor):
    for i in range(120):
        record(action=f"test.page.{i}", actor=owner, team=team)
    client = client_for(auditor)
    seen, url = [], "/audit/?action=test.page.*"
    while url:
        page = client.get(url).content.decode()
        seen += [int(n) for n in re.findall(r'data-event="(\d+)"', page)]
        following = re.search(r'href="\?([^"]+)" rel="next"', page)
        url = "/audit/?" + following.group(1).replace("&amp;", "&") if following else ""
    assert len(seen) == 120 and seen == sorted(seen, reverse=True) and len(set(seen)) == 120


def test_the_event_detail_shows_who_with_which_token_and_the_diff(client_for, activity, auditor):
    event = AuditEvent.objects.get(action="environment.update")
    page = client_for(auditor).get(f"/audit/events/{event.sequence}/").content.decode()
    assert "olivia" in page and "“ci-bot”" in page and "10.0.0.7" in page and "req_ci1" in page
    assert 'data-change="changed"><td><code>replicas</code></td><td>1</td><td>3</td>' in page
    assert 'data-change="added"><td><code>plan</code>' in page
    assert 'data-change="removed"><td><code>ttl</code>' in page
    assert 'data-change="unchanged"><td><code>state</code>' in page
    assert event.hash in page and event.key_id in page


def test_an_environments_history_includes_its_operations(client_for, activity, owner, auditor):
    for user in (owner, auditor):
        page = client_for(user).get(f"/audit/environments/{activity.public_id}/").content.decode()
        assert "<code>environment.update</code>" in page and "<code>operation.finish</code>" in page
        assert "<code>environment.delete</code>" not in page


def test_every_audit_page_shows_the_integrity_status(client_for, activity, auditor, environment):
    event = AuditEvent.objects.first()
    paths = ["/audit/", "/audit/compliance/", "/audit/integrity/", f"/audit/events/{event.sequence}/"]
    paths.append(f"/audit/environments/{environment.public_id}/")
    for path in paths:
        assert "Chain verified" in client_for(auditor).get(path).content.decode(), path


def test_the_integrity_status_shows_a_broken_chain_and_is_cached_for_a_minute(client_for, activity, auditor):
    client = client_for(auditor)
    assert "Chain verified" in client.get("/audit/").content.decode()
    victim = AuditEvent.objects.get(action="environment.stop")
    raw("UPDATE audit_auditevent SET reason=%s WHERE sequence=%s", ["nothing", victim.sequence])
    assert "Chain verified" in client.get("/audit/").content.decode()  # cached
    from django.core.cache import cache

    cache.delete(STATUS_CACHE_KEY)
    page = client.get("/audit/").content.decode()
    assert f'Chain BROKEN at event <a href="/audit/events/{victim.sequence}/">#{victim.sequence}</a>' in page


def test_exports_stream_csv_and_json_lines_with_the_filter(client_for, activity, auditor):
    client = client_for(auditor)
    response = client.get("/audit/export.csv?team=payments")
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(_text(response))))
    assert {r["team_slug"] for r in rows} == {"payments"}
    update = next(r for r in rows if r["action"] == "environment.update")
    assert update["token_name"] == "ci-bot" and json.loads(update["after"])["replicas"] == 3
    lines = [json.loads(line) for line in _text(client.get("/audit/export.jsonl?outcome=denied")).splitlines()]
    assert [line["action"] for line in lines] == ["environment.stop"]
    assert {"hash", "prev_hash", "signature", "key_id"} <= set(lines[0])


def test_csv_cells_that_look_like_formulas_are_neutralised(client_for, team, owner, auditor):
    record(action="test.csv", actor=owner, team=team, reason='=HYPERLINK("http://evil")')
    rows = list(csv.DictReader(io.StringIO(_text(client_for(auditor).get("/audit/export.csv?action=test.csv")))))
    assert rows[0]["reason"].startswith("'=")


def test_the_compliance_summary(client_for, activity, team, owner, auditor, outsider, viewer):
    team_actions.create_api_token(actor=viewer, name="victors-laptop")
    team_actions.create_api_token(actor=outsider, name="oscars-ci")
    record(action="environment.promote", actor=owner, team=team, target_type="environment", target_id="env_base")
    page = client_for(owner).get("/audit/compliance/").content.decode()
    assert 'data-team="payments" data-role="owner"><td>payments</td><td>owner</td><td>olivia</td>' in page
    assert 'data-role="viewer"><td>payments</td><td>viewer</td><td>victor</td>' in page
    assert "victors-laptop" in page and "oscars-ci" not in page  # only the owner's teams
    assert "env_base" in page  # the promotion
    everything = client_for(auditor).get("/audit/compliance/").content.decode()
    assert "oscars-ci" in everything and 'data-team="search"' in everything
    assert "rita — auditor (read-only)" in everything


def test_reading_the_audit_views_changes_nothing(client_for, activity, auditor, environment):
    head_before = AuditChainHead.objects.get(pk=1).last_sequence
    count_before = AuditEvent.objects.count()
    client = client_for(auditor)
    event = AuditEvent.objects.first()
    paths = [*PAGES, f"/audit/events/{event.sequence}/", f"/audit/environments/{environment.public_id}/"]
    for path in paths:
        assert client.get(path).status_code == 200
        for method in (client.post, client.put, client.delete, client.patch):
            assert method(path).status_code == 405, (method, path)
    assert AuditEvent.objects.count() == count_before
    assert AuditChainHead.objects.get(pk=1).last_sequence == head_before


def test_the_admin_offers_reviewers_no_change(client_for, activity, admin_user):
    event = AuditEvent.objects.first()
    client = client_for(admin_user)
    assert client.get(f"/admin/audit/auditevent/{event.sequence}/delete/").status_code in (302, 403)
    client.post(f"/admin/audit/auditevent/{event.sequence}/change/", {"action": "rewritten"})
    assert AuditEvent.objects.get(pk=event.pk).action == event.action


def _list_queries(client) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/audit/?team=payments").status_code == 200
    return len(ctx.captured_queries)


def test_the_list_page_costs_the_same_queries_for_5_or_50_events(client_for, team, owner, auditor):
    clients = [client_for(auditor), client_for(owner)]
    for i in range(5):
        record(action=f"test.q.{i}", actor=owner, team=team, after={"i": i})
    for client in clients:
        client.get("/audit/")  # warm the integrity status cache and the session
    few = [_list_queries(client) for client in clients]
    for i in range(45):
        record(action=f"test.q.more.{i}", actor=owner, team=team, after={"i": i})
    many = [_list_queries(client) for client in clients]
    assert few == many
    assert max(many) <= 12, many


def test_owning_one_team_does_not_open_a_team_where_one_is_a_developer(client_for, activity, team, owner, outsider):
    # oscar owns "search" and becomes a developer of "payments": he reads search's trail only
    team_actions.add_team_member(actor=owner, team=team, username=outsider.username, role=Role.DEVELOPER)
    client = client_for(outsider)
    page = client.get("/audit/").content.decode()
    assert "<code>environment.delete</code>" in page and "<code>environment.update</code>" not in page
    assert "<code>environment.update</code>" not in client.get("/audit/?team=payments").content.decode()
    foreign = AuditEvent.objects.get(action="environment.update")
    assert client.get(f"/audit/events/{foreign.sequence}/").status_code == 404
    assert "environment.update" not in _text(client.get("/audit/export.csv?team=payments"))
