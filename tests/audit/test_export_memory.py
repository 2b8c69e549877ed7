"""Exports stream: 100,000 events go out in bounded memory (measured with tracemalloc)."""

from __future__ import annotations

import json
import tracemalloc
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from audit.models import AuditEvent

TOTAL = 100_000
# One chunk of events (2,000) plus the response machinery; the whole export is about 60 MB of text.
PEAK_LIMIT = 16 * 1024 * 1024


@pytest.fixture
def many_events(db, team):
    """100,000 stored events. Written with bulk_create: the export does not check the chain, and
    100,000 signed appends would only slow the test down."""
    start = timezone.now() - timedelta(days=30)
    batch = []
    for i in range(TOTAL):
        batch.append(
            AuditEvent(
                sequence=10_000 + i,
                created_at=start + timedelta(seconds=i),
                actor_name="olivia",
                actor_kind="user",
                team=team,
                team_slug=team.slug,
                action="environment.update",
                target_type="environment",
                target_id=f"env_{i:012d}",
                request_id=f"req_{i}",
                ip="10.0.0.1",
                user_agent="microstax-cli/0.1",
                before={"replicas": 1, "state": "ready"},
                after={"replicas": 2, "state": "ready", "note": "x" * 200},
                prev_hash="0" * 64,
                hash=f"{i:064x}",
                key_id="k" * 16,
                signature="s" * 128,
            )
        )
        if len(batch) == 5000:
            AuditEvent.objects.bulk_create(batch)
            batch = []
    return TOTAL


@pytest.fixture
def auditor_client(client_for, make_user):
    user = make_user("rita")
    user.user_permissions.add(Permission.objects.get(codename="view_all_events"))
    return client_for(user)


def _stream(response) -> tuple[int, int, bytes, int]:
    """Consume a streamed export: (lines, bytes, first chunk, peak traced memory)."""
    lines = size = 0
    first = b""
    tracemalloc.start()
    try:
        for chunk in response.streaming_content:
            first = first or chunk
            lines += chunk.count(b"\n")
            size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return lines, size, first, peak


def test_an_export_of_100000_events_streams_in_bounded_memory(many_events, auditor_client, capsys):
    for fmt in ("jsonl", "csv"):
        response = auditor_client.get(f"/audit/export.{fmt}?action=environment.update")
        assert response.streaming
        lines, size, first, peak = _stream(response)
        assert lines >= TOTAL + (1 if fmt == "csv" else 0)
        if fmt == "jsonl":
            assert json.loads(first.splitlines()[0])["sequence"] == 10_000
        with capsys.disabled():
            print(f"\n[export {fmt}] {TOTAL} events, {size / 1e6:.1f} MB streamed, peak traced {peak / 1e6:.2f} MB")
        assert peak < PEAK_LIMIT, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB export"
        assert peak < size / 4  # far below the export's own size: nothing accumulates
