"""django-q2 entry points: thin. They take ids, and the provisioner re-reads everything."""

from __future__ import annotations

from contextlib import nullcontext

from django.conf import settings
from django.db import transaction
from django_q.conf import Conf
from django_q.tasks import async_task

from microstax.lib.schedules import ensure_schedule


def enqueue_operation(operation_id: int) -> None:
    # In a transaction, django-q2's ORM broker skips its close_old_connections(), which with
    # CONN_MAX_AGE=0 drops and re-opens the database connection for every operation enqueued (a
    # quarter of a fleet sweep's time). Not when tasks run synchronously (the tests): the
    # operation would then run inside that transaction, unseen by other connections.
    with nullcontext() if Conf.SYNC else transaction.atomic():
        async_task(
            "environments.tasks.run_operation",
            operation_id,
            task_name=f"operation-{operation_id}",
            group="environments",
            timeout=settings.Q_CLUSTER["timeout"],
        )


def run_operation(operation_id: int) -> str:
    from environments.provisioning import run_operation as run

    return run(operation_id)


FLEET_SCHEDULE_NAME = "microstax-fleet-sweep"


def fleet_sweep() -> dict[str, int]:
    """The scheduled fleet sweep (DESIGN.md §7); its result is the count per policy."""
    from environments.fleet import sweep

    return sweep().counts()


def ensure_fleet_schedule():
    """Create or repair the every-minute schedule of ``fleet_sweep``, by name; safe to call on every start.

    ``Schedule.name`` is not unique in django-q2, so two processes starting at once could both
    create one: duplicates are removed here, keeping the oldest, rather than sweeping twice a minute.
    Returns ``(schedule, created)``.
    """
    from django_q.models import Schedule

    wanted = {"func": "environments.tasks.fleet_sweep", "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1}
    return ensure_schedule(FLEET_SCHEDULE_NAME, wanted)
