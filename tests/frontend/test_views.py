"""Dashboard pages and forms: the same permissions as the API, no trace from denied posts."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from audit.models import AuditEvent
from microstax.teams.models import Membership


def test_pages_require_sign_in(client_for):
    response = client_for().get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_login_page_signs_in_and_failures_are_audited(db, owner):
    client = Client()
    bad = client.post("/login/", {"username": "olivia", "password": "wrong"})
    assert bad.status_code == 200 and b"Please enter a correct username" in bad.content
    failure = AuditEvent.objects.get(action="auth.login.failed")
    assert (failure.actor_name, failure.outcome, failure.actor_kind) == ("olivia", "failure", "anonymous")
    good = client.post("/login/", {"username": "olivia", "password": "pw-olivia"})
    assert good.status_code == 302
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("section", ["environments", "blueprints", "snapshots", "clusters", "audit"])
def test_every_navigation_page_renders(client_for, team, owner, section):
    response = client_for(owner).get(f"/{section}/")
    assert response.status_code == 200
    assert b"payments" in response.content.lower()  # the team switcher


def test_team_page_lists_members_and_own_tokens(client_for, team, owner, viewer):
    from microstax.teams import actions

    actions.create_api_token(actor=viewer, name="victors-laptop")
    actions.create_api_token(actor=owner, name="olivias-ci")
    page = client_for(viewer).get(f"/teams/{team.public_id}/").content.decode()
    assert "olivia" in page and "victor" in page
    assert "victors-laptop" in page and "olivias-ci" not in page
    assert "Add a member" not in page  # a viewer gets no management forms


def test_outsider_gets_404_for_another_teams_page(client_for, team, outsider):
    assert client_for(outsider).get(f"/teams/{team.public_id}/").status_code == 404
    assert client_for(outsider).get("/teams/payments/").status_code == 404


def test_owner_adds_a_member_with_htmx_and_gets_the_fragment(client_for, team, owner, make_user):
    make_user("newbie")
    response = client_for(owner).post(
        f"/teams/{team.public_id}/members/add/", {"username": "newbie", "role": "developer"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert b"newbie" in response.content and b"<html" not in response.content
    assert Membership.objects.get(team=team, user__username="newbie").role == "developer"


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("rename/", {"name": "Hacked"}),
        ("members/add/", {"username": "oscar", "role": "owner"}),
        ("members/olivia/role/", {"role": "viewer"}),
        ("members/olivia/remove/", {}),
    ],
)
def test_viewer_posts_are_refused_without_trace(client_for, team, viewer, no_trace, path, data):
    client = client_for(viewer)
    with no_trace():
        response = client.post(f"/teams/{team.public_id}/{path}", data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b"does not allow" in response.content


@pytest.mark.parametrize("path", ["rename/", "members/add/", "members/olivia/role/", "members/olivia/remove/"])
def test_outsider_posts_get_404_without_trace(client_for, team, outsider, no_trace, path):
    client = client_for(outsider)
    with no_trace():
        response = client.post(f"/teams/{team.public_id}/{path}", {"name": "x", "username": "oscar", "role": "owner"})
    assert response.status_code == 404


def test_token_created_in_the_dashboard_is_shown_once(client_for, team, owner):
    client = client_for(owner)
    created = client.post("/tokens/create/", {"name": "web"}, HTTP_HX_REQUEST="true").content.decode()
    secret = re.search(r'data-testid="new-token">(msx_[^<]+)<', created).group(1)
    from microstax.teams.models import ApiToken

    assert ApiToken.objects.get(name="web").token_hash == ApiToken.hash_secret(secret)
    team_page = client.get(f"/teams/{owner.memberships.first().team.public_id}/").content.decode()
    assert secret not in team_page and secret[:10] in team_page


def test_csrf_is_enforced_for_session_posts_but_not_tokens(db, owner, team):
    from microstax.teams import actions

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(f"/teams/{team.public_id}/rename/", {"name": "X"}).status_code == 403
    assert (
        client.post(
            "/graphql", data='{"query": "{ viewer { username } }"}', content_type="application/json"
        ).status_code
        == 403
    )
    _, secret = actions.create_api_token(actor=owner, name="t")
    token_client = Client(enforce_csrf_checks=True)
    response = token_client.post(
        "/graphql",
        data='{"query": "{ viewer { username } }"}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 200


def test_team_page_query_count_does_not_grow_with_members(
    client_for, team, owner, make_user, django_assert_max_num_queries
):
    from microstax.teams import actions

    client = client_for(owner)
    client.get(f"/teams/{team.public_id}/")
    for i in range(8):
        make_user(f"member{i}")
        actions.add_team_member(actor=owner, team=team, username=f"member{i}", role="developer")
    # 15: the environment policy section reads the policy row and the team's usage (two, constant)
    with django_assert_max_num_queries(15):
        response = client.get(f"/teams/{team.public_id}/")
    assert response.content.decode().count("data-member=") == 10


def test_audit_page_shows_only_own_teams_unless_auditor(client_for, team, other_team, owner, viewer, make_user):
    from django.contrib.auth.models import Permission

    own = client_for(owner).get("/audit/").content.decode()
    assert own.count("team.create") == 1
    assert client_for(viewer).get("/audit/").status_code == 404  # only owners and auditors review
    reviewer = make_user("rita")
    reviewer.user_permissions.add(Permission.objects.get(codename="view_all_events"))
    everything = client_for(reviewer).get("/audit/").content.decode()
    assert everything.count("team.create") == 2
