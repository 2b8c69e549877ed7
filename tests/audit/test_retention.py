"""Retention: export-then-prune keeps what remains verifiable from a signed checkpoint."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from audit.actions import record, verify_chain
from audit.models import AuditCheckpoint, AuditEvent
from tests.audit.tampering import backdate, raw, rechain


@pytest.fixture
def old_and_new(db, own_key, owner):
    """Four events from ten days ago, then three from today."""
    events = [record(action=f"test.{i}", actor=owner, target_id=f"t{i}") for i in range(7)]
    for event in events[:4]:
        backdate(event.pk, 10)
    rechain()
    return events


def _prune(tmp_path, before=None):
    target = tmp_path / "pruned.jsonl"
    before = before or (timezone.now().date() - timedelta(days=1)).isoformat()
    call_command("audit_prune", "--before", before, "--export", str(target))
    return target


def test_prune_exports_the_prefix_then_deletes_it_and_the_rest_still_verifies(old_and_new, tmp_path, capsys):
    target = _prune(tmp_path)
    assert "pruned 4 events" in capsys.readouterr().out
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line["sequence"] for line in lines] == [e.pk for e in old_and_new[:4]]
    assert {"hash", "prev_hash", "signature", "key_id", "actor_name"} <= set(lines[0])
    assert not AuditEvent.objects.filter(pk__lte=old_and_new[3].pk).exists()
    checkpoint = AuditCheckpoint.objects.get(kind="prune")
    assert (checkpoint.last_sequence, checkpoint.head_hash, checkpoint.count) == (
        old_and_new[3].pk,
        lines[-1]["hash"],
        4,
    )
    # the prune itself is in the chain
    prune_event = AuditEvent.objects.get(action="audit.prune")
    assert prune_event.after["count"] == 4 and prune_event.after["export"] == "pruned.jsonl"
    result = verify_chain()
    assert result.ok and result.checked == 4 and "prune" in result.started_from  # 3 left + the prune event
    call_command("audit_verify")


def test_after_a_prune_tampering_with_the_checkpoint_is_found(old_and_new, tmp_path):
    _prune(tmp_path)
    raw("UPDATE audit_auditcheckpoint SET head_hash=%s WHERE kind='prune'", ["f" * 64])
    result = verify_chain()
    assert (result.ok, result.kind) == (False, "checkpoint_mismatch")


def test_deleting_the_prune_checkpoint_leaves_the_remaining_chain_unanchored(old_and_new, tmp_path):
    _prune(tmp_path)
    raw("DELETE FROM audit_auditcheckpoint WHERE kind='prune'", [])
    result = verify_chain()
    assert (result.ok, result.kind, result.broken_sequence) == (False, "row_deleted", old_and_new[4].pk)


def test_prune_refuses_a_broken_trail(old_and_new, tmp_path):
    raw("UPDATE audit_auditevent SET action=%s WHERE sequence=%s", ["x", old_and_new[1].pk])
    with pytest.raises(CommandError, match="refusing to prune"):
        _prune(tmp_path)
    assert AuditEvent.objects.count() == 7 and not (tmp_path / "pruned.jsonl").exists()


def test_prune_never_overwrites_an_export(old_and_new, tmp_path):
    (tmp_path / "pruned.jsonl").write_text("")
    with pytest.raises(CommandError, match="exists"):
        _prune(tmp_path)


def test_nothing_to_prune(db, own_key, tmp_path, capsys):
    _prune(tmp_path, before="2000-01-01")
    assert "nothing to prune" in capsys.readouterr().out


def test_the_orm_still_refuses_to_delete_checkpoints(old_and_new, tmp_path):
    from audit.models import AppendOnlyError

    _prune(tmp_path)
    with pytest.raises(AppendOnlyError):
        AuditCheckpoint.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM audit_auditcheckpoint")
        assert cursor.fetchone()[0] == 1
