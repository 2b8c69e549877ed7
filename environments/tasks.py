"""django-q2 entry points: thin. They take ids, and the provisioner re-reads everything."""

from __future__ import annotations

from django.conf import settings
from django_q.tasks import async_task


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
    existing = list(Schedule.objects.filter(name=FLEET_SCHEDULE_NAME).order_by("pk"))
    if not existing:
        return Schedule.objects.create(name=FLEET_SCHEDULE_NAME, **wanted), True
    schedule, duplicates = existing[0], existing[1:]
    if duplicates:
        Schedule.objects.filter(pk__in=[s.pk for s in duplicates]).delete()
    changed = [key for key, value in wanted.items() if getattr(schedule, key) != value]
    if changed:
        for key in changed:
            setattr(schedule, key, wanted[key])
        schedule.save(update_fields=changed)
    return schedule, False
