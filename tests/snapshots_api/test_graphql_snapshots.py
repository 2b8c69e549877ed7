"""The snapshot API through GraphQL: every query and mutation for the owner, a viewer (refused with
PERMISSION_DENIED) and an outsider (NOT_FOUND: existence is not leaked), denied calls leaving no
trace, typed errors for bad input, and constant query counts for the list."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from environments.models import Environment
from snapshots.models import SanitizationPolicy, Snapshot, SnapshotRestore, SnapshotState
from tests.snapshots_api.conftest import BAD_POLICY, POLICY

SNAPSHOT_FIELDS = """id state service engine sanitized sizeBytes sha256 rowCounts policyName policyVersion
  policyNumber expiresAt createdAt createdBy team { slug } environment { id name team }
  policy { id name version } restores { service state requestedBy createdAt environment { id name } }"""
ERRORS = "errors { code field message problems { code line column path } }"

MUTATIONS = {
    "createSnapshot": ("CreateSnapshotInput", "snapshot { id state }"),
    "restoreSnapshot": ("RestoreSnapshotInput", "restore { state service }"),
    "deleteSnapshot": ("SnapshotIdInput", "snapshot { id state }"),
    "replayEnvironment": ("ReplayEnvironmentInput", "environment { id }"),
    "createSanitizationPolicy": ("CreateSanitizationPolicyInput", "policy { id name version }"),
}


def mutate(gql, name: str, variables: dict, **credentials) -> dict:
    input_type, fields = MUTATIONS[name]
    query = f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {fields} {ERRORS} }} }}"
    body = gql(query, {"input": variables}, **credentials)
    assert "errors" not in body, body
    return body["data"][name]


def _inputs(name: str, *, env, snapshot, team) -> dict:
    return {
        "createSnapshot": {"environment": env.public_id, "service": "db"},
        "restoreSnapshot": {"snapshot": snapshot.public_id, "environment": env.public_id, "service": "db"},
        "deleteSnapshot": {"id": snapshot.public_id},
        "replayEnvironment": {"environment": env.public_id, "snapshot": snapshot.public_id},
        "createSanitizationPolicy": {"team": team.public_id, "name": "shop-dev", "yaml": POLICY},
    }[name]


# --- denials ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MUTATIONS)
@pytest.mark.parametrize(("persona", "code"), [("viewer", "PERMISSION_DENIED"), ("outsider", "NOT_FOUND")])
def test_viewers_and_outsiders_are_refused_every_mutation_without_trace(
    gql, request, env, snapshot, team, other_team, no_trace, name, persona, code
):
    user = request.getfixturevalue(persona)
    token = gql.token_for(user)
    gql("{ viewer { username } }", token=token)
    with no_trace():
        result = mutate(gql, name, _inputs(name, env=env, snapshot=snapshot, team=team), token=token)
    assert [e["code"] for e in result["errors"]] == [code], result
    assert all(value is None for key, value in result.items() if key != "errors")


def test_anonymous_callers_are_told_to_sign_in(gql, snapshot):
    body = gql("{ snapshots { totalCount } }", expect_status=401)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- queries ------------------------------------------------------------------------------------


def test_members_list_their_teams_snapshots_with_lineage(gql, owner, viewer, snapshot, restored, env):
    query = f"{{ snapshots {{ totalCount edges {{ node {{ {SNAPSHOT_FIELDS} }} }} }} }}"
    for user in (owner, viewer):
        data = gql(query, user=user)["data"]["snapshots"]
        assert data["totalCount"] == 1
        node = data["edges"][0]["node"]
        assert node["id"] == snapshot.public_id and node["state"] == "ready" and node["sanitized"] is True
        assert node["sizeBytes"] == snapshot.size_bytes and node["sha256"] == snapshot.sha256
        assert node["rowCounts"] == {"public.customers": 12, "public.orders": 40}
        assert node["environment"] == {"id": env.public_id, "name": env.name, "team": "payments"}
        assert (node["policyName"], node["policyNumber"], node["policy"]["version"]) == ("shop-dev", 1, 1)
        assert node["createdBy"] == "olivia" and node["team"] == {"slug": "payments"}
        assert node["restores"] == [
            {
                "service": "db",
                "state": "succeeded",
                "requestedBy": "olivia",
                "createdAt": node["restores"][0]["createdAt"],
                "environment": {"id": env.public_id, "name": env.name},
            }
        ]


def test_outsiders_see_no_snapshot_of_another_team(gql, outsider, other_team, snapshot):
    data = gql(f'{{ snapshots {{ totalCount }} snapshot(id: "{snapshot.public_id}") {{ id }} }}', user=outsider)["data"]
    assert data == {"snapshots": {"totalCount": 0}, "snapshot": None}


def test_snapshots_filter_by_environment_team_and_state(gql, owner, env, make_snapshot, snapshot):
    failed = make_snapshot(env, state=SnapshotState.FAILED, state_reason="pg_dump exited 1")
    make_snapshot(env, state=SnapshotState.DELETED)
    query = """query($env: ID, $team: ID, $state: String, $all: Boolean!) {
      snapshots(environment: $env, team: $team, state: $state, includeDeleted: $all) {
        totalCount edges { node { id state } } } }"""

    def ids(**variables) -> set[str]:
        body = gql(query, {"env": None, "team": None, "state": None, "all": False} | variables, user=owner)
        return {edge["node"]["id"] for edge in body["data"]["snapshots"]["edges"]}

    assert ids(env=env.public_id) == {snapshot.public_id, failed.public_id}
    assert ids(team="payments") == ids(team=env.team.public_id) == {snapshot.public_id, failed.public_id}
    assert ids(state="failed") == {failed.public_id}
    assert len(ids(all=True)) == 3
    assert ids(team="search") == set()


def test_listing_by_an_invisible_environment_or_a_bad_state_is_bad_input(gql, outsider, owner, env, other_team):
    body = gql(f'{{ snapshots(environment: "{env.public_id}") {{ totalCount }} }}', user=outsider)
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "environment"}
    body = gql('{ snapshots(state: "melted") { totalCount } }', user=owner)
    assert body["errors"][0]["extensions"]["field"] == "state"


def test_snapshot_by_id(gql, viewer, snapshot):
    data = gql(f'{{ snapshot(id: "{snapshot.public_id}") {{ id service engine }} }}', user=viewer)["data"]
    assert data["snapshot"] == {"id": snapshot.public_id, "service": "db", "engine": "postgres"}
    assert gql('{ snapshot(id: "snap_nope") { id } }', user=viewer)["data"]["snapshot"] is None


def test_snapshots_query_count_is_constant(gql, owner, env, make_snapshot, policy):
    query = f"{{ snapshots {{ totalCount edges {{ node {{ {SNAPSHOT_FIELDS} }} }} }} }}"
    gql("{ viewer { username } }", user=owner)
    counts = []
    for n in (2, 6):
        while Snapshot.objects.count() < n:
            snap = make_snapshot(env, policy=policy)
            SnapshotRestore.objects.create(snapshot=snap, environment=env, service="db", requested_by=owner)
        with CaptureQueriesContext(connection) as captured:
            data = gql(query, user=owner)["data"]["snapshots"]
        assert data["totalCount"] == n
        counts.append(len(captured))
    assert counts[0] == counts[1], counts


def test_sanitization_policies_by_team(gql, owner, viewer, outsider, policy, other_team):
    query = """query($team: ID) { sanitizationPolicies(team: $team) {
      id name version strict source createdAt team { slug } } }"""
    for user in (owner, viewer):
        policies = gql(query, {"team": "payments"}, user=user)["data"]["sanitizationPolicies"]
        assert [(p["id"], p["name"], p["version"]) for p in policies] == [(policy.public_id, "shop-dev", 1)]
        # The salt keys the hashes: it never leaves the server.
        assert policies[0]["source"] == POLICY.replace("0123456789abcdef", "'<redacted>'")
    assert gql(query, {"team": None}, user=outsider)["data"]["sanitizationPolicies"] == []
    body = gql(query, {"team": "payments"}, user=outsider)
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "team"}


# --- mutations: the owner -----------------------------------------------------------------------


def test_owner_creates_a_snapshot_of_a_service(gql, owner, env, policy, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = mutate(
            gql, "createSnapshot", {"environment": env.public_id, "service": "db", "policy": "shop-dev"}, user=owner
        )
    assert result["errors"] == [], result
    snapshot = Snapshot.objects.get(public_id=result["snapshot"]["id"])
    assert (snapshot.environment, snapshot.service, snapshot.policy, snapshot.created_by) == (env, "db", policy, owner)


def test_a_policy_can_be_named_by_id(gql, owner, env, policy, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = mutate(gql, "createSnapshot", {"environment": env.public_id, "policy": policy.public_id}, user=owner)
    assert result["errors"] == [], result
    assert Snapshot.objects.get(public_id=result["snapshot"]["id"]).policy == policy


def test_an_unknown_policy_or_service_is_a_typed_error_and_changes_nothing(gql, owner, env, policy, no_trace):
    gql("{ viewer { username } }", user=owner)
    with no_trace():
        result = mutate(gql, "createSnapshot", {"environment": env.public_id, "policy": "nope"}, user=owner)
        assert [(e["code"], e["field"]) for e in result["errors"]] == [("NOT_FOUND", "policy")]
        result = mutate(gql, "createSnapshot", {"environment": env.public_id, "service": "no-such"}, user=owner)
        assert result["snapshot"] is None and result["errors"][0]["field"] == "service", result
        result = mutate(gql, "createSnapshot", {"environment": "env_missing"}, user=owner)
        assert [(e["code"], e["field"]) for e in result["errors"]] == [("NOT_FOUND", "environment")]


def test_owner_restores_a_snapshot_and_the_lineage_records_it(
    gql, owner, env, snapshot, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = mutate(
            gql, "restoreSnapshot", {"snapshot": snapshot.public_id, "environment": env.public_id}, user=owner
        )
    assert result["errors"] == [], result
    restore = SnapshotRestore.objects.get(snapshot=snapshot)
    assert (restore.environment, restore.service, restore.requested_by) == (env, "db", owner)
    lineage = gql(
        f'{{ snapshot(id: "{snapshot.public_id}") {{ restores {{ service environment {{ id }} }} }} }}', user=owner
    )
    assert lineage["data"]["snapshot"]["restores"] == [{"service": "db", "environment": {"id": env.public_id}}]


def test_restoring_a_snapshot_that_is_not_ready_is_refused(gql, owner, env, make_snapshot, no_trace):
    pending = make_snapshot(env, state=SnapshotState.CAPTURING)
    gql("{ viewer { username } }", user=owner)
    with no_trace():
        result = mutate(
            gql, "restoreSnapshot", {"snapshot": pending.public_id, "environment": env.public_id}, user=owner
        )
    assert result["restore"] is None and result["errors"][0]["code"] in ("CONFLICT", "NOT_READY"), result


def test_restoring_into_an_invisible_environment_is_not_found(gql, owner, snapshot, other_env, no_trace):
    gql("{ viewer { username } }", user=owner)
    with no_trace():
        result = mutate(
            gql, "restoreSnapshot", {"snapshot": snapshot.public_id, "environment": other_env.public_id}, user=owner
        )
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("NOT_FOUND", "environment")]


def test_owner_deletes_a_snapshot_and_the_record_stays(
    gql, owner, snapshot, snapshot_storage, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = mutate(gql, "deleteSnapshot", {"id": snapshot.public_id}, user=owner)
    assert result["errors"] == [] and result["snapshot"]["state"] == "deleted", result
    snapshot.refresh_from_db()
    assert snapshot.state == SnapshotState.DELETED
    assert not (snapshot_storage / snapshot.storage_key).exists()
    # gone from the list, kept as history by id
    data = gql(f'{{ snapshots {{ totalCount }} snapshot(id: "{snapshot.public_id}") {{ state }} }}', user=owner)
    assert data["data"] == {"snapshots": {"totalCount": 0}, "snapshot": {"state": "deleted"}}


def test_owner_replays_an_environment_with_a_snapshot(gql, owner, env, snapshot, django_capture_on_commit_callbacks):
    query = """mutation($input: ReplayEnvironmentInput!) { replayEnvironment(input: $input) {
      environment { id name state team { slug } } operation { id kind } errors { code field message } } }"""
    with django_capture_on_commit_callbacks(execute=True):
        body = gql(query, {"input": {"environment": env.public_id, "snapshot": snapshot.public_id}}, user=owner)
    result = body["data"]["replayEnvironment"]
    assert result["errors"] == [], result
    replayed = Environment.objects.get(public_id=result["environment"]["id"])
    assert replayed.pk != env.pk and replayed.team == env.team
    assert result["environment"]["team"] == {"slug": "payments"}


def test_replaying_with_an_invisible_snapshot_is_not_found(gql, owner, env, other_env, make_snapshot, no_trace):
    foreign = make_snapshot(other_env)
    gql("{ viewer { username } }", user=owner)
    with no_trace():
        result = mutate(
            gql, "replayEnvironment", {"environment": env.public_id, "snapshot": foreign.public_id}, user=owner
        )
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("NOT_FOUND", "snapshot")]


# --- policies -----------------------------------------------------------------------------------


def test_owner_publishes_versions_and_unchanged_content_keeps_the_version(gql, owner, team):
    first = mutate(
        gql, "createSanitizationPolicy", {"team": "payments", "name": "shop-dev", "yaml": POLICY}, user=owner
    )
    assert first["errors"] == [] and first["policy"]["version"] == 1, first
    again = mutate(
        gql, "createSanitizationPolicy", {"team": "payments", "name": "shop-dev", "yaml": POLICY}, user=owner
    )
    assert again["policy"] == first["policy"]
    changed = POLICY.replace("keepLast: 2", "keepLast: 3")
    second = mutate(
        gql, "createSanitizationPolicy", {"team": "payments", "name": "shop-dev", "yaml": changed}, user=owner
    )
    assert second["errors"] == [] and second["policy"]["version"] == 2
    assert SanitizationPolicy.objects.filter(team=team, name="shop-dev").count() == 2


def test_an_invalid_policy_is_refused_with_located_problems_and_changes_nothing(gql, owner, team, no_trace):
    gql("{ viewer { username } }", user=owner)
    with no_trace():
        result = mutate(
            gql, "createSanitizationPolicy", {"team": "payments", "name": "shop-dev", "yaml": BAD_POLICY}, user=owner
        )
    assert result["policy"] is None
    (error,) = result["errors"]
    assert error["code"] in ("INVALID_POLICY", "INVALID") and error["field"] == "yaml", error
    located = {(p["code"], p["line"], p["path"]) for p in error["problems"]}
    assert ("MSX-S002", 4, "rules[1].keepLst") in located and ("MSX-S003", 5, "rules[2].strategy") in located


def test_a_bad_policy_name_is_a_typed_error(gql, owner, team, no_trace):
    gql("{ viewer { username } }", user=owner)
    with no_trace():
        result = mutate(
            gql, "createSanitizationPolicy", {"team": "payments", "name": "Not A Slug!", "yaml": POLICY}, user=owner
        )
    assert result["policy"] is None and result["errors"][0]["field"] == "name", result


def test_validate_sanitization_policy_reports_problems_at_their_lines(gql, viewer, team):
    query = """mutation($yaml: String!) { validateSanitizationPolicy(yaml: $yaml) {
      valid name version problems { code severity line column path message } } }"""
    good = gql(query, {"yaml": POLICY}, user=viewer)["data"]["validateSanitizationPolicy"]
    assert good["valid"] is True and good["name"] == "shop-dev" and len(good["version"]) == 64
    bad = gql(query, {"yaml": BAD_POLICY}, user=viewer)["data"]["validateSanitizationPolicy"]
    assert bad["valid"] is False and bad["version"] is None
    assert {(p["code"], p["line"]) for p in bad["problems"]} >= {("MSX-S002", 4), ("MSX-S003", 5)}
    broken = gql(query, {"yaml": "name: [unclosed"}, user=viewer)["data"]["validateSanitizationPolicy"]
    assert broken["valid"] is False and broken["problems"][0]["code"] == "MSX-S001"


def test_every_code_the_actions_raise_is_in_the_error_enum():
    """Clients switch on codes: an action's code must never be folded into INVALID. Replaying
    creates an environment, so the codes of that path count too."""
    import inspect
    import re

    from blueprints import actions as blueprint_actions
    from environments.actions import policies as environment_policies
    from snapshots import actions
    from snapshots.graphql.types import SnapshotErrorCode

    raised = set()
    for module in (actions, environment_policies, blueprint_actions):
        source = inspect.getsource(module)
        raised |= set(re.findall(r"""\bcode ?= ?["']([A-Z_]+)["']""", source))
        raised |= set(re.findall(r"""^[A-Z_]+ = ["']([A-Z_]+)["']$""", source, re.M))
    known = {c.value for c in SnapshotErrorCode}
    assert raised and raised <= known, raised - known


# --- governance: raw data stays in its team and with its owners ---------------------------------


def test_a_sanitized_snapshot_may_be_restored_into_another_teams_environment(
    gql, bridge, snapshot, other_env, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = mutate(
            gql, "restoreSnapshot", {"snapshot": snapshot.public_id, "environment": other_env.public_id}, user=bridge
        )
    assert result["errors"] == [], result
    assert SnapshotRestore.objects.get(snapshot=snapshot).environment == other_env


def test_a_raw_snapshot_never_leaves_its_team(gql, bridge, env, make_snapshot, other_env, no_trace):
    raw = make_snapshot(env, sanitized=False)
    gql("{ viewer { username } }", user=bridge)
    with no_trace():
        result = mutate(
            gql, "restoreSnapshot", {"snapshot": raw.public_id, "environment": other_env.public_id}, user=bridge
        )
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("UNSANITIZED", "snapshot")]


def test_only_owners_restore_a_raw_snapshot(gql, developer, owner, env, make_snapshot, no_trace):
    raw = make_snapshot(env, sanitized=False)
    gql("{ viewer { username } }", user=developer)
    with no_trace():
        refused = mutate(
            gql, "restoreSnapshot", {"snapshot": raw.public_id, "environment": env.public_id}, user=developer
        )
    assert refused["errors"][0]["code"] == "UNSANITIZED"
    allowed = mutate(gql, "restoreSnapshot", {"snapshot": raw.public_id, "environment": env.public_id}, user=owner)
    assert allowed["errors"] == [], allowed


def test_developers_take_snapshots_but_maintainers_delete_them(gql, developer, env, snapshot, no_trace):
    taken = mutate(gql, "createSnapshot", {"environment": env.public_id, "service": "db"}, user=developer)
    assert taken["errors"] == [], taken
    with no_trace():
        refused = mutate(gql, "deleteSnapshot", {"id": snapshot.public_id}, user=developer)
    assert refused["errors"][0]["code"] == "PERMISSION_DENIED"
