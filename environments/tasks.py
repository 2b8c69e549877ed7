"""django-q2 entry points: thin. They take ids, and the provisioner re-reads everything."""

from __future__ import annotations

from django.conf import settings
from django_q.tasks import async_task

from microstax.lib.schedules import ensure_schedule


def enqueue_operation(operation_id: int) -> None:
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
