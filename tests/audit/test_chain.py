"""The audit trail is append-only, chained and signed; any tampering is found and named."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit import context
from audit.actions import record, verify_chain
from audit.models import AppendOnlyError, AuditEvent
from audit.redaction import REDACTED, redact


@pytest.fixture
def three_events(db, owner):
    return [
        record(
            action=f"test.{i}",
            actor=owner,
            target_type="thing",
            target_id=f"t{i}",
            after={"n": i, "password": "hunter2"},
        )
        for i in range(3)
    ]


def _raw(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_events_link_to_their_predecessor_and_verify(three_events):
    first, second, third = three_events
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert verify_chain().ok and verify_chain().checked == 3


def test_secret_looking_values_are_redacted_before_writing(three_events):
    assert AuditEvent.objects.get(pk=three_events[0].pk).after == {"n": 0, "password": REDACTED}


def test_redaction_covers_keys_and_token_shaped_values():
    data = {
        "db_password": "x",
        "accessToken": "y",
        "token_name": "laptop",
        "author": "ann",
        "note": "here is msx_abcdefghijklmnop",
        "nested": [{"kubeconfig": "apiVersion: v1"}],
    }
    assert redact(data) == {
        "db_password": REDACTED,
        "accessToken": REDACTED,
        "token_name": "laptop",
        "author": "ann",
        "note": REDACTED,
        "nested": [{"kubeconfig": REDACTED}],
    }


def test_the_orm_refuses_to_change_or_delete_events(three_events):
    event = three_events[0]
    event.action = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


def test_altering_a_stored_field_is_detected_at_that_event(three_events):
    _raw("UPDATE audit_auditevent SET target_id = %s WHERE sequence = %s", ["forged", three_events[1].pk])
    result = verify_chain()
    assert not result.ok
    assert result.broken_sequence == three_events[1].pk
    assert "altered" in result.problem


def test_deleting_a_row_is_detected_at_the_next_event(three_events):
    _raw("DELETE FROM audit_auditevent WHERE sequence = %s", [three_events[1].pk])
    result = verify_chain()
    assert (result.ok, result.broken_sequence) == (False, three_events[2].pk)
    assert "link broken" in result.problem


def test_deleting_the_newest_event_is_detected(three_events):
    _raw("DELETE FROM audit_auditevent WHERE sequence = %s", [three_events[2].pk])
    assert not verify_chain().ok


def test_reordering_rows_is_detected(three_events):
    a, b = three_events[0], three_events[1]
    # Swap the content of two rows (keeping each row's own hash columns consistent with its content).
    for src, dst in ((a, b), (b, a)):
        _raw(
            "UPDATE audit_auditevent SET action=%s, target_id=%s, prev_hash=%s, hash=%s, signature=%s "
            "WHERE sequence=%s",
            [src.action, src.target_id, src.prev_hash, "tmp" + str(dst.pk), src.signature, dst.pk],
        )
    _raw("UPDATE audit_auditevent SET hash=%s WHERE sequence=%s", [a.hash, b.pk])
    _raw("UPDATE audit_auditevent SET hash=%s WHERE sequence=%s", [b.hash, a.pk])
    result = verify_chain()
    assert (result.ok, result.broken_sequence) == (False, a.pk)


def test_a_forged_event_with_a_correct_hash_fails_the_signature(three_events):
    forged = AuditEvent.objects.get(pk=three_events[2].pk)
    forged.target_id = "forged"
    new_hash = forged.compute_hash()
    _raw("UPDATE audit_auditevent SET target_id=%s, hash=%s WHERE sequence=%s", ["forged", new_hash, forged.pk])
    _raw("UPDATE audit_auditchainhead SET last_hash=%s", [new_hash])
    result = verify_chain()
    assert not result.ok and "signature" in result.problem


def test_audit_verify_command_exits_non_zero_naming_the_event(three_events, capsys):
    call_command("audit_verify")
    assert "3 events" in capsys.readouterr().out
    _raw("UPDATE audit_auditevent SET actor_name=%s WHERE sequence=%s", ["mallory", three_events[0].pk])
    with pytest.raises(CommandError, match=f"#{three_events[0].pk}"):
        call_command("audit_verify")


def test_events_carry_the_request_context(db, owner):
    with context.bound({"request_id": "req_abc", "ip": "10.1.2.3", "user_agent": "cli/1", "token_name": "ci"}):
        event = record(action="test.ctx", actor=owner)
    assert (event.request_id, event.ip, event.user_agent) == ("req_abc", "10.1.2.3", "cli/1")
    assert (event.actor_kind, event.token_name) == ("token", "ci")


def test_request_ids_flow_from_the_http_request_into_events(gql, owner):
    from django.test import Client

    client = Client()
    client.force_login(owner)
    response = client.post(
        "/graphql",
        data='{"query": "mutation { createTeam(input: {slug: \\"x1\\", name: \\"X\\"}) { errors { code } } }"}',
        content_type="application/json",
        HTTP_X_REQUEST_ID="req-from-lb-1",
    )
    assert response["X-Request-ID"] == "req-from-lb-1"
    assert AuditEvent.objects.get(action="team.create").request_id == "req-from-lb-1"
