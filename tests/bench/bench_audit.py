"""Benchmark: the audit trail on a temporary SQLite database — appending, verifying, exporting.

Appends 20,000 signed, chained events through ``record()`` (each its own transaction, as actions do),
then times a full ``verify_chain()``, a verification from the last checkpoint, and a JSON Lines
export of everything (``export_rows``). Targets: verification of 20,000 events under 10 s; exits 1
when it is missed.

Run: .venv/bin/python tests/bench/bench_audit.py
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
_tmp = Path(tempfile.mkdtemp())
os.environ["DATABASE_URL"] = f"sqlite:///{_tmp / 'bench.sqlite3'}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "microstax.settings_test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

COUNT = 20_000
VERIFY_TARGET_SECONDS = 10.0


def main() -> int:
    settings.MICROSTAX_AUDIT_SIGNING_KEY_FILE = _tmp / "key.pem"
    call_command("migrate", verbosity=0)
    from audit.actions import create_checkpoint, export_events, record, verify_chain
    from audit.models import AuditEvent

    start = time.perf_counter()
    for i in range(COUNT):
        record(
            action="environment.update",
            target_type="environment",
            target_id=f"env_{i}",
            before={"replicas": 1},
            after={"replicas": 2, "note": "x" * 100},
        )
    append = time.perf_counter() - start
    print(f"append: {COUNT} events in {append:.2f} s ({COUNT / append:,.0f}/s, one transaction each)")

    start = time.perf_counter()
    result = verify_chain()
    full = time.perf_counter() - start
    assert result.ok and result.checked == COUNT, result
    print(f"verify (full chain): {COUNT} events in {full:.2f} s ({COUNT / full:,.0f}/s)")

    create_checkpoint(day=timezone.now().date())
    record(action="after.checkpoint")
    start = time.perf_counter()
    recent = verify_chain(since=timezone.now().date() + timezone.timedelta(days=1))
    print(f"verify (since the checkpoint): {recent.checked} event(s) in {(time.perf_counter() - start) * 1000:.1f} ms")

    sink = io.StringIO()
    start = time.perf_counter()
    count, _ = export_events(sink, through=AuditEvent.objects.order_by("-sequence").first().sequence)
    export = time.perf_counter() - start
    print(f"export (JSON Lines): {count} events, {len(sink.getvalue()) / 1e6:.1f} MB in {export:.2f} s")

    if full > VERIFY_TARGET_SECONDS:
        print(f"MISSED: full verification took {full:.2f} s (target {VERIFY_TARGET_SECONDS} s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
