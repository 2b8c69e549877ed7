"""Domain errors raised by actions and translated by each interface (GraphQL, views, CLI).

Each carries a stable ``code`` that clients switch on, a plain message, and optionally the input
``field`` it concerns. Messages never contain secrets.
"""

from __future__ import annotations

import contextvars

# The refusals raised during the current call (a mutation, a form post), collected by
# ``audit.denials.attempt`` so the call's boundary can record one ``denied`` event.
_refusals: contextvars.ContextVar[list[DomainError] | None] = contextvars.ContextVar("msx_refusals", default=None)


class DomainError(Exception):
    code = "INVALID"
    #: A refusal: the caller may not do this, or may not see the object. The interface that turns
    #: it into a response records a ``denied`` audit event (``audit.denials``).
    denied = False

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None, team=None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # The team the refused call concerned, when known (for the denied event).
        self.team = team
        if code:
            self.code = code
        if self.denied:
            # Noted when made: refusals are made only to be raised, and the interfaces catch them
            # far from the call's boundary (a payload's errors, a rendered form).
            collected = _refusals.get()
            if collected is not None:
                collected.append(self)


class InvalidInput(DomainError):
    code = "INVALID"


class NotFound(DomainError):
    """Something named in the input does not exist (see ``NotVisible`` for objects the caller may not see)."""

    code = "NOT_FOUND"


class NotVisible(NotFound):
    """The object is absent or the caller may not see it: NOT_FOUND either way, so existence is not
    leaked, and audited as a refusal."""

    denied = True


class PermissionDenied(DomainError):
    code = "PERMISSION_DENIED"
    denied = True


class Conflict(DomainError):
    code = "CONFLICT"
