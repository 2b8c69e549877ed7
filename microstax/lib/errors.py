"""Domain errors raised by actions and translated by each interface (GraphQL, views, CLI).

Each carries a stable ``code`` that clients switch on, a plain message, and optionally the input
``field`` it concerns. Messages never contain secrets.
"""

from __future__ import annotations


class DomainError(Exception):
    code = "INVALID"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class InvalidInput(DomainError):
    code = "INVALID"


class NotFound(DomainError):
    """Also raised when the caller may not see the object, so existence is not leaked."""

    code = "NOT_FOUND"


class PermissionDenied(DomainError):
    code = "PERMISSION_DENIED"


class Conflict(DomainError):
    code = "CONFLICT"
