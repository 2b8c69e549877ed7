"""django-q2 entry points of the audit trail: thin."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.utils import timezone

from microstax.lib.schedules import ensure_schedule

CHECKPOINT_SCHEDULE_NAME = "microstax-audit-checkpoint"


def daily_checkpoint() -> int:
    """Sign the checkpoint of every finished day that has none yet; returns how many were made."""
    from audit.actions import checkpoint_missing_days

    return len(checkpoint_missing_days())


def ensure_checkpoint_schedule():
    """Create or repair the daily schedule of ``daily_checkpoint`` (00:05 UTC), by name; safe to call
    on every start. Duplicates (two processes starting at once) are removed, keeping the oldest, as
    for the fleet sweep. Returns ``(schedule, created)``."""
    from django_q.models import Schedule

    wanted = {"func": "audit.tasks.daily_checkpoint", "schedule_type": Schedule.DAILY, "repeats": -1}
    tomorrow = timezone.now().date() + timedelta(days=1)
    return ensure_schedule(
        CHECKPOINT_SCHEDULE_NAME, wanted, first_run=datetime.combine(tomorrow, time(0, 5), tzinfo=UTC)
    )
