"""Snapshots of a stopped environment wake it first: the capture (or restore) resumes the
environment as the developer who asked, audited, and its Operation waits — bounded — until the
environment is ready. States that will not come up on their own are refused with what to do."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from environments import actions as env_actions
from environments import provisioning
from environments.models import Environment, Operation
from microstax.lib.errors import Conflict, PermissionDenied
from snapshots import actions
from snapshots.models import SnapshotState


@pytest.fixture
def stopped(provision, owner, team, django_capture_on_commit_callbacks):
    env = provision(owner, team)
    with django_capture_on_commit_callbacks(execute=True):
        env_actions.stop_environment(actor=owner, env=env)
    env.refresh_from_db()
    assert env.state == "stopped"
    return env


def test_a_snapshot_of_a_stopped_environment_resumes_it_and_then_captures(
    stopped, owner, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        snapshot = actions.create_snapshot(actor=owner, env=stopped)
    # then: the environment was resumed by the developer, for the snapshot, before the capture ran
    stopped.refresh_from_db()
    assert stopped.state == "ready"
    resume = AuditEvent.objects.get(action="environment.resume", target_id=stopped.public_id)
    assert resume.actor == owner and resume.after["woken_for"] == "a snapshot"
    created = AuditEvent.objects.get(action="snapshot.create")
    assert created.after["woke"] is True and created.sequence > resume.sequence
    kinds = list(Operation.objects.filter(environment=stopped).order_by("pk").values_list("kind", "state"))
    assert kinds[-2:] == [("resume", "succeeded"), ("snapshot", "failed")]
    # (the sandbox runs no agent: the capture itself got as far as its Job)
    snapshot.refresh_from_db()
    assert snapshot.state == SnapshotState.FAILED and "without uploading" in snapshot.state_reason


def test_a_viewer_cannot_wake_an_environment_through_a_snapshot(stopped, viewer, no_trace):
    with no_trace(), pytest.raises(PermissionDenied):
        actions.create_snapshot(actor=viewer, env=stopped)
    stopped.refresh_from_db()
    assert stopped.state == "stopped"


@pytest.mark.parametrize(
    ("state", "says"),
    [("stopping", "try again once it has stopped"), ("failed", "microstax env retry"), ("deleting", "no longer")],
)
def test_states_that_do_not_come_up_are_refused_with_what_to_do(env_factory_state, owner, no_trace, state, says):
    env = env_factory_state(state)
    with no_trace(), pytest.raises(Conflict) as refused:
        actions.create_snapshot(actor=owner, env=env)
    assert f"environment is {state}; a snapshot needs it running" in refused.value.message
    assert says in refused.value.message


@pytest.fixture
def env_factory_state(provision, owner, team):
    def make(state: str) -> Environment:
        env = provision(owner, team, name=f"shop-{state}")
        Environment.objects.filter(pk=env.pk).update(state=state)
        env.refresh_from_db()
        return env

    return make


def test_the_capture_waits_for_an_environment_on_its_way_up(
    env_factory_state, owner, monkeypatch, django_capture_on_commit_callbacks
):
    # given: an environment still resuming when the capture's Operation runs
    env = env_factory_state("resuming")
    polls = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        Environment.objects.filter(pk=env.pk).update(state="ready")  # the resume finished meanwhile

    monkeypatch.setattr(provisioning, "_sleep", sleep)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        snapshot = actions.create_snapshot(actor=owner, env=env)
    # then: it waited, then ran the capture Job
    assert polls == [provisioning.WAKE_POLL_SECONDS]
    steps = list(snapshot.operation.steps.order_by("position").values_list("name", "outcome"))
    assert steps[0] == (f"wait for {env.public_id} to be ready", "ok")
    assert ("apply capture job", "ok") in steps
    assert not AuditEvent.objects.filter(action="environment.resume").exists()  # resuming already


def test_the_wait_is_bounded_and_fails_the_snapshot_with_the_reason(
    env_factory_state, owner, monkeypatch, django_capture_on_commit_callbacks
):
    env = env_factory_state("resuming")
    monkeypatch.setattr(provisioning, "_sleep", lambda seconds: None)
    monkeypatch.setattr(provisioning, "WAKE_TIMEOUT", 0.0)
    with django_capture_on_commit_callbacks(execute=True):
        snapshot = actions.create_snapshot(actor=owner, env=env)
    snapshot.refresh_from_db()
    assert snapshot.state == SnapshotState.FAILED
    assert f"{env.public_id} is still resuming after 0 s" in snapshot.state_reason
    assert "the capture of" in snapshot.state_reason
    env.refresh_from_db()
    assert env.state == "resuming"  # a failed capture never touches the environment


def test_an_environment_stopped_again_before_the_capture_fails_it_at_once(
    env_factory_state, owner, monkeypatch, django_capture_on_commit_callbacks
):
    env = env_factory_state("resuming")

    def sleep(seconds: float) -> None:
        Environment.objects.filter(pk=env.pk).update(state="failed")

    monkeypatch.setattr(provisioning, "_sleep", sleep)
    with django_capture_on_commit_callbacks(execute=True):
        snapshot = actions.create_snapshot(actor=owner, env=env)
    snapshot.refresh_from_db()
    assert snapshot.state == SnapshotState.FAILED
    assert f"{env.public_id} is failed, not ready" in snapshot.state_reason


def test_a_restore_into_a_stopped_environment_resumes_it_first(
    stopped, provision, owner, team, make_snapshot, django_capture_on_commit_callbacks
):
    source = provision(owner, team, name="source")
    snapshot = make_snapshot(source, storage_key="payments/x.msxsnap", sha256="ab" * 32)
    with django_capture_on_commit_callbacks(execute=True):
        restore = actions.restore_snapshot(actor=owner, snapshot=snapshot, env=stopped)
    stopped.refresh_from_db()
    assert stopped.state == "ready"
    resume = AuditEvent.objects.get(action="environment.resume", target_id=stopped.public_id)
    assert resume.after["woken_for"] == f"restoring {snapshot.public_id}"
    restore.refresh_from_db()
    assert "without downloading" in restore.state_reason  # the Job ran (no agent in the sandbox)


def test_the_dashboard_offers_a_snapshot_of_a_stopped_environment_and_wakes_it(
    stopped, owner, client_for, django_capture_on_commit_callbacks
):
    client = client_for(owner)
    section = client.get(f"/environments/{stopped.public_id}/snapshots/").content.decode()
    assert "Take snapshot" in section and 'data-testid="wakes"' in section
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/environments/{stopped.public_id}/snapshots/", {"service": "db"}, HTTP_HX_REQUEST="true"
        )
    assert response.status_code == 200
    stopped.refresh_from_db()
    assert stopped.state == "ready"
    assert AuditEvent.objects.filter(action="snapshot.create", after__woke=True).exists()
