"""Blueprints and versions through actions, GraphQL and pages, for the three personas."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from blueprints import actions
from blueprints.models import Blueprint, BlueprintVersion
from tests.fixtures.blueprints import BROKEN, SHOP_V1, SHOP_V1_MAP_STYLE, SHOP_V2

CREATE = """mutation($t: ID!, $y: String!) { createBlueprint(input: {team: $t, name: "shop", yaml: $y, message: "m"})
  { blueprint { id name } version { number hash } created errors { code field message problems { code line } } } }"""
PUBLISH = """mutation($b: ID!, $y: String!) { publishBlueprintVersion(input: {blueprint: $b, yaml: $y, message: "v"})
  { version { number hash } created errors { code message } } }"""


def test_identical_content_in_another_style_returns_the_existing_version(shop, owner):
    version, created = actions.publish_version(actor=owner, blueprint=shop, source=SHOP_V1_MAP_STYLE)
    assert created is False and version.number == 1
    assert AuditEvent.objects.filter(action="blueprint.publish").count() == 0


def test_new_content_gets_the_next_number_and_a_readable_diff(shop, owner):
    v2, created = actions.publish_version(actor=owner, blueprint=shop, source=SHOP_V2, message="bump api")
    assert created and v2.number == 2
    changes = actions.diff_versions(shop.versions.get(number=1), v2)
    assert changes == [
        {
            "service": "api",
            "field": "image",
            "change": "changed",
            "before": "ghcr.io/example/api:1.0.0",
            "after": "ghcr.io/example/api:1.1.0",
        }
    ]


def test_versions_are_immutable(shop):
    version = shop.versions.get()
    version.message = "rewritten"
    with pytest.raises(ValueError):
        version.save()
    with pytest.raises(ValueError):
        BlueprintVersion.objects.filter(pk=version.pk).update(message="x")


def test_owner_creates_through_graphql_with_an_audit_event(gql, team, owner):
    data = gql(CREATE, {"t": team.public_id, "y": SHOP_V1}, user=owner)["data"]["createBlueprint"]
    assert data["errors"] == [] and data["blueprint"]["id"].startswith("bp_")
    assert data["version"]["number"] == 1 and len(data["version"]["hash"]) == 64
    assert AuditEvent.objects.get(action="blueprint.create").target_id == data["blueprint"]["id"]


def test_invalid_yaml_is_refused_with_located_problems_and_nothing_written(gql, team, owner, no_trace):
    with no_trace():
        data = gql(CREATE, {"t": team.public_id, "y": BROKEN}, user=owner)["data"]["createBlueprint"]
    error = data["errors"][0]
    assert error["code"] == "INVALID_BLUEPRINT"
    assert {p["line"] for p in error["problems"]} >= {5, 6}


def test_viewer_may_read_but_not_publish(gql, shop, viewer, no_trace):
    with no_trace(refused=2):
        data = gql(PUBLISH, {"b": shop.public_id, "y": SHOP_V2}, user=viewer)["data"]["publishBlueprintVersion"]
        created = gql(CREATE, {"t": shop.team.public_id, "y": SHOP_V2}, user=viewer)["data"]["createBlueprint"]
    assert data["errors"][0]["code"] == "PERMISSION_DENIED"
    assert created["errors"][0]["code"] == "PERMISSION_DENIED"
    read = gql(
        "query($b: ID!) { blueprint(id: $b) { name versions { number source } } }", {"b": shop.public_id}, user=viewer
    )["data"]["blueprint"]
    assert read["name"] == "shop" and read["versions"][0]["source"] == SHOP_V1


def test_outsider_can_neither_see_nor_publish(gql, shop, other_team, outsider, no_trace):
    token = gql.token_for(outsider)
    gql("{ viewer { username } }", token=token)
    with no_trace(refused=2):
        publish = gql(PUBLISH, {"b": shop.public_id, "y": SHOP_V2}, token=token)["data"]["publishBlueprintVersion"]
        create = gql(CREATE, {"t": shop.team.public_id, "y": SHOP_V1}, token=token)["data"]["createBlueprint"]
        one = gql("query($b: ID!) { blueprint(id: $b) { name } }", {"b": shop.public_id}, token=token)
        listed = gql("{ blueprints { totalCount } }", token=token)
        by_team = gql("query($t: ID!) { blueprints(team: $t) { totalCount } }", {"t": "payments"}, token=token)
    assert publish["errors"][0]["code"] == "NOT_FOUND" and create["errors"][0]["code"] == "NOT_FOUND"
    assert one["data"]["blueprint"] is None
    assert listed["data"]["blueprints"]["totalCount"] == 0 and by_team["data"]["blueprints"]["totalCount"] == 0


def test_duplicate_name_in_a_team_is_a_conflict(gql, shop, owner, no_trace):
    with no_trace():
        data = gql(CREATE, {"t": shop.team.public_id, "y": SHOP_V2}, user=owner)["data"]["createBlueprint"]
    assert (data["errors"][0]["code"], data["errors"][0]["field"]) == ("CONFLICT", "name")


def test_diff_between_versions_in_graphql(gql, shop, owner):
    gql(PUBLISH, {"b": shop.public_id, "y": SHOP_V2}, user=owner)
    diff = gql(
        "query($b: ID!) { blueprint(id: $b) { diff(from: 1, to: 2) { service field change before after } } }",
        {"b": shop.public_id},
        user=owner,
    )["data"]["blueprint"]["diff"]
    assert diff == [
        {
            "service": "api",
            "field": "image",
            "change": "changed",
            "before": "ghcr.io/example/api:1.0.0",
            "after": "ghcr.io/example/api:1.1.0",
        }
    ]


def test_validate_blueprint_query_has_no_side_effects(gql, owner, no_trace):
    with no_trace():
        result = gql(
            "query($y: String!) { validateBlueprint(yaml: $y) { valid hash problems { code line path } } }",
            {"y": BROKEN},
            user=owner,
        )["data"]["validateBlueprint"]
    assert result["valid"] is False and result["hash"] is None
    assert all(p["line"] for p in result["problems"])


def test_blueprints_list_query_count_is_constant(gql, team, owner, django_assert_max_num_queries):
    for i in range(5):
        bp, _ = actions.create_blueprint(actor=owner, team=team, name=f"bp-{i}", source=SHOP_V1)
        actions.publish_version(actor=owner, blueprint=bp, source=SHOP_V2)
    gql("{ viewer { username } }", user=owner)
    with django_assert_max_num_queries(7):
        data = gql(
            "{ blueprints { totalCount edges { node { name team { slug } latestVersion { number author } "
            "versions { number hash author } } } } }",
            user=owner,
        )["data"]["blueprints"]
    assert data["totalCount"] == 5 and all(len(e["node"]["versions"]) == 2 for e in data["edges"])


def test_pages_list_show_and_diff(client, shop, owner, viewer, outsider):
    actions.publish_version(actor=owner, blueprint=shop, source=SHOP_V2)
    client.force_login(viewer)
    assert "shop" in client.get("/blueprints/").content.decode()
    detail = client.get(f"/blueprints/{shop.public_id}/?from=1&to=2").content.decode()
    assert "api:1.1.0" in detail and "changed" in detail
    assert "Publish a new version" not in detail
    client.force_login(outsider)
    assert client.get(f"/blueprints/{shop.public_id}/").status_code == 404


def test_editor_validates_as_you_type_and_shows_lines(client, team, owner):
    client.force_login(owner)
    fragment = client.post("/blueprints/validate/", {"yaml": BROKEN}, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-valid="false"' in fragment and 'data-line="5"' in fragment
    created = client.post("/blueprints/new/", {"name": "from-editor", "yaml": SHOP_V1, "message": "hi"})
    assert created.status_code == 302
    assert Blueprint.objects.get(name="from-editor").versions.get().message == "hi"


def test_viewer_cannot_publish_from_the_editor(client, shop, viewer, no_trace):
    client.force_login(viewer)
    with no_trace():
        response = client.post(f"/blueprints/{shop.public_id}/publish/", {"yaml": SHOP_V2})
    assert response.status_code == 400 and "does not allow" in response.content.decode()


def test_schema_endpoint_serves_json_schema(client, db):
    schema = client.get("/schema/blueprint.json").json()
    assert "services" in schema["properties"]
