"""``manage.py audit_checkpoint [--day DATE] [--install-schedule]``: sign daily checkpoints."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from audit.actions import checkpoint_missing_days, create_checkpoint
from audit.management.commands._dates import parse_day
from audit.tasks import CHECKPOINT_SCHEDULE_NAME, ensure_checkpoint_schedule
from microstax.lib.errors import DomainError


class Command(BaseCommand):
    help = (
        "Sign the daily checkpoint of every finished day that has none (or of --day). With --install-schedule, "
        f"only create the '{CHECKPOINT_SCHEDULE_NAME}' django-q2 schedule that does this every night."
    )

    def add_arguments(self, parser):
        parser.add_argument("--day", help="checkpoint this UTC day (YYYY-MM-DD) only")
        parser.add_argument("--install-schedule", action="store_true", help="create or repair the daily schedule")

    def handle(self, *args, **opts):
        if opts["install_schedule"]:
            schedule, created = ensure_checkpoint_schedule()
            self.stdout.write(f"schedule '{schedule.name}' {'created' if created else 'already installed'}")
            return
        try:
            made = (
                [create_checkpoint(day=parse_day(opts["day"], "--day"))] if opts["day"] else checkpoint_missing_days()
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        for checkpoint in made:
            self.stdout.write(
                f"checkpoint {checkpoint.day}: events #{checkpoint.first_sequence}–#{checkpoint.last_sequence} "
                f"({checkpoint.count}), head {checkpoint.head_hash[:16]}…, key {checkpoint.key_id}"
            )
        if not made:
            self.stdout.write("every finished day already has its checkpoint")
