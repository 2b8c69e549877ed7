"""Writing and verifying the audit trail. Actions call ``record`` explicitly, inside their transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from audit import context, denials, signing
from audit.choices import ActorKind, Outcome
from audit.integrity import ROTATION_ACTION, Anchor, VerifyResult, checkpoint_signature_ok, trusted_keys, verify
from audit.models import GENESIS_HASH, AuditChainHead, AuditCheckpoint, AuditEvent, CheckpointKind
from audit.redaction import redact
from audit.signing import endorsement_message
from microstax.lib.errors import Conflict, NotFound

__all__ = ["VerifyResult", "record", "verify_chain", "verify_event"]


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
    _signing_key: signing.SigningKey | None = None,
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
        # Read under the lock, so a key rotation (which takes the same lock) is seen at once.
        key = _signing_key or signing.current_key()
        event = AuditEvent(
            # Numbered from the locked head rather than a database sequence, which would skip
            # numbers on rollback: here a missing number can only mean a deleted row.
            sequence=head.last_sequence + 1,
            created_at=timezone.now(),
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
        event.key_id = key.key_id
        event.signature = key.sign(event.signed_message())
        event.save(force_insert=True)
        head.last_hash = event.hash
        head.last_sequence = event.sequence
        head.save(update_fields=["last_hash", "last_sequence"])
    denials.note_recorded()
    return event


# --- integrity: verification, checkpoints, key rotation, pruning --------------------------------


def _trusted_keys() -> dict[str, str]:
    key = signing.current_key()
    rotations = AuditEvent.objects.filter(action=ROTATION_ACTION).only("sequence", "action", "after")
    return trusted_keys(key.key_id, key.public_b64, list(rotations))


def _events_after(sequence: int, *, until: int | None = None, batch_size: int = 2000) -> Iterator[AuditEvent]:
    """Events after ``sequence`` in order, fetched by keyset so memory stays bounded."""
    last = sequence
    while True:
        batch_qs = AuditEvent.objects.filter(sequence__gt=last).order_by("sequence")
        if until is not None:
            batch_qs = batch_qs.filter(sequence__lte=until)
        batch = list(batch_qs[:batch_size])
        if not batch:
            return
        yield from batch
        last = batch[-1].sequence


def _locate(hash_: str) -> int | None:
    return AuditEvent.objects.filter(hash=hash_).values_list("sequence", flat=True).first()


def _anchor_for(checkpoint: AuditCheckpoint | None) -> Anchor:
    if checkpoint is None:
        return Anchor()
    return Anchor(
        checkpoint.last_sequence,
        checkpoint.head_hash,
        f"the {checkpoint.get_kind_display().lower()} checkpoint of {checkpoint.day} (#{checkpoint.last_sequence})",
    )


def verify_chain(*, since: date | None = None, until: int | None = None) -> VerifyResult:
    """Verify the stored trail: from the genesis (or the last prune checkpoint, when a prefix was
    pruned), or, with ``since``, from the last checkpoint before that day; ``until`` stops at an
    event (used to verify one event and everything it depends on)."""
    keys = _trusted_keys()
    checkpoints = list(AuditCheckpoint.objects.order_by("last_sequence", "pk"))
    base = next((c for c in reversed(checkpoints) if c.kind == CheckpointKind.PRUNE), None)
    start = base
    if since is not None:
        start = next(
            (
                c
                for c in reversed(checkpoints)
                if c.day < since and c.last_sequence >= (base.last_sequence if base else 0)
            ),
            base,
        )
    if until is not None:
        start = next(
            (
                c
                for c in reversed(checkpoints)
                if c.last_sequence < until and c.last_sequence >= (start.last_sequence if start else 0)
            ),
            start,
        )
    if start is not None and not checkpoint_signature_ok(start, keys):
        return VerifyResult(
            ok=False,
            checked=0,
            broken_sequence=start.last_sequence,
            kind="checkpoint_mismatch",
            problem=f"checkpoint mismatch: the {start.kind} checkpoint of {start.day}, where verification starts, "
            "has an invalid signature",
        )
    anchor = _anchor_for(start)
    head = None
    if until is None:
        row = AuditChainHead.objects.filter(pk=1).values_list("last_sequence", "last_hash").first()
        head = (row[0], row[1]) if row and row[0] else None
    relevant = [c for c in checkpoints if until is None or c.last_sequence <= until]
    return verify(
        _events_after(anchor.sequence, until=until),
        keys=keys,
        anchor=anchor,
        checkpoints=relevant,
        head=head,
        locate=_locate,
    )


def verify_event(sequence: int) -> VerifyResult:
    """Verify one event: its content, signature and link, and the chain from the last checkpoint before it."""
    head = AuditChainHead.objects.filter(pk=1).values_list("last_sequence", flat=True).first() or 0
    if not 1 <= sequence <= head:
        raise NotFound(f"there is no audit event #{sequence}", field="id")
    result = verify_chain(until=sequence)
    if result.ok and result.last_sequence != sequence:
        return VerifyResult(
            ok=False,
            checked=result.checked,
            broken_sequence=sequence,
            kind="row_deleted",
            problem=f"row deleted: event #{sequence} is not in the trail",
            started_from=result.started_from,
        )
    return result


def _day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def _sign_checkpoint(checkpoint: AuditCheckpoint) -> AuditCheckpoint:
    key = signing.current_key()
    checkpoint.created_at = timezone.now()
    checkpoint.key_id = key.key_id
    checkpoint.signature = key.sign(checkpoint.signed_message())
    checkpoint.save(force_insert=True)
    return checkpoint


def create_checkpoint(*, day: date) -> AuditCheckpoint:
    """Sign the daily checkpoint at the last event of ``day`` (UTC).

    Checkpoints are made in order, under the chain-head lock; a daily checkpoint that exists
    already is returned unchanged, so the schedule may run twice.
    """
    with transaction.atomic():
        AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        existing = AuditCheckpoint.objects.filter(kind=CheckpointKind.DAILY, day=day).first()
        if existing is not None:
            return existing
        previous = AuditCheckpoint.objects.order_by("-last_sequence", "-pk").first()
        events = AuditEvent.objects.filter(created_at__lt=_day_end(day)).order_by("-sequence")
        last = events.values("sequence", "hash").first()
        first_sequence = previous.last_sequence + 1 if previous else 1
        if last is None or last["sequence"] < first_sequence:
            if previous is not None and last is not None and last["sequence"] < previous.last_sequence:
                raise Conflict(
                    f"checkpoints are made in order: the newest already covers events up to #{previous.last_sequence}"
                )
            # An empty day still gets its checkpoint, pinned at the previous one's head.
            last_sequence = previous.last_sequence if previous else 0
            head_hash = previous.head_hash if previous else GENESIS_HASH
            count = 0
        else:
            last_sequence, head_hash = last["sequence"], last["hash"]
            count = AuditEvent.objects.filter(sequence__gte=first_sequence, sequence__lte=last_sequence).count()
        return _sign_checkpoint(
            AuditCheckpoint(
                kind=CheckpointKind.DAILY,
                day=day,
                first_sequence=first_sequence,
                last_sequence=last_sequence,
                head_hash=head_hash,
                count=count,
            )
        )


def checkpoint_missing_days(*, today: date | None = None) -> list[AuditCheckpoint]:
    """Daily checkpoints for every finished day not yet checkpointed (the scheduled task)."""
    today = today or timezone.now().date()
    latest = AuditCheckpoint.objects.filter(kind=CheckpointKind.DAILY).order_by("-day").first()
    if latest is not None:
        day = latest.day + timedelta(days=1)
    else:
        first = AuditEvent.objects.order_by("sequence").values_list("created_at", flat=True).first()
        if first is None:
            return []
        day = first.date()
    made = []
    while day < today:
        made.append(create_checkpoint(day=day))
        day += timedelta(days=1)
    return made


def rotate_signing_key(*, actor=None, new_key: signing.SigningKey | None = None) -> AuditEvent:
    """Replace the signing key, recording ``audit.key.rotated`` in the chain.

    The event is signed by the old key and names the new public key, with the new key's
    endorsement of the old one (see ``integrity.trusted_keys``). The key file is replaced while the
    chain head is locked, so no event can be signed by the old key after the rotation event.
    """
    path = Path(settings.MICROSTAX_AUDIT_SIGNING_KEY_FILE)
    new = new_key or signing.new_key()
    old = signing.current_key()
    replaced = False
    try:
        with transaction.atomic():
            AuditChainHead.objects.select_for_update().get_or_create(pk=1)
            old = signing.current_key()
            if new.key_id == old.key_id:
                raise Conflict("the new signing key is the key in use")
            event = record(
                action=ROTATION_ACTION,
                actor=actor,
                target_type="audit_key",
                target_id=new.key_id,
                before={"key_id": old.key_id},
                after={
                    "old_key_id": old.key_id,
                    "old_public_key": old.public_b64,
                    "new_key_id": new.key_id,
                    "new_public_key": new.public_b64,
                    "endorsement": new.sign(endorsement_message(old.key_id, new.key_id)),
                },
                _signing_key=old,
            )
            signing.write_key_file(path, new, replace=True)
            replaced = True
    except BaseException:
        # Without its rotation event the new key would sign events no verifier trusts: put the old one back.
        if replaced:
            signing.write_key_file(path, old, replace=True)
        raise
    return event


# Every stored column, in the order exports write them: an export can be verified offline.
EXPORT_FIELDS = (
    "sequence",
    "created_at",
    "actor_id",
    "actor_name",
    "actor_kind",
    "token_name",
    "team_id",
    "team_slug",
    "action",
    "outcome",
    "target_type",
    "target_id",
    "request_id",
    "ip",
    "user_agent",
    "reason",
    "before",
    "after",
    "prev_hash",
    "hash",
    "key_id",
    "signature",
)


def export_rows(events, *, chunk_size: int = 2000) -> Iterator[dict[str, Any]]:
    """Events (a queryset) as plain dicts, oldest first, read a chunk at a time (a server-side cursor
    on PostgreSQL): bounded memory for any range, and no model instances to build."""
    for row in events.order_by("sequence").values(*EXPORT_FIELDS).iterator(chunk_size=chunk_size):
        row["created_at"] = row["created_at"].isoformat(timespec="microseconds")
        yield row


def export_line(row: dict[str, Any]) -> str:
    """One exported event as a JSON Lines record."""
    return json.dumps(row, sort_keys=True, separators=(",", ":")) + "\n"


@dataclass(frozen=True)
class PrunePlan:
    first_sequence: int
    last_sequence: int
    count: int


def plan_prune(*, before: date) -> PrunePlan | None:
    """Which events ``audit_prune --before`` removes: everything created before that day that is
    still stored. None when there is nothing to prune."""
    cutoff = datetime.combine(before, time.min, tzinfo=UTC)
    bounds = AuditEvent.objects.filter(created_at__lt=cutoff).aggregate(first=Min("sequence"), last=Max("sequence"))
    if bounds["last"] is None:
        return None
    count = AuditEvent.objects.filter(sequence__lte=bounds["last"]).count()
    return PrunePlan(bounds["first"], bounds["last"], count)


def export_events(stream: TextIO, *, through: int, chunk_size: int = 2000) -> tuple[int, str]:
    """Write events up to ``through`` to ``stream`` as JSON Lines; returns (count, sha256 of the text)."""
    digest = hashlib.sha256()
    count = 0
    for row in export_rows(AuditEvent.objects.filter(sequence__lte=through), chunk_size=chunk_size):
        line = export_line(row)
        stream.write(line)
        digest.update(line.encode())
        count += 1
    return count, digest.hexdigest()


def prune_checkpoint(
    *, plan: PrunePlan, before: date, actor=None, export_sha256: str, export_name: str
) -> AuditCheckpoint:
    """Sign the checkpoint that stands in for the pruned prefix, and record the prune in the chain.

    The caller deletes the rows in the same transaction (``manage.py audit_prune``), after this."""
    with transaction.atomic():
        AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        last_hash = AuditEvent.objects.filter(sequence=plan.last_sequence).values_list("hash", flat=True).get()
        checkpoint = _sign_checkpoint(
            AuditCheckpoint(
                kind=CheckpointKind.PRUNE,
                day=before - timedelta(days=1),
                first_sequence=plan.first_sequence,
                last_sequence=plan.last_sequence,
                head_hash=last_hash,
                count=plan.count,
            )
        )
        record(
            action="audit.prune",
            actor=actor,
            target_type="audit_trail",
            target_id=f"#{plan.first_sequence}-#{plan.last_sequence}",
            after={
                "before": before.isoformat(),
                "first_sequence": plan.first_sequence,
                "last_sequence": plan.last_sequence,
                "count": plan.count,
                "export": export_name,
                "export_sha256": export_sha256,
                "checkpoint_head_hash": checkpoint.head_hash,
            },
        )
    return checkpoint
