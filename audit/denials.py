"""Denied attempts: a refused call writes one ``denied`` event, recorded where the call leaves the system.

The actions refuse by raising a refusal (``PermissionDenied``, or ``NotVisible`` for an object the
caller may not see, see ``microstax.lib.errors``); the interfaces turn it into a payload error or a
rendered form. Neither is the place to audit it: the action's transaction is rolled back, and the
interfaces are many. Instead each boundary — a GraphQL mutation (``microstax.graphql.auditing``), a
dashboard form post (``audit.middleware.DeniedFormMiddleware``) — runs the call inside ``attempt``,
which collects the refusals raised meanwhile and, once the call has unwound, records one event:
outcome ``denied``, the attempted action, the actor, team and target when known, and the reason.
Never the payload: no before/after and no input values.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from audit.choices import Outcome
from microstax.lib import errors


@dataclass
class Attempt:
    """One call at a boundary: what it tried, and what happened during it, in order."""

    action: str
    actor: Any = None
    target_type: str = ""
    target_id: str = ""
    team: Any = None
    # Refusals raised (DomainError) and events recorded (None), in the order they happened.
    trail: list = field(default_factory=list)
    # Set by a boundary that refused without a DomainError (a dashboard 404 for an invisible object).
    refused: str = ""

    @property
    def refusal(self) -> errors.DomainError | None:
        """The refusal that ended the call: the last thing that happened, with no event after it."""
        if self.trail and isinstance(self.trail[-1], errors.DomainError):
            return self.trail[-1]
        return None


_current: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar("msx_attempt", default=None)


def note_recorded() -> None:
    """Called by ``audit.actions.record``: the call wrote its own event (so it was not refused)."""
    scope = _current.get()
    if scope is not None:
        scope.trail.append(None)


def current() -> Attempt | None:
    return _current.get()


@contextmanager
def attempt(action: str, *, actor=None, target_type: str = "", target_id: str = "", team=None) -> Iterator[Attempt]:
    """Run one call; if it ended refused, record its ``denied`` event once the call has unwound.

    The boundary may clear ``scope.trail`` (the call succeeded after all) or set ``scope.refused``.
    Nested attempts (a form post whose view calls another boundary) leave the recording to the inner one.
    """
    scope = Attempt(action=action, actor=actor, target_type=target_type, target_id=str(target_id or "")[:80], team=team)
    token = _current.set(scope)
    refusals = errors._refusals.set(scope.trail)
    try:
        yield scope
    finally:
        errors._refusals.reset(refusals)
        _current.reset(token)
        outer = _current.get()
        if outer is not None:
            outer.trail.extend(scope.trail)
        _finish(scope)


def _finish(scope: Attempt) -> None:
    refusal = scope.refusal
    if refusal is None and not scope.refused:
        return
    # Recorded after the refused action's transaction unwound, so its rollback cannot take the event
    # along; inside a broken outer transaction nothing can be written, and nothing is.
    if transaction.get_connection().needs_rollback:
        return
    from audit.actions import record

    reason = f"{refusal.code}: {refusal.message}" if refusal is not None else scope.refused
    team = getattr(refusal, "team", None) or scope.team
    record(
        action=scope.action,
        actor=scope.actor,
        team=team,
        target_type=scope.target_type,
        target_id=scope.target_id,
        outcome=Outcome.DENIED,
        reason=reason,
    )
