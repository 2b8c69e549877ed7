"""GraphQL error conventions.

Mutations return a payload with ``errors: [XError!]!`` whose ``code`` comes from a per-app enum;
clients switch on the code, never on the message. Query-level failures (not signed in, bad
arguments) are GraphQL errors with ``extensions.code``.
"""

from __future__ import annotations

from graphql import GraphQLError


def bad_input(message: str, *, field: str | None = None) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT", "field": field})


def unauthenticated() -> GraphQLError:
    return GraphQLError(
        "authentication required: sign in or send 'Authorization: Bearer msx_…'", extensions={"code": "UNAUTHENTICATED"}
    )
