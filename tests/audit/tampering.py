"""Raw-SQL tampering for the audit tests: the ORM refuses to change or delete events."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection

from audit import signing
from audit.models import GENESIS_HASH, AuditEvent


def raw(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def backdate(sequence: int, days: int) -> None:
    """Move an event into the past. Its hash changes, so call ``rechain`` afterwards."""
    event = AuditEvent.objects.get(pk=sequence)
    raw(
        "UPDATE audit_auditevent SET created_at=%s WHERE sequence=%s",
        [event.created_at - timedelta(days=days), sequence],
    )


def rechain() -> None:
    """Re-link, re-hash and re-sign every event in order, as if they had been written that way."""
    key = signing.current_key()
    prev = GENESIS_HASH
    last = 0
    for event in AuditEvent.objects.order_by("sequence"):
        event.prev_hash = prev
        event.hash = event.compute_hash()
        event.signature = key.sign(event.signed_message())
        raw(
            "UPDATE audit_auditevent SET prev_hash=%s, hash=%s, signature=%s, key_id=%s WHERE sequence=%s",
            [event.prev_hash, f"tmp{event.pk:061d}", event.signature, key.key_id, event.pk],
        )
        raw("UPDATE audit_auditevent SET hash=%s WHERE sequence=%s", [event.hash, event.pk])
        prev, last = event.hash, event.pk
    raw("UPDATE audit_auditchainhead SET last_hash=%s, last_sequence=%s", [prev, last])
