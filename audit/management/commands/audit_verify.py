from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from audit.actions import verify_chain


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain and signatures; exit non-zero at the first broken event."

    def handle(self, *args, **options):
        result = verify_chain()
        if not result.ok:
            raise CommandError(
                f"audit chain BROKEN at event #{result.broken_sequence}: {result.problem} "
                f"({result.checked} events verified before it)"
            )
        self.stdout.write(f"audit chain verified: {result.checked} events, hashes, links and signatures intact")
