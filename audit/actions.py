"""Writing and verifying the audit trail. Actions call ``record`` explicitly, inside their transaction."""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from audit import context
from audit.choices import ActorKind, Outcome
from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from audit.redaction import redact


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so the hashed form equals what the database gives back."""
    if value is None:
        return None
    return json.loads(json.dumps(redact(value), default=str))


def record(
    *,
    action: str,
    actor=None,
    team=None,
    target_type: str = "",
    target_id: str = "",
    before: Any = None,
    after: Any = None,
    outcome: str = Outcome.SUCCESS,
    reason: str = "",
    actor_name: str | None = None,
) -> AuditEvent:
    """Append one event to the chain. ``actor`` is a user, or None for the system.

    The request id, source IP, user agent and token name come from the current RequestContext,
    which background tasks restore from the request that started them.
    """
    ctx = context.current()
    if actor is None or not getattr(actor, "is_authenticated", False):
        kind = ActorKind.SYSTEM if actor_name is None else ActorKind.ANONYMOUS
        name = actor_name or "system"
        actor = None
    else:
        kind = ActorKind.TOKEN if ctx.token_name else ActorKind.USER
        name = actor.get_username()
    with transaction.atomic():
        # Lock order: the chain head is always the last lock an action takes, so appending cannot
        # deadlock against the action's own row locks.
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        event = AuditEvent(
            actor=actor,
            actor_name=name[:150],
            actor_kind=kind,
            token_name=(ctx.token_name or "") if kind == ActorKind.TOKEN else "",
            team=team,
            team_slug=team.slug if team is not None else "",
            action=action,
            outcome=outcome,
            target_type=target_type,
            target_id=target_id,
            request_id=ctx.request_id,
            ip=ctx.ip,
            user_agent=ctx.user_agent,
            reason=reason,
            before=_jsonable(before),
            after=_jsonable(after),
            prev_hash=head.last_hash,
        )
        event.hash = event.compute_hash()
        event.signature = event.compute_signature()
        event.save()
        head.last_hash = event.hash
        head.last_sequence = event.sequence
        head.save(update_fields=["last_hash", "last_sequence"])
    return event


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    broken_sequence: int | None = None
    problem: str = ""


def _events_in_order(batch_size: int = 2000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        batch = list(AuditEvent.objects.filter(sequence__gt=last).order_by("sequence")[:batch_size])
        if not batch:
            return
        yield from batch
        last = batch[-1].sequence


def verify_chain() -> VerifyResult:
    """Walk the whole chain; report the first event whose link, hash or signature is wrong."""
    expected_prev = GENESIS_HASH
    checked = 0
    for event in _events_in_order():
        if event.prev_hash != expected_prev:
            return VerifyResult(
                False, checked, event.sequence, "link broken: an event before it was removed, inserted or reordered"
            )
        if event.compute_hash() != event.hash:
            return VerifyResult(False, checked, event.sequence, "hash mismatch: the event's content was altered")
        if not hmac.compare_digest(event.compute_signature(), event.signature):
            return VerifyResult(False, checked, event.sequence, "signature mismatch: not signed by this server's key")
        expected_prev = event.hash
        checked += 1
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and head.last_hash != expected_prev:
        return VerifyResult(False, checked, head.last_sequence, "the newest events were removed from the end")
    return VerifyResult(True, checked)
