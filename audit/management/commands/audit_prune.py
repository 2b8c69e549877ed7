"""``manage.py audit_prune --before DATE --export FILE``: the retention policy, enforced.

Events created before DATE are verified, exported as JSON Lines (streamed), covered by a signed
prune checkpoint, and only then deleted — in one transaction, with raw SQL because the ORM refuses
to delete audit events. Verification afterwards starts from that checkpoint.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from audit.actions import export_events, plan_prune, prune_checkpoint, verify_chain
from audit.management.commands._dates import parse_day
from audit.models import AuditEvent


class Command(BaseCommand):
    help = "Export audit events created before --before to --export (JSON Lines), checkpoint them, then delete them."

    def add_arguments(self, parser):
        parser.add_argument("--before", required=True, help="prune events created before this UTC day (YYYY-MM-DD)")
        parser.add_argument("--export", required=True, help="JSON Lines file to write; must not exist")

    def handle(self, *args, **opts):
        before = parse_day(opts["before"], "--before")
        target = Path(opts["export"])
        plan = plan_prune(before=before)
        if plan is None:
            self.stdout.write(f"nothing to prune: no stored event was created before {before}")
            return
        # Never destroy evidence of tampering: the prefix must verify before it goes.
        result = verify_chain(until=plan.last_sequence)
        if not result.ok:
            raise CommandError(
                f"refusing to prune: the trail is BROKEN at event #{result.broken_sequence}: {result.problem}"
            )
        try:
            stream = target.open("x", encoding="utf-8")
        except FileExistsError:
            raise CommandError(f"--export: {target} exists; choose a new file") from None
        except OSError as exc:
            raise CommandError(f"--export: cannot write {target}: {exc.strerror}") from None
        try:
            with stream, transaction.atomic():
                count, sha256 = export_events(stream, through=plan.last_sequence)
                stream.flush()
                if count != plan.count:
                    raise CommandError(f"exported {count} events but {plan.count} were planned; nothing deleted")
                checkpoint = prune_checkpoint(plan=plan, before=before, export_sha256=sha256, export_name=target.name)
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"DELETE FROM {AuditEvent._meta.db_table} WHERE sequence <= %s",  # noqa: S608 - fixed table
                        [plan.last_sequence],
                    )
                    deleted = cursor.rowcount
        except BaseException:
            # Nothing was deleted: an export of events still stored would only mislead.
            target.unlink(missing_ok=True)
            raise
        self.stdout.write(
            f"pruned {deleted} events (#{plan.first_sequence}–#{plan.last_sequence}) created before {before}; "
            f"exported to {target} (sha256 {sha256}); signed prune checkpoint at head {checkpoint.head_hash[:16]}…"
        )
