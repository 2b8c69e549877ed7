"""Helpers to read the caller from a strawberry ``Info``."""

from __future__ import annotations

from strawberry.types import Info

from microstax.graphql.errors import unauthenticated


def current_user(info: Info):
    """The authenticated, active user, or raise UNAUTHENTICATED."""
    user = getattr(info.context.request, "user", None)
    if user is None or not user.is_authenticated or not user.is_active:
        raise unauthenticated()
    return user
