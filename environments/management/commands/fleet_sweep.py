"""``manage.py fleet_sweep``: run the fleet policies once (DESIGN.md §7), or install their schedule.

manage.py fleet_sweep                      # expire, warn, stop idle, clean namespaces, check drift now
manage.py fleet_sweep --dry-run --json     # what it would do, as JSON; changes nothing
manage.py fleet_sweep --now 2030-01-01T00:00:00Z --dry-run   # as of another time
manage.py fleet_sweep --install-schedule   # create/repair the every-minute django-q2 schedule
"""

from __future__ import annotations

import json
from datetime import UTC

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from environments.fleet import DEFAULT_BATCH_SIZE, sweep
from environments.tasks import FLEET_SCHEDULE_NAME, ensure_fleet_schedule


class Command(BaseCommand):
    help = (
        "Apply the fleet policies once: delete expired environments, warn those about to expire, stop idle "
        "ones, delete orphan namespaces, report namespaces stuck terminating and record (or re-apply) drift. "
        "With --install-schedule, "
        f"only create the '{FLEET_SCHEDULE_NAME}' django-q2 schedule that runs this every minute."
    )

    def add_arguments(self, parser):
        parser.add_argument("--now", default=None, help="sweep as of this ISO 8601 time (naive means UTC)")
        parser.add_argument("--dry-run", action="store_true", help="change nothing; report what would be done")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="rows read per query")
        parser.add_argument(
            "--install-schedule", action="store_true", help="create or repair the every-minute schedule and exit"
        )

    def handle(self, *args, **opts):
        if opts["install_schedule"]:
            schedule, created = ensure_fleet_schedule()
            self.stdout.write(f"schedule '{schedule.name}' {'created' if created else 'already installed'}")
            return
        now = None
        if opts["now"]:
            try:
                now = parse_datetime(opts["now"])
            except ValueError:
                now = None
            if now is None:
                raise CommandError(f"--now: {opts['now']!r} is not an ISO 8601 date and time (e.g. 2030-01-01T00:00Z)")
            if timezone.is_naive(now):
                now = timezone.make_aware(now, UTC)
        if opts["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        report = sweep(now=now, dry_run=opts["dry_run"], batch_size=opts["batch_size"])
        if opts["json"]:
            self.stdout.write(json.dumps(report.to_dict(), indent=2))
        else:
            self.stdout.write(report.summary())
