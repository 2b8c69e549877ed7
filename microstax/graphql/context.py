"""Helpers to read the caller from a strawberry ``Info``, over HTTP (a Django request) or WebSocket
(a channels consumer whose scope carries the user)."""

from __future__ import annotations

from strawberry.types import Info

from microstax.graphql.errors import unauthenticated


def user_of(info: Info):
    context = info.context
    if isinstance(context, dict):  # channels: {"request": consumer, "ws": consumer}
        return context["request"].scope.get("user")
    return getattr(context.request, "user", None)


def current_user(info: Info):
    """The authenticated, active user, or raise UNAUTHENTICATED."""
    user = user_of(info)
    if user is None or not user.is_authenticated or not user.is_active:
        raise unauthenticated()
    return user
