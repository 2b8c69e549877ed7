"""The denied-event recorder (audit.denials): one event per refused call, written after the refused
transaction unwound, and none for a call that recovered from a refusal or failed for another reason."""

from __future__ import annotations

import pytest
from django.db import transaction

from audit import denials
from audit.actions import record
from audit.models import AuditEvent
from microstax.lib.errors import Conflict, NotVisible, PermissionDenied
from microstax.teams.models import Team


def test_the_denied_event_survives_the_rollback_of_the_refused_transaction(team, viewer):
    # when: a refusal inside an atomic block that already wrote a row
    with denials.attempt("team.rename", actor=viewer, target_type="team", target_id=team.public_id):
        with pytest.raises(PermissionDenied), transaction.atomic():
            Team.objects.filter(pk=team.pk).update(name="Half-renamed")
            raise PermissionDenied("your role does not allow renaming", team=team)
    # then: the row is back, and one denied event says who tried what, and why
    team.refresh_from_db()
    assert team.name == "Payments"
    event = AuditEvent.objects.latest("sequence")
    assert (event.action, event.outcome, event.actor_id, event.team_id) == ("team.rename", "denied", viewer.pk, team.pk)
    assert (event.target_type, event.target_id) == ("team", team.public_id)
    assert event.reason == "PERMISSION_DENIED: your role does not allow renaming"
    assert event.before is None and event.after is None


def test_a_call_that_recovered_from_a_refusal_records_no_denied_event(team, owner):
    with denials.attempt("team.rename", actor=owner):
        try:
            raise NotVisible("team not found")
        except NotVisible:
            pass
        record(action="team.rename", actor=owner, team=team)
    assert not AuditEvent.objects.filter(outcome="denied").exists()


def test_other_failures_are_not_refusals(owner):
    before = AuditEvent.objects.count()
    with denials.attempt("environment.resume", actor=owner):
        Conflict("environment is ready")
    assert AuditEvent.objects.count() == before


def test_nested_attempts_record_once(team, viewer):
    with denials.attempt("outer", actor=viewer):
        with denials.attempt("inner", actor=viewer):
            PermissionDenied("no", team=team)
    assert list(AuditEvent.objects.filter(outcome="denied").values_list("action", flat=True)) == ["inner"]


def test_refusals_outside_an_attempt_are_not_recorded(team, viewer):
    PermissionDenied("no", team=team)  # a query's refusal, or an action called directly
    assert not AuditEvent.objects.filter(outcome="denied").exists()
