"""Operations that need a running environment: logs of a stopped one say why there are none and
how to resume it; an overlay on a stopped baseline wakes the baseline and waits for it. And every
read of one environment (GraphQL ``environment``, the dashboard's detail, status and logs) counts
as activity, pushing back idle shutdown."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from audit.models import AuditEvent
from environments import actions, provisioning
from environments.models import Environment
from microstax.teams import actions as team_actions
from tests.environments.test_lifecycle import STACK
from tests.environments.test_overlays import BASELINE, OVERLAY

HTMX = {"HTTP_HX_REQUEST": "true"}
LOGS = 'query($id: ID!) { environmentLogs(id: $id, service: "api", tailLines: 5) { pod line } }'


@pytest.fixture
def running(team, owner, sandbox_cluster, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        env = actions.create_environment(actor=owner, team=team, source=STACK)
    env.refresh_from_db()
    assert env.state == "ready", env.state_reason
    return env


def _stop(env, owner, capture) -> None:
    with capture(execute=True):
        actions.stop_environment(actor=owner, env=env)
    env.refresh_from_db()
    assert env.state == "stopped"


# --- logs ------------------------------------------------------------------------------------------


def test_logs_of_a_stopped_environment_say_why_and_how_to_resume(
    gql, running, owner, client_for, django_capture_on_commit_callbacks
):
    _stop(running, owner, django_capture_on_commit_callbacks)
    # GraphQL (what `microstax env logs [--follow]` asks)
    error = gql(LOGS, {"id": running.public_id}, user=owner)["errors"][0]
    assert error["extensions"]["code"] == "NOT_RUNNING" and error["extensions"]["state"] == "stopped"
    assert f"resume it first (microstax env resume {running.public_id})" in error["message"]
    # the dashboard's log panel
    page = client_for(owner).get(f"/environments/{running.public_id}/logs/?service=api", **HTMX).content.decode()
    assert "This environment is stopped" in page and "Resume it" in page
    # logs stay readable while it runs
    _resumed = actions.resume_environment
    with django_capture_on_commit_callbacks(execute=True):
        _resumed(actor=owner, env=running)
    assert "errors" not in gql(LOGS, {"id": running.public_id}, user=owner)


@pytest.mark.django_db(transaction=True)
def test_following_logs_of_a_stopped_environment_is_refused_with_the_reason(
    transactional_db, team, owner, sandbox_cluster
):
    from tests.environments.test_subscriptions import _communicator

    env = actions.create_environment(actor=owner, team=team, source=STACK)
    actions.stop_environment(actor=owner, env=env)
    env.refresh_from_db()
    assert env.state == "stopped"
    token = team_actions.create_api_token(actor=owner, name="ws")[1]
    query = 'subscription($id: ID!) { environmentLogs(id: $id, service: "api", follow: true) { pod line } }'

    async def scenario():
        async with _communicator(token) as ws:
            return [r async for r in ws.subscribe(query, {"id": env.public_id})]

    results = async_to_sync(scenario)()
    assert results and results[0].errors
    assert "microstax env resume" in json.dumps([e.message for e in results[0].errors])


# --- overlays on a stopped baseline -----------------------------------------------------------------


@pytest.fixture
def baseline(team, owner, sandbox_cluster, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        env = actions.create_environment(actor=owner, team=team, source=BASELINE)
    env.refresh_from_db()
    assert (env.mode, env.state) == ("baseline", "ready"), env.state_reason
    return env


def test_an_overlay_on_a_stopped_baseline_wakes_it_and_waits_for_it(
    gql, baseline, owner, django_capture_on_commit_callbacks
):
    _stop(baseline, owner, django_capture_on_commit_callbacks)
    # the dry run plans it as the ready baseline it is about to be
    plan = gql(
        "query($b: ID!, $y: String!) { planEnvironment(input: {base: $b, yaml: $y}) "
        "{ plan { conflicts { code } } errors { code } } }",
        {"b": baseline.public_id, "y": OVERLAY},
        user=owner,
    )["data"]["planEnvironment"]
    assert plan["errors"] == [] and plan["plan"]["conflicts"] == []
    # when
    with django_capture_on_commit_callbacks(execute=True):
        overlay = actions.create_overlay(actor=owner, base=baseline, source=OVERLAY)
    # then: the baseline was resumed (by the developer, for the overlay) and the overlay came up on it
    baseline.refresh_from_db()
    overlay.refresh_from_db()
    assert baseline.state == "ready" and overlay.state == "ready", overlay.state_reason
    resume = AuditEvent.objects.get(action="environment.resume", target_id=baseline.public_id)
    assert resume.actor == owner and resume.after["woken_for"] == f"overlay {overlay.public_id}"
    created = AuditEvent.objects.get(action="environment.overlay.create")
    assert created.after["woke"] == [baseline.public_id]
    operation = overlay.operations.get(kind="create")
    assert operation.params == {"waits_for": [baseline.public_id]}


def test_the_overlay_waits_for_a_baseline_still_resuming_and_gives_up_with_the_reason(
    baseline, owner, monkeypatch, django_capture_on_commit_callbacks
):
    # given: the baseline's resume has not finished when the overlay's provisioning starts
    Environment.objects.filter(pk=baseline.pk).update(state="resuming")
    baseline.refresh_from_db()
    monkeypatch.setattr(provisioning, "_sleep", lambda seconds: None)
    monkeypatch.setattr(provisioning, "WAKE_TIMEOUT", 0.0)
    with django_capture_on_commit_callbacks(execute=True):
        overlay = actions.create_overlay(actor=owner, base=baseline, source=OVERLAY)
    overlay.refresh_from_db()
    assert overlay.state == "failed"
    assert f"{baseline.public_id} is still resuming after 0 s; the overlay {overlay.public_id}" in overlay.state_reason
    # and once the baseline is up, a retry goes through without waiting
    Environment.objects.filter(pk=baseline.pk).update(state="ready")
    with django_capture_on_commit_callbacks(execute=True):
        actions.retry_environment(actor=owner, env=overlay)
    overlay.refresh_from_db()
    assert overlay.state == "ready", overlay.state_reason


def test_an_overlay_on_a_failed_baseline_is_still_refused(baseline, owner, no_trace):
    Environment.objects.filter(pk=baseline.pk).update(state="failed")
    baseline.refresh_from_db()
    with no_trace(), pytest.raises(actions.OverlayConflict) as refused:
        actions.create_overlay(actor=owner, base=baseline, source=OVERLAY)
    assert "is failed, not ready" in refused.value.message


def test_a_viewer_cannot_wake_a_baseline_through_an_overlay(
    baseline, owner, viewer, no_trace, django_capture_on_commit_callbacks
):
    _stop(baseline, owner, django_capture_on_commit_callbacks)
    with no_trace(), pytest.raises(Exception) as refused:
        actions.create_overlay(actor=viewer, base=baseline, source=OVERLAY)
    assert refused.value.code == "PERMISSION_DENIED"
    baseline.refresh_from_db()
    assert baseline.state == "stopped"


def test_updating_an_overlay_does_not_wake_its_base(baseline, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        overlay = actions.create_overlay(actor=owner, base=baseline, source=OVERLAY)
    _stop(baseline, owner, django_capture_on_commit_callbacks)
    overlay.refresh_from_db()
    with pytest.raises(actions.OverlayConflict):
        actions.update_environment(actor=owner, env=overlay, source=OVERLAY.replace("feat-checkout", "feat-other"))
    baseline.refresh_from_db()
    assert baseline.state == "stopped"


# --- activity ----------------------------------------------------------------------------------------


def _make_idle(env) -> timezone.datetime:
    long_ago = timezone.now() - timedelta(hours=2)
    Environment.objects.filter(pk=env.pk).update(last_activity_at=long_ago, idle_at=long_ago)
    return long_ago


def _activity(env) -> timezone.datetime:
    return Environment.objects.values_list("last_activity_at", flat=True).get(pk=env.pk)


@pytest.mark.parametrize(
    "read",
    [
        "graphql-environment",
        "graphql-logs",
        "page-detail",
        "page-status",
        "page-logs",
    ],
)
def test_every_read_of_one_environment_counts_as_activity(gql, running, owner, client_for, read):
    long_ago = _make_idle(running)
    if read == "graphql-environment":  # `microstax env get|status|wait`
        data = gql("query($id: ID!) { environment(id: $id) { id state } }", {"id": running.public_id}, user=owner)
        assert data["data"]["environment"]["id"] == running.public_id
    elif read == "graphql-logs":  # `microstax env logs`
        assert "errors" not in gql(LOGS, {"id": running.public_id}, user=owner)
    else:
        path = {"page-detail": "", "page-status": "status/", "page-logs": "logs/?service=api"}[read]
        assert client_for(owner).get(f"/environments/{running.public_id}/{path}", **HTMX).status_code == 200
    touched = _activity(running)
    assert touched > long_ago + timedelta(hours=1)
    running.refresh_from_db()
    assert running.idle_at == running.idle_deadline(touched)


def test_activity_is_written_at_most_once_a_minute(gql, running, owner, django_assert_num_queries):
    _make_idle(running)
    query = "query($id: ID!) { environment(id: $id) { id } }"
    gql(query, {"id": running.public_id}, user=owner)  # the first read writes, and signs the client in
    first = _activity(running)
    gql(query, {"id": running.public_id}, user=owner)
    assert _activity(running) == first


def test_lists_and_other_teams_reads_are_not_activity(gql, running, owner, outsider):
    long_ago = _make_idle(running)
    gql("{ environments { edges { node { id } } } }", user=owner)
    assert (
        gql("query($id: ID!) { environment(id: $id) { id } }", {"id": running.public_id}, user=outsider)["data"][
            "environment"
        ]
        is None
    )
    assert _activity(running) == long_ago
