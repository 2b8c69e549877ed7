"""``manage.py audit_verify [--since DATE] [--event N] [--json]``: verify the audit trail.

Exit status 0 when verified; otherwise the command fails naming the first broken event and why
(a field changed, a row deleted, rows reordered, an invalid signature, a checkpoint mismatch).
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from audit.actions import verify_chain, verify_event
from audit.management.commands._dates import parse_day


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chain, signatures and checkpoints; exit non-zero naming the first "
        "broken event. --since starts from the last checkpoint before that day."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help="verify from the last checkpoint before this day (YYYY-MM-DD)")
        parser.add_argument("--event", type=int, help="verify one event (by sequence) and the chain up to it")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args, **opts):
        since = parse_day(opts["since"], "--since") if opts["since"] else None
        result = verify_event(opts["event"]) if opts["event"] else verify_chain(since=since)
        if opts["json"]:
            self.stdout.write(json.dumps(result.as_dict(), indent=2))
        if not result.ok:
            raise CommandError(
                f"audit chain BROKEN at event #{result.broken_sequence}: {result.problem} "
                f"({result.checked} events verified before it, starting from {result.started_from})"
            )
        if not opts["json"]:
            span = f"#{result.first_sequence}–#{result.last_sequence}" if result.checked else "no events"
            self.stdout.write(
                f"audit chain verified: {result.checked} events ({span}) from {result.started_from}; "
                f"hashes, links, signatures and {result.checkpoints_checked} checkpoints intact"
            )
