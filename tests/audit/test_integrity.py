"""Every kind of tampering with the stored trail is detected and located; checkpoints and key rotation
keep the chain verifiable. Tampering is done with raw SQL, because the ORM refuses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule

from audit import signing
from audit.actions import (
    checkpoint_missing_days,
    create_checkpoint,
    record,
    rotate_signing_key,
    verify_chain,
    verify_event,
)
from audit.integrity import Anchor, verify
from audit.models import AuditCheckpoint, AuditEvent
from audit.tasks import CHECKPOINT_SCHEDULE_NAME, daily_checkpoint, ensure_checkpoint_schedule
from microstax.lib.errors import NotFound
from tests.audit.tampering import backdate, raw, rechain


@pytest.fixture
def trail(db, own_key, owner):
    """Six events, in a chain whose later events build on the earlier ones' hashes."""
    return [record(action=f"test.{i}", actor=owner, target_type="thing", target_id=f"t{i}") for i in range(6)]


def test_events_are_numbered_without_gaps_and_signed_with_a_named_key(trail):
    assert [e.sequence for e in trail] == list(range(trail[0].sequence, trail[0].sequence + 6))
    key = signing.current_key()
    assert {e.key_id for e in trail} == {key.key_id}
    assert len(trail[0].signature) == 128  # Ed25519, hex
    result = verify_chain()
    assert (result.ok, result.checked, result.status) == (True, 6, "verified")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor_name", "mallory"),
        ("action", "test.harmless"),
        ("outcome", "denied"),
        ("team_slug", "other"),
        ("reason", "nothing to see"),
        ("after", '{"n": 1}'),
        ("ip", "10.9.9.9"),
        ("token_name", "stolen"),
        ("request_id", "req_x"),
    ],
)
def test_changing_any_stored_field_is_found_at_that_event(trail, column, value):
    raw(f"UPDATE audit_auditevent SET {column} = %s WHERE sequence = %s", [value, trail[2].pk])
    result = verify_chain()
    assert (result.ok, result.broken_sequence, result.kind) == (False, trail[2].pk, "field_changed")
    assert "altered" in result.problem and result.checked == 2


def test_changing_the_time_of_an_event_is_found(trail):
    raw(
        "UPDATE audit_auditevent SET created_at = %s WHERE sequence = %s",
        [trail[3].created_at - timedelta(hours=1), trail[3].pk],
    )
    assert (verify_chain().broken_sequence, verify_chain().kind) == (trail[3].pk, "field_changed")


def test_deleting_a_row_is_reported_as_a_gap_at_the_next_event(trail):
    raw("DELETE FROM audit_auditevent WHERE sequence = %s", [trail[2].pk])
    result = verify_chain()
    assert (result.ok, result.broken_sequence, result.kind) == (False, trail[3].pk, "row_deleted")
    assert f"#{trail[2].pk} is missing" in result.problem


def test_deleting_several_rows_names_the_range(trail):
    raw("DELETE FROM audit_auditevent WHERE sequence IN (%s, %s)", [trail[1].pk, trail[2].pk])
    result = verify_chain()
    assert result.kind == "row_deleted" and f"#{trail[1].pk}–#{trail[2].pk}" in result.problem


def test_deleting_the_newest_rows_is_found_from_the_chain_head(trail):
    raw("DELETE FROM audit_auditevent WHERE sequence >= %s", [trail[4].pk])
    result = verify_chain()
    assert (result.ok, result.kind, result.broken_sequence) == (False, "row_deleted", trail[4].pk)
    assert "newest events were removed" in result.problem


def test_reordering_rows_is_named_as_such(trail):
    # Swap two whole rows: each keeps its own (valid) hash and signature, only their places change.
    a, b = trail[1], trail[2]
    columns = "created_at, action, target_id, prev_hash, hash, signature"
    rows = {}
    with connection.cursor() as cursor:
        for event in (a, b):
            cursor.execute(f"SELECT {columns} FROM audit_auditevent WHERE sequence = %s", [event.pk])
            rows[event.pk] = cursor.fetchone()
    raw("UPDATE audit_auditevent SET hash = %s WHERE sequence = %s", ["x" * 64, a.pk])  # free the unique hash
    for dst, src in ((b.pk, a.pk), (a.pk, b.pk)):
        raw(
            "UPDATE audit_auditevent SET created_at=%s, action=%s, target_id=%s, prev_hash=%s, hash=%s, signature=%s "
            "WHERE sequence=%s",
            [*rows[src], dst],
        )
    result = verify_chain()
    assert (result.ok, result.broken_sequence, result.kind) == (False, a.pk, "rows_reordered")
    assert f"links to event #{b.pk}" in result.problem


def test_an_event_rehashed_after_editing_fails_its_signature(trail):
    forged = AuditEvent.objects.get(pk=trail[5].pk)
    forged.target_id = "forged"
    new_hash = forged.compute_hash()
    raw("UPDATE audit_auditevent SET target_id=%s, hash=%s WHERE sequence=%s", ["forged", new_hash, forged.pk])
    raw("UPDATE audit_auditchainhead SET last_hash=%s", [new_hash])
    result = verify_chain()
    assert (result.ok, result.kind, result.broken_sequence) == (False, "signature_invalid", forged.pk)


def test_an_event_signed_by_a_strangers_key_is_not_trusted(trail):
    stranger = signing.new_key()
    forged = AuditEvent.objects.get(pk=trail[5].pk)
    raw(
        "UPDATE audit_auditevent SET key_id=%s, signature=%s WHERE sequence=%s",
        [stranger.key_id, stranger.sign(forged.signed_message()), forged.pk],
    )
    result = verify_chain()
    assert result.kind == "signature_invalid" and "not a trusted audit key" in result.problem


def test_a_daily_checkpoint_pins_the_days_end_and_a_changed_checkpoint_is_found(trail):
    checkpoint = create_checkpoint(day=timezone.now().date())
    assert (checkpoint.first_sequence, checkpoint.last_sequence, checkpoint.count) == (
        trail[0].pk,
        trail[-1].pk,
        6,
    )
    assert create_checkpoint(day=timezone.now().date()) == checkpoint  # idempotent
    assert verify_chain().checkpoints_checked == 1
    raw("UPDATE audit_auditcheckpoint SET count = %s WHERE id = %s", [5, checkpoint.pk])
    result = verify_chain()
    assert (result.ok, result.kind) == (False, "checkpoint_mismatch")


def test_a_checkpoint_that_disagrees_with_the_trail_is_a_mismatch(trail):
    checkpoint = create_checkpoint(day=timezone.now().date())
    # A forged checkpoint, correctly signed, over a different count: the trail contradicts it.
    raw("DELETE FROM audit_auditcheckpoint WHERE id = %s", [checkpoint.pk])
    forged = AuditCheckpoint(
        day=checkpoint.day,
        first_sequence=checkpoint.first_sequence,
        last_sequence=checkpoint.last_sequence,
        head_hash=checkpoint.head_hash,
        count=7,
        created_at=timezone.now(),
        key_id=signing.current_key().key_id,
    )
    forged.signature = signing.current_key().sign(forged.signed_message())
    forged.save()
    result = verify_chain()
    assert (result.kind, result.broken_sequence) == ("checkpoint_mismatch", trail[-1].pk)
    assert "counted 7 events" in result.problem


def test_since_starts_from_the_last_checkpoint_before_that_day(trail):
    for event in trail[:3]:
        backdate(event.pk, 2)
    rechain()
    checkpoint_missing_days()
    yesterday = timezone.now().date() - timedelta(days=1)
    result = verify_chain(since=yesterday)
    assert result.ok and result.checked == 3 and "checkpoint" in result.started_from
    assert verify_chain().checked == 6


def test_verify_one_event(trail):
    assert verify_event(trail[3].pk).ok
    with pytest.raises(NotFound):
        verify_event(10_000)
    raw("DELETE FROM audit_auditevent WHERE sequence=%s", [trail[4].pk])
    assert verify_event(trail[4].pk).kind == "row_deleted"
    raw("UPDATE audit_auditevent SET target_id=%s WHERE sequence=%s", ["x", trail[1].pk])
    result = verify_event(trail[3].pk)
    assert (result.ok, result.broken_sequence) == (False, trail[1].pk)


def test_key_rotation_is_recorded_in_the_chain_and_both_keys_verify(trail, own_key):
    old = signing.current_key()
    rotation = rotate_signing_key()
    new = signing.current_key()
    assert new.key_id != old.key_id and rotation.key_id == old.key_id
    assert rotation.action == "audit.key.rotated"
    assert (rotation.after["old_key_id"], rotation.after["new_key_id"]) == (old.key_id, new.key_id)
    assert rotation.after["new_public_key"] == new.public_b64
    after = record(action="test.after-rotation")
    assert after.key_id == new.key_id
    assert verify_chain().ok and verify_chain().checked == 8


def test_a_retired_key_cannot_sign_after_the_rotation(trail):
    old = signing.current_key()
    rotate_signing_key()
    late = record(action="test.late")
    raw(
        "UPDATE audit_auditevent SET key_id=%s, signature=%s WHERE sequence=%s",
        [old.key_id, old.sign(late.signed_message()), late.pk],
    )
    result = verify_chain()
    assert result.kind == "signature_invalid" and "rotated out" in result.problem


def test_a_history_forged_under_another_key_is_not_endorsed_by_the_current_key(trail, own_key):
    # An attacker rewrites every event with their own key and appends a rotation to the real key:
    # without the real key's endorsement of theirs, the history is not trusted.
    attacker = signing.new_key()
    raw("UPDATE audit_auditevent SET key_id=%s", [attacker.key_id])
    for event in AuditEvent.objects.all():
        raw(
            "UPDATE audit_auditevent SET signature=%s WHERE sequence=%s",
            [attacker.sign(event.signed_message()), event.pk],
        )
    result = verify_chain()
    assert (result.ok, result.kind, result.broken_sequence) == (False, "signature_invalid", trail[0].pk)


def test_rotate_command_and_verify_command(trail, capsys):
    call_command("audit_rotate_key")
    assert "signing key rotated" in capsys.readouterr().out
    call_command("audit_verify")
    assert "7 events" in capsys.readouterr().out
    raw("UPDATE audit_auditevent SET reason=%s WHERE sequence=%s", ["x", trail[4].pk])
    with pytest.raises(CommandError, match=f"BROKEN at event #{trail[4].pk}: hash mismatch"):
        call_command("audit_verify")


def test_the_pure_verifier_needs_no_database():
    class E:
        def __init__(self, sequence, prev, key):
            self.sequence, self.action, self.prev_hash, self.after = sequence, "x", prev, None
            self.hash = self.compute_hash()
            self.key_id, self.signature = key.key_id, key.sign(self.signed_message())

        def compute_hash(self):
            return f"{self.sequence:064d}"

        def signed_message(self):
            return self.hash.encode()

    key = signing.new_key()
    first = E(1, "0" * 64, key)
    second = E(2, first.hash, key)
    assert verify([first, second], keys={key.key_id: key.public_b64}).ok
    assert verify([second], keys={key.key_id: key.public_b64}, anchor=Anchor()).kind == "row_deleted"


def test_the_checkpoint_schedule_is_installed_once_and_runs(trail, capsys):
    call_command("audit_checkpoint", "--install-schedule")
    call_command("audit_checkpoint", "--install-schedule")
    assert capsys.readouterr().out.splitlines() == [
        f"schedule '{CHECKPOINT_SCHEDULE_NAME}' created",
        f"schedule '{CHECKPOINT_SCHEDULE_NAME}' already installed",
    ]
    schedule = Schedule.objects.get(name=CHECKPOINT_SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type) == ("audit.tasks.daily_checkpoint", Schedule.DAILY)
    Schedule.objects.create(name=CHECKPOINT_SCHEDULE_NAME, func="audit.tasks.daily_checkpoint")
    ensure_checkpoint_schedule()
    assert Schedule.objects.filter(name=CHECKPOINT_SCHEDULE_NAME).count() == 1
    # Today is not finished, so nothing is checkpointed yet; two days back it is.
    assert daily_checkpoint() == 0
    for event in trail:
        backdate(event.pk, 2)
    rechain()
    assert daily_checkpoint() == 2  # the day of the events and yesterday (empty)
    assert verify_chain().ok and verify_chain().checkpoints_checked == 2
