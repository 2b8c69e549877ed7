"""Named django-q2 schedules, created or repaired idempotently: safe to call on every start."""

from __future__ import annotations

from datetime import datetime


def ensure_schedule(name: str, wanted: dict, *, first_run: datetime | None = None):
    """Create the schedule ``name`` with the fields ``wanted``, or bring an existing one back to them.

    ``Schedule.name`` is not unique in django-q2, so two processes starting at once could both
    create one: duplicates are removed here, keeping the oldest, rather than running the task twice.
    ``first_run`` applies only when the schedule is created. Returns ``(schedule, created)``.
    """
    from django_q.models import Schedule

    existing = list(Schedule.objects.filter(name=name).order_by("pk"))
    if not existing:
        extra = {"next_run": first_run} if first_run is not None else {}
        return Schedule.objects.create(name=name, **wanted, **extra), True
    schedule, duplicates = existing[0], existing[1:]
    if duplicates:
        Schedule.objects.filter(pk__in=[s.pk for s in duplicates]).delete()
    changed = [key for key, value in wanted.items() if getattr(schedule, key) != value]
    if changed:
        for key in changed:
            setattr(schedule, key, wanted[key])
        schedule.save(update_fields=changed)
    return schedule, False
