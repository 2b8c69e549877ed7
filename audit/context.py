"""Who is asking and from where, for the duration of one request or one background task.

A context variable rather than a thread-local: it follows the request through async code, and
background tasks restore it from the values their request saved so their events keep the
attribution (request id, token name) of the call that started them.
"""

from __future__ import annotations

import contextvars
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    ip: str | None = None
    user_agent: str = ""
    token_name: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("msx_request", default=None)


def new_request_id() -> str:
    return "req_" + secrets.token_hex(10)


def current() -> RequestContext:
    ctx = _current.get()
    return ctx if ctx is not None else RequestContext(request_id=new_request_id())


def set_current(ctx: RequestContext) -> contextvars.Token:
    return _current.set(ctx)


def reset(token: contextvars.Token) -> None:
    _current.reset(token)


def update(**changes) -> None:
    """Amend the current context (e.g. the token name once authentication has run)."""
    _current.set(replace(current(), **changes))


@contextmanager
def bound(ctx: RequestContext | dict) -> Iterator[RequestContext]:
    """Run a block (a background task) under a saved request context."""
    if isinstance(ctx, dict):
        ctx = RequestContext(**ctx)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
