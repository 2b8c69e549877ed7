"""Verifying the audit trail: a pure function over events, checkpoints and trusted keys.

No ORM and no I/O here: ``verify`` is handed an iterable of events in sequence order (model
instances or anything with the same attributes), the checkpoints that fall in its range, the keys it
may trust and where to start, and it says whether the trail holds or where and why it first breaks.
``audit.actions.verify_chain`` feeds it from the database.

What each kind of tampering looks like:

- a stored field changed: the event's recomputed hash differs from its stored one (``field_changed``);
- a row deleted: a number is missing from ``sequence`` (assigned without gaps under the chain-head
  lock) and the next event's link does not match (``row_deleted``); the newest rows deleted: the
  chain head, or a checkpoint, names events the table no longer has;
- rows reordered: an event links to a hash that belongs to another row (``rows_reordered``);
- a forged or re-hashed event: the Ed25519 signature does not verify with its key, or the key is not
  one the verifier trusts (``signature_invalid``);
- a checkpoint that disagrees with the events it covers, or whose own signature fails
  (``checkpoint_mismatch``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from audit.signing import endorsement_message, key_id_of, verify_signature

GENESIS_HASH = "0" * 64
ROTATION_ACTION = "audit.key.rotated"


class EventLike(Protocol):
    sequence: int
    action: str
    prev_hash: str
    hash: str
    key_id: str
    signature: str
    after: Any

    def compute_hash(self) -> str: ...

    def signed_message(self) -> bytes: ...


class CheckpointLike(Protocol):
    pk: Any
    kind: str
    day: Any
    first_sequence: int
    last_sequence: int
    head_hash: str
    count: int
    key_id: str
    signature: str

    def signed_message(self) -> bytes: ...


@dataclass(frozen=True)
class Anchor:
    """Where verification starts: after event ``sequence`` whose hash was ``hash``."""

    sequence: int = 0
    hash: str = GENESIS_HASH
    description: str = "the start of the trail"


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    broken_sequence: int | None = None
    problem: str = ""
    kind: str = ""
    first_sequence: int | None = None
    last_sequence: int | None = None
    checkpoints_checked: int = 0
    started_from: str = "the start of the trail"

    @property
    def status(self) -> str:
        return "verified" if self.ok else "broken"

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "ok": self.ok,
            "checked": self.checked,
            "brokenSequence": self.broken_sequence,
            "kind": self.kind or None,
            "problem": self.problem or None,
            "firstSequence": self.first_sequence,
            "lastSequence": self.last_sequence,
            "checkpointsChecked": self.checkpoints_checked,
            "startedFrom": self.started_from,
        }


def trusted_keys(current_key_id: str, current_public: str, rotations: Sequence[EventLike]) -> dict[str, str]:
    """Key id → public key of every key the verifier may accept.

    Trust runs backwards from the configured key: a rotation event names the old and the new key
    and carries the new key's endorsement of the old one, so a key is trusted only if a trusted
    successor vouched for it. Whoever holds a stranger's key cannot graft a history onto the chain.
    """
    trusted = {current_key_id: current_public}
    for event in sorted(rotations, key=lambda e: e.sequence, reverse=True):
        data = event.after if isinstance(event.after, dict) else {}
        old_id, old_pub = data.get("old_key_id"), data.get("old_public_key")
        new_id, new_pub = data.get("new_key_id"), data.get("new_public_key")
        if not (old_id and old_pub and new_id and new_pub) or trusted.get(new_id) != new_pub:
            continue
        if key_id_of(old_pub) != old_id or old_id in trusted:
            continue
        if verify_signature(new_pub, endorsement_message(old_id, new_id), str(data.get("endorsement", ""))):
            trusted[old_id] = old_pub
    return trusted


def checkpoint_signature_ok(checkpoint: CheckpointLike, keys: dict[str, str]) -> bool:
    public = keys.get(checkpoint.key_id)
    return public is not None and verify_signature(public, checkpoint.signed_message(), checkpoint.signature)


@dataclass
class _Walk:
    anchor: Anchor
    keys: dict[str, str]
    locate: Callable[[str], int | None] | None
    expected_prev: str = ""
    expected_seq: int = 0
    checked: int = 0
    first: int | None = None
    last: int | None = None
    active_key: str | None = None
    checkpoints_checked: int = 0
    counts: dict[Any, int] = field(default_factory=dict)

    def result(self, ok: bool, sequence: int | None = None, kind: str = "", problem: str = "") -> VerifyResult:
        return VerifyResult(
            ok=ok,
            checked=self.checked,
            broken_sequence=sequence,
            problem=problem,
            kind=kind,
            first_sequence=self.first,
            last_sequence=self.last,
            checkpoints_checked=self.checkpoints_checked,
            started_from=self.anchor.description,
        )


def _link_problem(walk: _Walk, event: EventLike) -> tuple[str, str] | None:
    if event.prev_hash == walk.expected_prev:
        return None
    if event.sequence > walk.expected_seq:
        missing = (
            f"#{walk.expected_seq}"
            if event.sequence == walk.expected_seq + 1
            else f"#{walk.expected_seq}–#{event.sequence - 1}"
        )
        return "row_deleted", f"link broken: row deleted — event {missing} is missing (a gap in the sequence)"
    elsewhere = walk.locate(event.prev_hash) if walk.locate is not None else None
    if elsewhere is not None:
        return (
            "rows_reordered",
            f"link broken: rows reordered — it links to event #{elsewhere}, not to its predecessor",
        )
    return "link_broken", "link broken: the event before it was replaced, or this event was inserted"


def _signature_problem(walk: _Walk, event: EventLike) -> str | None:
    public = walk.keys.get(event.key_id)
    if public is None:
        return f"signature invalid: signed by key '{event.key_id or 'none'}', which is not a trusted audit key"
    if not verify_signature(public, event.signed_message(), event.signature):
        return f"signature invalid: the signature does not verify with key {event.key_id}"
    if walk.active_key is not None and event.key_id != walk.active_key:
        return f"signature invalid: signed by key {event.key_id} after it was rotated out for {walk.active_key}"
    return None


def verify(
    events: Iterable[EventLike],
    *,
    keys: dict[str, str],
    anchor: Anchor = Anchor(),
    checkpoints: Sequence[CheckpointLike] = (),
    head: tuple[int, str] | None = None,
    locate: Callable[[str], int | None] | None = None,
) -> VerifyResult:
    """Walk ``events`` (ascending ``sequence``, starting right after ``anchor``) and report the
    first broken one. ``checkpoints`` whose range ends inside the walk are checked against it;
    ``head`` (last sequence, last hash), when given, must be where the walk ends; ``locate`` maps a
    hash to the sequence of the row holding it (to tell reordering from other broken links)."""
    walk = _Walk(anchor=anchor, keys=keys, locate=locate)
    walk.expected_prev, walk.expected_seq = anchor.hash, anchor.sequence + 1
    pending = sorted((c for c in checkpoints if c.last_sequence > anchor.sequence), key=lambda c: c.last_sequence)
    for checkpoint in pending:
        if not checkpoint_signature_ok(checkpoint, keys):
            return walk.result(
                False,
                checkpoint.last_sequence,
                "checkpoint_mismatch",
                f"checkpoint mismatch: the {checkpoint.kind} checkpoint of {checkpoint.day} has an invalid signature",
            )
    starts = sorted({c.first_sequence for c in pending if c.first_sequence > anchor.sequence})
    by_end: dict[int, list[CheckpointLike]] = {}
    for checkpoint in pending:
        by_end.setdefault(checkpoint.last_sequence, []).append(checkpoint)
    for event in events:
        if walk.first is None:
            walk.first = event.sequence
        link = _link_problem(walk, event)
        if link is not None:
            return walk.result(False, event.sequence, *link)
        if event.compute_hash() != event.hash:
            return walk.result(False, event.sequence, "field_changed", "hash mismatch: the event's content was altered")
        problem = _signature_problem(walk, event)
        if problem is not None:
            return walk.result(False, event.sequence, "signature_invalid", problem)
        # How many events were walked before each checkpoint's first one, to count its range.
        while starts and starts[0] <= event.sequence:
            walk.counts.setdefault(starts.pop(0), walk.checked)
        for checkpoint in by_end.get(event.sequence, ()):
            mismatch = _checkpoint_mismatch(walk, checkpoint, event)
            if mismatch:
                return walk.result(False, event.sequence, "checkpoint_mismatch", mismatch)
            walk.checkpoints_checked += 1
        walk.active_key = _next_key(event)
        walk.expected_prev, walk.expected_seq = event.hash, event.sequence + 1
        walk.last = event.sequence
        walk.checked += 1
    end = walk.expected_seq - 1
    for checkpoint in pending:
        if checkpoint.last_sequence > end:
            return walk.result(
                False,
                end + 1,
                "row_deleted",
                f"checkpoint mismatch: the {checkpoint.kind} checkpoint of {checkpoint.day} covers events up to "
                f"#{checkpoint.last_sequence}, but the trail ends at #{end} — the newest events were removed",
            )
    if head is not None and (head[0] != end or head[1] != walk.expected_prev):
        if head[0] > end:
            return walk.result(
                False,
                end + 1,
                "row_deleted",
                f"row deleted: the chain head is at #{head[0]} but the trail ends at #{end} — "
                "the newest events were removed",
            )
        return walk.result(False, head[0], "link_broken", "link broken: the chain head does not match the last event")
    return walk.result(True)


def _checkpoint_mismatch(walk: _Walk, checkpoint: CheckpointLike, event: EventLike) -> str:
    if checkpoint.head_hash != event.hash:
        return (
            f"checkpoint mismatch: the {checkpoint.kind} checkpoint of {checkpoint.day} signed hash "
            f"{checkpoint.head_hash[:12]}… for event #{event.sequence}, the trail has {event.hash[:12]}…"
        )
    if checkpoint.first_sequence > walk.anchor.sequence:
        seen = walk.checked + 1 - walk.counts.get(checkpoint.first_sequence, walk.checked + 1)
        if seen != checkpoint.count:
            return (
                f"checkpoint mismatch: the {checkpoint.kind} checkpoint of {checkpoint.day} counted "
                f"{checkpoint.count} events in #{checkpoint.first_sequence}–#{checkpoint.last_sequence}, "
                f"the trail has {seen}"
            )
    return ""


def _next_key(event: EventLike) -> str:
    """After a rotation event, only the new key may sign."""
    if event.action == ROTATION_ACTION and isinstance(event.after, dict) and event.after.get("new_key_id"):
        return str(event.after["new_key_id"])
    return event.key_id
