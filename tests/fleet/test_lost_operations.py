"""Operations a worker lost: the sweep enqueues them again (claim() takes a stale one over once), and
fails one that has been lost too often, with the reason."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from environments import actions
from environments.fleet import MAX_OPERATION_ATTEMPTS, sweep
from environments.models import Environment, Operation


def _lose(operation: Operation, *, attempts: int, minutes_ago: int = 60) -> None:
    """As if the worker running ``operation`` had been killed ``minutes_ago``."""
    then = timezone.now() - timedelta(minutes=minutes_ago)
    Operation.objects.filter(pk=operation.pk).update(
        state="running", heartbeat_at=then, attempts=attempts, claimed_by="gone:1", finished_at=None
    )


def test_a_stopped_environment_whose_worker_died_is_finished_by_the_sweep(
    provision, owner, django_capture_on_commit_callbacks
) -> None:
    # given: a stop whose worker was killed half-way
    env = provision()
    with django_capture_on_commit_callbacks(execute=False):
        operation = actions.stop_environment(actor=owner, env=env)
    _lose(operation, attempts=1)

    # when
    dry = sweep(dry_run=True)
    with django_capture_on_commit_callbacks(execute=True):
        report = sweep()

    # then: reported by the dry run without acting, then taken over and finished once
    assert [f.id for f in dry.operations_recovered] == [operation.public_id]
    assert [f.id for f in report.operations_recovered] == [operation.public_id]
    operation.refresh_from_db()
    assert (operation.state, operation.attempts) == ("succeeded", 2)
    assert Environment.objects.get(pk=env.pk).state == "stopped"
    assert sweep().operations_recovered == []


def test_a_live_operation_is_left_alone(provision, owner, django_capture_on_commit_callbacks) -> None:
    env = provision()
    with django_capture_on_commit_callbacks(execute=False):
        operation = actions.stop_environment(actor=owner, env=env)
    _lose(operation, attempts=1, minutes_ago=1)  # heart-beating a minute ago: a worker has it

    report = sweep()

    assert report.operations_recovered == [] and report.operations_abandoned == []
    assert Operation.objects.get(pk=operation.pk).state == "running"


def test_an_operation_lost_too_often_is_failed_with_the_reason(
    provision, owner, django_capture_on_commit_callbacks
) -> None:
    env = provision()
    with django_capture_on_commit_callbacks(execute=False):
        operation = actions.stop_environment(actor=owner, env=env)
    _lose(operation, attempts=MAX_OPERATION_ATTEMPTS)

    report = sweep()

    assert [f.id for f in report.operations_abandoned] == [operation.public_id]
    operation.refresh_from_db()
    assert operation.state == "failed"
    assert "lost by its worker 3 times" in operation.error
    assert Environment.objects.get(pk=env.pk).state in ("failed", "degraded")
