"""Sharing sanitized snapshots across teams: the owning team's maintainers share a snapshot with
another team (audited ``snapshot.share``), which then finds it in its lists and may restore it into
its own environments; raw snapshots never leave their team; the share can be withdrawn."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from microstax.lib.errors import NotFound, PermissionDenied
from snapshots import actions
from snapshots.models import SnapshotShare
from tests.cli.conftest import cli, owner_token  # noqa: F401 - fixtures
from tests.snapshots_api.test_cli_snapshots import live_env  # noqa: F401 - fixture

SHARE = """mutation($s: ID!, $t: ID!, $revoke: Boolean! = false) {
  shareSnapshot(input: {snapshot: $s, team: $t, revoke: $revoke}) {
    snapshot { id sharedWith { slug } } errors { code field message } } }"""
LIST = "{ snapshots { edges { node { id team { slug } sharedWith { slug } } } } }"


def _ids(gql, user) -> list[str]:
    return [e["node"]["id"] for e in gql(LIST, user=user)["data"]["snapshots"]["edges"]]


def test_a_shared_snapshot_is_found_and_restored_by_the_other_team(
    gql, snapshot, owner, outsider, other_team, other_env, django_capture_on_commit_callbacks
):
    # given: the other team cannot see it
    assert snapshot.public_id not in _ids(gql, outsider)
    with pytest.raises(NotFound):
        actions.restore_snapshot(actor=outsider, snapshot=snapshot, env=other_env)
    # when: its team shares it
    data = gql(SHARE, {"s": snapshot.public_id, "t": "search"}, user=owner)["data"]["shareSnapshot"]
    assert data["errors"] == [] and data["snapshot"]["sharedWith"] == [{"slug": "search"}]
    event = AuditEvent.objects.get(action="snapshot.share")
    assert (event.actor, event.target_id, event.after["team"]) == (owner, snapshot.public_id, "search")
    # then: the other team lists it and restores it into its own environment
    assert snapshot.public_id in _ids(gql, outsider)
    with django_capture_on_commit_callbacks(execute=True):
        restore = actions.restore_snapshot(actor=outsider, snapshot=snapshot, env=other_env)
    assert restore.environment == other_env
    # sharing again records nothing
    gql(SHARE, {"s": snapshot.public_id, "t": "search"}, user=owner)
    assert AuditEvent.objects.filter(action="snapshot.share").count() == 1


def test_the_other_team_sees_only_its_own_share(gql, snapshot, owner, outsider, other_team, make_user):
    from microstax.teams import actions as team_actions

    third_owner = make_user("theo")
    team_actions.create_team(actor=third_owner, slug="billing", name="Billing")
    actions.share_snapshot(actor=owner, snapshot=snapshot, team=other_team)
    actions.share_snapshot(actor=owner, snapshot=snapshot, team=team_actions.Team.objects.get(slug="billing"))
    mine = gql(LIST, user=owner)["data"]["snapshots"]["edges"][0]["node"]
    assert [t["slug"] for t in mine["sharedWith"]] == ["billing", "search"]
    theirs = gql(LIST, user=outsider)["data"]["snapshots"]["edges"][0]["node"]
    assert theirs["sharedWith"] == [{"slug": "search"}]


def test_unsanitized_snapshots_are_never_shared(gql, env, owner, make_snapshot, other_team, no_trace):
    raw = make_snapshot(env, sanitized=False)
    with no_trace():
        data = gql(SHARE, {"s": raw.public_id, "t": "search"}, user=owner)["data"]["shareSnapshot"]
    assert data["errors"][0]["code"] == "UNSANITIZED"
    # and a share row made behind the action's back still shows nothing to the other team
    SnapshotShare.objects.create(snapshot=raw, team=other_team, shared_by=owner)
    assert not actions.visible_snapshots(other_team.memberships.get().user).filter(pk=raw.pk).exists()


@pytest.mark.parametrize("persona", ["viewer", "developer", "outsider"])
def test_only_maintainers_and_owners_of_its_team_share_a_snapshot(
    gql, snapshot, other_team, no_trace, persona, request
):
    user = request.getfixturevalue(persona)
    with no_trace():
        data = gql(SHARE, {"s": snapshot.public_id, "t": "search"}, user=user)["data"]["shareSnapshot"]
    expected = "NOT_FOUND" if persona == "outsider" else "PERMISSION_DENIED"
    assert data["errors"][0]["code"] == expected


def test_a_share_with_an_unknown_team_or_its_own_team_is_refused(gql, snapshot, owner, no_trace):
    with no_trace():
        unknown = gql(SHARE, {"s": snapshot.public_id, "t": "nobody"}, user=owner)["data"]["shareSnapshot"]
        own = gql(SHARE, {"s": snapshot.public_id, "t": "payments"}, user=owner)["data"]["shareSnapshot"]
    assert unknown["errors"][0]["code"] == "NOT_FOUND" and unknown["errors"][0]["field"] == "team"
    assert "already belongs" in own["errors"][0]["message"]


def test_withdrawing_a_share_hides_the_snapshot_again(gql, snapshot, owner, outsider, other_team, other_env):
    actions.share_snapshot(actor=owner, snapshot=snapshot, team=other_team)
    data = gql(SHARE, {"s": snapshot.public_id, "t": "search", "revoke": True}, user=owner)["data"]["shareSnapshot"]
    assert data["errors"] == [] and data["snapshot"]["sharedWith"] == []
    assert AuditEvent.objects.get(action="snapshot.unshare").before == {"team": "search"}
    assert snapshot.public_id not in _ids(gql, outsider)
    with pytest.raises(NotFound):
        actions.restore_snapshot(actor=outsider, snapshot=snapshot, env=other_env)


def test_a_shared_snapshot_is_not_downloaded_or_deleted_by_the_other_team(snapshot, owner, outsider, other_team):
    actions.share_snapshot(actor=owner, snapshot=snapshot, team=other_team)
    with pytest.raises((NotFound, PermissionDenied)):  # its team stays invisible to them
        actions.delete_snapshot(actor=outsider, snapshot=snapshot)
    with pytest.raises((NotFound, PermissionDenied)):
        actions.download_snapshot(actor=outsider, snapshot=snapshot)


def test_the_cli_shares_a_snapshot(cli, owner_token, live_env, make_snapshot, other_team):  # noqa: F811 - fixtures
    shared = make_snapshot(live_env)
    code, out, err = cli("snapshot", "share", shared.public_id, "--team", "search", token=owner_token)
    assert code == 0, err
    assert out.strip() == f"{shared.public_id} is shared with: search"
    code, out, err = cli("snapshot", "share", shared.public_id, "--team", "search", "--revoke", token=owner_token)
    assert code == 0 and out.strip() == f"{shared.public_id} is shared with: no team"
    code, out, err = cli("snapshot", "share", shared.public_id, "--team", "nobody", token=owner_token)
    assert code == 1 and "NOT_FOUND" in err


def test_the_other_team_finds_a_shared_snapshot_in_its_dashboard(client_for, snapshot, owner, outsider, other_team):
    client = client_for(outsider)
    assert snapshot.public_id not in client.get("/snapshots/").content.decode()
    assert client.get(f"/snapshots/{snapshot.public_id}/").status_code == 404
    actions.share_snapshot(actor=owner, snapshot=snapshot, team=other_team)
    assert snapshot.public_id in client.get("/snapshots/").content.decode()
    page = client.get(f"/snapshots/{snapshot.public_id}/").content.decode()
    assert 'data-team="search"' in page
    owners_page = client_for(owner).get(f"/snapshots/{snapshot.public_id}/").content.decode()
    assert 'data-team="search"' in owners_page and "microstax snapshot share" in owners_page
