"""Every team operation of the GraphQL API against the three personas."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from microstax.teams.models import Membership, Team

TEAM_FIELDS = "id slug name viewerRole members { username role }"

RENAME = (
    'mutation($t: ID!) { renameTeam(input: {team: $t, name: "Renamed"}) '
    "{ team { name } errors { code field message } } }"
)
ADD = (
    'mutation($t: ID!) { addTeamMember(input: {team: $t, username: "newbie", role: DEVELOPER}) '
    "{ member { username role } errors { code field message } } }"
)
SET_ROLE = (
    'mutation($t: ID!) { setMemberRole(input: {team: $t, username: "victor", role: MAINTAINER}) '
    "{ member { username role } errors { code field message } } }"
)
REMOVE = (
    'mutation($t: ID!, $u: String! = "victor") { removeTeamMember(input: {team: $t, username: $u}) '
    "{ ok errors { code field message } } }"
)

TEAM_MUTATIONS = {
    "renameTeam": RENAME,
    "addTeamMember": ADD,
    "setMemberRole": SET_ROLE,
    "removeTeamMember": REMOVE,
}


@pytest.fixture
def newbie(make_user):
    return make_user("newbie")


@pytest.mark.parametrize("name", TEAM_MUTATIONS)
def test_owner_can_run_every_team_mutation(gql, team, owner, newbie, name):
    # when
    data = gql(TEAM_MUTATIONS[name], {"t": team.public_id}, user=owner)["data"][name]
    # then
    assert data["errors"] == []
    assert AuditEvent.objects.filter(team=team).latest("sequence").actor_name == "olivia"


@pytest.mark.parametrize("name", TEAM_MUTATIONS)
def test_viewer_is_denied_every_team_mutation_and_nothing_changes(gql, team, viewer, newbie, no_trace, name):
    # (the viewer targets the owner: removing oneself is leaving, which any member may do)
    with no_trace():
        data = gql(TEAM_MUTATIONS[name], {"t": team.public_id, "u": "olivia"}, user=viewer)["data"][name]
    assert data["errors"][0]["code"] == "PERMISSION_DENIED"


@pytest.mark.parametrize("name", TEAM_MUTATIONS)
@pytest.mark.parametrize("how", ["session", "token"])
def test_outsider_cannot_touch_another_team_in_any_way(gql, team, other_team, outsider, newbie, no_trace, name, how):
    credentials = {"user": outsider} if how == "session" else {"token": gql.token_for(outsider)}
    if how == "token":
        gql("{ viewer { username } }", **credentials)  # first use stamps last_used_at before we look
    with no_trace():
        by_id = gql(TEAM_MUTATIONS[name], {"t": team.public_id}, **credentials)["data"][name]
    with no_trace():
        by_slug = gql(TEAM_MUTATIONS[name], {"t": team.slug}, **credentials)["data"][name]
    assert by_id["errors"][0]["code"] == "NOT_FOUND"
    assert by_slug["errors"][0]["code"] == "NOT_FOUND"


def test_outsider_cannot_read_another_team(gql, team, other_team, outsider):
    token = gql.token_for(outsider)
    listed = gql("{ teams { totalCount edges { node { slug } } } }", token=token)["data"]["teams"]
    assert [e["node"]["slug"] for e in listed["edges"]] == ["search"]
    assert gql("query($t: ID!) { team(id: $t) { slug } }", {"t": team.public_id}, token=token)["data"]["team"] is None
    assert gql("query($t: ID!) { team(id: $t) { slug } }", {"t": "payments"}, token=token)["data"]["team"] is None


def test_viewer_reads_the_team_with_members_and_role(gql, team, viewer):
    data = gql(
        f"query($t: ID!) {{ team(id: $t) {{ {TEAM_FIELDS} viewerPermissions }} }}", {"t": team.public_id}, user=viewer
    )["data"]["team"]
    assert data["slug"] == "payments"
    assert data["viewerRole"] == "VIEWER"
    assert data["viewerPermissions"] == ["view_team"]
    assert {(m["username"], m["role"]) for m in data["members"]} == {("olivia", "OWNER"), ("victor", "VIEWER")}


def test_create_team_makes_the_caller_its_owner(gql, outsider):
    data = gql(
        'mutation { createTeam(input: {slug: "infra", name: "Infra"}) { team { id slug viewerRole } '
        "errors { code } } }",
        user=outsider,
    )["data"]["createTeam"]
    assert data["errors"] == []
    assert data["team"]["id"].startswith("team_")
    assert data["team"]["viewerRole"] == "OWNER"
    event = AuditEvent.objects.get(action="team.create")
    assert event.target_id == data["team"]["id"]


@pytest.mark.parametrize(
    ("slug", "name", "code", "field"),
    [("Bad Slug", "x", "INVALID", "slug"), ("ok", "  ", "INVALID", "name"), ("-x", "x", "INVALID", "slug")],
)
def test_create_team_rejects_bad_input_and_changes_nothing(gql, outsider, no_trace, slug, name, code, field):
    with no_trace():
        data = gql(
            "mutation($s: String!, $n: String!) { createTeam(input: {slug: $s, name: $n}) "
            "{ team { id } errors { code field message } } }",
            {"s": slug, "n": name},
            user=outsider,
        )["data"]["createTeam"]
    assert data["team"] is None
    assert (data["errors"][0]["code"], data["errors"][0]["field"]) == (code, field)


def test_duplicate_slug_is_a_conflict(gql, team, outsider, no_trace):
    with no_trace():
        data = gql(
            'mutation { createTeam(input: {slug: "payments", name: "Again"}) { errors { code field } } }', user=outsider
        )["data"]["createTeam"]
    assert data["errors"] == [{"code": "CONFLICT", "field": "slug"}]


def test_the_last_owner_can_be_neither_demoted_nor_removed(gql, team, owner, no_trace):
    with no_trace():
        demote = gql(
            'mutation($t: ID!) { setMemberRole(input: {team: $t, username: "olivia", role: VIEWER}) '
            "{ errors { code } } }",
            {"t": team.public_id},
            user=owner,
        )["data"]["setMemberRole"]
        remove = gql(
            'mutation($t: ID!) { removeTeamMember(input: {team: $t, username: "olivia"}) { ok errors { code } } }',
            {"t": team.public_id},
            user=owner,
        )["data"]["removeTeamMember"]
    assert demote["errors"] == [{"code": "LAST_OWNER"}]
    assert remove == {"ok": False, "errors": [{"code": "LAST_OWNER"}]}


def test_role_change_regrants_permissions(gql, team, owner, viewer):
    gql(SET_ROLE, {"t": team.public_id}, user=owner)
    data = gql(RENAME, {"t": team.public_id}, user=viewer)["data"]["renameTeam"]
    assert data == {"team": {"name": "Renamed"}, "errors": []}


def test_a_member_may_leave_on_their_own(gql, team, viewer):
    data = gql(REMOVE, {"t": team.public_id}, user=viewer)["data"]["removeTeamMember"]
    assert data == {"ok": True, "errors": []}
    assert not Membership.objects.filter(team=team, user=viewer).exists()
    assert gql("{ teams { totalCount } }", user=viewer)["data"]["teams"]["totalCount"] == 0


def test_anonymous_calls_are_refused_without_running_anything(gql, team, no_trace):
    with no_trace():
        body = gql(RENAME, {"t": team.public_id}, expect_status=401)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert Team.objects.get(pk=team.pk).name == "Payments"


def test_teams_query_count_does_not_grow_with_teams(gql, owner, django_assert_max_num_queries):
    from microstax.teams import actions

    for i in range(6):
        t = actions.create_team(actor=owner, slug=f"team-{i}", name=f"Team {i}")
        for j in range(3):
            from django.contrib.auth import get_user_model

            u = get_user_model().objects.create_user(username=f"u{i}-{j}")
            actions.add_team_member(actor=owner, team=t, username=u.username, role="developer")
    query = "{ teams { totalCount edges { node { " + TEAM_FIELDS + " viewerPermissions } } } }"
    gql("{ viewer { username } }", user=owner)  # sign in outside the measured block
    # session, user, content type, permission-filtered teams, prefetched memberships with users
    with django_assert_max_num_queries(5):
        data = gql(query, user=owner)["data"]["teams"]
    assert data["totalCount"] == 6
    assert all(len(e["node"]["members"]) == 4 for e in data["edges"])


def test_page_size_is_capped_with_a_clear_error(gql, team, owner, settings):
    body = gql("{ teams(first: 100000) { totalCount } }", user=owner)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "first must be between 1 and" in body["errors"][0]["message"]


def test_pagination_walks_every_team_once(gql, owner):
    from microstax.teams import actions

    for i in range(5):
        actions.create_team(actor=owner, slug=f"t{i}", name=f"T{i}")
    seen, after = [], None
    while True:
        page = gql(
            "query($a: String) { teams(first: 2, after: $a) { totalCount pageInfo { hasNextPage endCursor } "
            "edges { node { slug } } } }",
            {"a": after},
            user=owner,
        )["data"]["teams"]
        seen += [e["node"]["slug"] for e in page["edges"]]
        assert page["totalCount"] == 5
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["t0", "t1", "t2", "t3", "t4"]


def test_depth_and_alias_limits_reject_abusive_queries(gql, owner):
    aliases = " ".join(f"a{i}: viewer {{ username }}" for i in range(40))
    body = gql("{ " + aliases + " }", user=owner)
    assert "alias" in body["errors"][0]["message"].lower()
