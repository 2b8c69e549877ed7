"""``manage.py install_schedules``: create or repair the django-q2 schedules MicroStax runs on.

The fleet sweep every minute (TTL expiry and warnings, idle shutdown, namespace clean-up, drift, the
recovery of operations a killed worker lost) and the audit trail's signed daily checkpoint. Without
them a deployment provisions environments but never expires, stops or recovers one. Idempotent:
the migrations Job runs it after every ``migrate``; ``make run`` through ``bootstrap_demo``.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create or repair the fleet sweep (every minute) and audit checkpoint (daily) schedules."

    def handle(self, *args, **opts):
        from audit.tasks import ensure_checkpoint_schedule
        from environments.tasks import ensure_fleet_schedule

        for schedule, created in (ensure_fleet_schedule(), ensure_checkpoint_schedule()):
            if opts["verbosity"] > 0:
                self.stdout.write(f"{schedule.name}: {'created' if created else 'present'}")
