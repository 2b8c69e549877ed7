"""Baselines: promoting a ready environment, refused with a reason otherwise; deleting with dependants."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from environments import actions
from environments.models import Environment
from microstax.lib.errors import Conflict, InvalidInput, PermissionDenied
from tests.environments.test_lifecycle import STACK


@pytest.fixture
def ready(team, owner, sandbox_cluster, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        env = actions.create_environment(actor=owner, team=team, source=STACK)
    env.refresh_from_db()
    assert env.state == "ready"
    return env


def test_owner_promotes_a_ready_environment_to_a_baseline(ready, owner):
    actions.promote_environment(actor=owner, env=ready)
    assert Environment.objects.get(pk=ready.pk).mode == "baseline"
    assert AuditEvent.objects.filter(action="environment.promote", target_id=ready.public_id).count() == 1


def test_promotion_is_refused_for_unpinned_images_with_a_reason(
    team, owner, sandbox_cluster, no_trace, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        env = actions.create_environment(actor=owner, team=team, source=STACK.replace("api:1.0.0", "api:latest"))
    env.refresh_from_db()
    with no_trace(), pytest.raises(InvalidInput) as refused:
        actions.promote_environment(actor=owner, env=env)
    assert refused.value.code == "UNPINNED_IMAGES" and "api (ghcr.io/example/api:latest)" in refused.value.message


def test_promotion_needs_a_ready_environment_and_the_baseline_role(ready, owner, viewer, team, no_trace):
    with no_trace(), pytest.raises(PermissionDenied):
        actions.promote_environment(actor=viewer, env=ready)
    Environment.objects.filter(pk=ready.pk).update(state="stopped")
    ready.refresh_from_db()
    with no_trace(), pytest.raises(Conflict) as refused:
        actions.promote_environment(actor=owner, env=ready)
    assert "only ready environments" in refused.value.message


def test_create_baseline_and_list_baselines_through_graphql(
    gql, team, owner, viewer, sandbox_cluster, django_capture_on_commit_callbacks, no_trace
):
    query = """mutation($t: ID!, $y: String!) { createBaseline(input: {team: $t, yaml: $y}) {
      environment { id mode state } errors { code message } } }"""
    with no_trace():
        denied = gql(query, {"t": team.public_id, "y": STACK}, user=viewer)["data"]["createBaseline"]
    assert denied["errors"][0]["code"] == "PERMISSION_DENIED"
    with django_capture_on_commit_callbacks(execute=True):
        data = gql(query, {"t": team.public_id, "y": STACK}, user=owner)["data"]["createBaseline"]
    assert data["errors"] == [] and data["environment"]["mode"] == "baseline"
    listed = gql("{ baselines { totalCount edges { node { id mode } } } }", user=viewer)["data"]["baselines"]
    assert listed["totalCount"] == 1 and listed["edges"][0]["node"]["id"] == data["environment"]["id"]
    promoted = gql(
        "mutation($id: ID!) { promoteEnvironment(input: {id: $id}) { errors { code } } }",
        {"id": data["environment"]["id"]},
        user=owner,
    )["data"]["promoteEnvironment"]
    assert promoted["errors"][0]["code"] == "CONFLICT"
