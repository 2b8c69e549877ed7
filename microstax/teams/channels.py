"""WebSocket authentication: ``Authorization: Bearer msx_…`` on the upgrade request, as over HTTP.
Without one, the session (AuthMiddlewareStack) decides."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware

from microstax.teams import throttle
from microstax.teams.actions import authenticate_token


@database_sync_to_async
def _token_user(secret: str, address: str | None):
    # Throttled per client address like HTTP token authentication (ApiTokenMiddleware).
    limit = throttle.address_limit(address)
    if throttle.retry_after(limit):
        return None, None
    token = authenticate_token(secret)
    if token is None:
        throttle.record_failure(limit)
    return (token.user, token.name) if token is not None else (None, None)


class TokenAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers") or [])
        header = headers.get(b"authorization", b"").decode("latin-1")
        if header[:7].lower() == "bearer ":
            client = scope.get("client") or (None, None)
            user, token_name = await _token_user(header[7:].strip(), client[0])
            if user is None:
                # Refuse the socket outright: a bad token is never downgraded to anonymous.
                await send({"type": "websocket.close", "code": 4401})
                return None
            scope = {**scope, "user": user, "token_name": token_name}
        return await super().__call__(scope, receive, send)
