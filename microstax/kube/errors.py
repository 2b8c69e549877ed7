"""Our own error types for everything the Kubernetes API (or the network) can throw at us.

Callers switch on the class or on ``retryable``, never on the client library's exceptions: only
this package imports ``kubernetes``. The split follows STYLE rule 4: retryable are 429 (honouring
Retry-After), 5xx, timeouts, connection resets and optimistic-concurrency 409s; terminal are the
other 4xx, including apply conflicts with another field manager (retrying cannot resolve those).
"""

from __future__ import annotations

import email.utils
import json
import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

T = TypeVar("T")


@dataclass(frozen=True)
class Cause:
    """One entry of a Status's ``details.causes``: which field, why."""

    reason: str
    message: str
    field: str = ""


class KubeError(Exception):
    """Base of every error this package raises about a cluster call."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str = "",
        retry_after: float | None = None,
        causes: tuple[Cause, ...] = (),
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.retry_after = retry_after
        self.causes = causes
        self.details = dict(details or {})

    def __str__(self) -> str:
        head = f"{self.status} {self.reason}: " if self.status else (f"{self.reason}: " if self.reason else "")
        return head + self.message


class Retryable(KubeError):
    """Trying again later may succeed: throttling, server trouble, network trouble, stale writes."""

    retryable = True


class Terminal(KubeError):
    """Trying again will fail the same way until someone changes the request or the cluster."""

    retryable = False


class TooManyRequests(Retryable):
    """429: the apiserver's priority-and-fairness filter shed this call; see ``retry_after``."""


class ServerError(Retryable):
    """5xx: the apiserver (or something in front of it) failed."""


class ConnectionFailed(Retryable):
    """No HTTP answer: refused, reset, timed out or cut mid-stream."""


class Conflict(Retryable):
    """409 on an update with a stale resourceVersion: re-read and write again."""


class Expired(Retryable):
    """410: a watch or list continuation is older than the server's history; re-list."""


class BadRequest(Terminal):
    """400: the request itself is malformed."""


class Unauthorized(Terminal):
    """401: the cluster credentials are missing, wrong or expired."""


class Forbidden(Terminal):
    """403: RBAC (or admission) refuses the call."""


class NamespaceTerminating(Forbidden):
    """403 creating content in a namespace that is being deleted; wait for it to be gone."""


class NotFound(Terminal):
    """404: the object, its namespace, or the resource type does not exist."""


class AlreadyExists(Terminal):
    """409 AlreadyExists on create."""


class PreconditionFailed(Terminal):
    """409 because a delete/update precondition (UID, resourceVersion) no longer holds."""


class FieldConflict(Terminal):
    """409 from server-side apply: fields owned by another manager would change (``force=False``)."""

    @property
    def conflicts(self) -> list[str]:
        """The conflicting field paths, e.g. ``['.spec.replicas']``."""
        return [cause.field for cause in self.causes]


class Invalid(Terminal):
    """422: the object fails validation; ``causes`` says which fields and why."""


class UnknownKind(Terminal):
    """The cluster does not serve this apiVersion/kind (a CRD not installed, a typo)."""


class NotManaged(Terminal):
    """MicroStax refuses to touch an object it did not create (missing managed-by label)."""


_BY_STATUS: dict[int, type[KubeError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    410: Expired,
    422: Invalid,
    429: TooManyRequests,
}


def error_from_response(status: int, body: bytes | str | None, headers: Mapping[str, str] | None) -> KubeError:
    """Build the right ``KubeError`` from an HTTP status and its (usually ``Status``) body."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    try:
        doc = json.loads(text) if text else {}
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    reason = doc.get("reason") or ""
    message = doc.get("message") or text.strip() or f"HTTP {status}"
    details = doc.get("details") or {}
    causes = tuple(
        Cause(c.get("reason") or c.get("type") or "", c.get("message") or "", c.get("field") or "")
        for c in details.get("causes") or []
        if isinstance(c, Mapping)
    )
    retry_after = _retry_after(headers, details)
    cls: type[KubeError]
    if status == 409:
        if any(c.reason == "FieldManagerConflict" for c in causes) or message.startswith("Apply failed"):
            cls = FieldConflict
        elif "precondition failed" in message.lower():
            cls = PreconditionFailed
        elif reason == "AlreadyExists":
            # Re-creating a name whose previous object is still being deleted resolves by itself.
            cls = Conflict if "being deleted" in message else AlreadyExists
        else:
            cls = Conflict
    elif status == 403 and any(c.reason == "NamespaceTerminating" for c in causes):
        cls = NamespaceTerminating
    elif status >= 500:
        cls = ServerError
    elif status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif 400 <= status < 500:
        cls = Terminal
    else:
        cls = ServerError
    return cls(message, status=status, reason=reason, retry_after=retry_after, causes=causes, details=details)


def _retry_after(headers: Mapping[str, str] | None, details: Mapping[str, Any]) -> float | None:
    """Seconds from the ``Retry-After`` header (delta or HTTP date), else ``details.retryAfterSeconds``."""
    value = None
    if headers:
        value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value)
            if parsed is not None:
                return max(0.0, parsed.timestamp() - time.time())
    seconds = details.get("retryAfterSeconds")
    return float(seconds) if isinstance(seconds, int | float) else None


def translate(exc: BaseException) -> KubeError:
    """Map a client-library or network exception to a ``KubeError`` (already-ours passes through)."""
    if isinstance(exc, KubeError):
        return exc
    if isinstance(exc, ApiException):
        if not exc.status:
            # status 0: the client could not even build the request.
            return Terminal(str(exc.reason or exc), reason="ClientError")
        return error_from_response(exc.status, exc.body, exc.headers)
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return translate(exc.reason)
    if isinstance(exc, urllib3.exceptions.SSLError | ssl.SSLError):
        # A certificate or TLS mismatch does not heal by itself.
        return Terminal(f"TLS error talking to the cluster: {exc}", reason="TLSError")
    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError | OSError):
        return ConnectionFailed(f"{type(exc).__name__}: {exc}", reason="ConnectionFailed")
    return Terminal(f"{type(exc).__name__}: {exc}", reason="ClientError")


CLIENT_EXCEPTIONS = (ApiException, urllib3.exceptions.HTTPError, OSError)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry retryable errors: attempts, jittered exponential backoff, a ceiling.

    ``sleep`` is injectable so tests can observe the delays without waiting them out.
    """

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 5.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)


def backoff_delay(attempt: int, *, base_delay: float, max_delay: float, retry_after: float | None) -> float:
    """Delay before retry number ``attempt`` (1-based).

    "Full jitter" exponential backoff (uniform in [base, base·2^(n-1)]) spreads a thundering herd;
    a server-sent Retry-After is a floor, because retrying sooner is just shed again. Both are
    capped at ``max_delay`` so a hostile or confused server cannot park a worker for minutes.
    """
    ceiling = min(max_delay, base_delay * (2 ** (attempt - 1)))
    delay = random.uniform(min(base_delay, ceiling), ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, max_delay)


def with_retries(
    fn: Callable[[], T],
    *,
    attempts: int = 5,
    base_delay: float = 0.2,
    max_delay: float = 5.0,
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[KubeError, int, float], None] | None = None,
) -> T:
    """Call ``fn`` until it succeeds, retrying retryable errors at most ``attempts`` times in all.

    ``deadline`` (a ``time.monotonic()`` value) bounds the total time: no sleep runs past it.
    Client-library and network exceptions are translated, so this raises ``KubeError`` only.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except (KubeError, *CLIENT_EXCEPTIONS) as exc:
            error = translate(exc)
            if not error.retryable or attempt >= attempts:
                if error is exc:
                    raise
                raise error from exc
            delay = backoff_delay(attempt, base_delay=base_delay, max_delay=max_delay, retry_after=error.retry_after)
            if deadline is not None and time.monotonic() + delay > deadline:
                raise error from (None if error is exc else exc)
            if on_retry is not None:
                on_retry(error, attempt, delay)
            sleep(delay)


def retry_with(policy: RetryPolicy, fn: Callable[[], T], *, deadline: float | None = None) -> T:
    """``with_retries`` configured from a ``RetryPolicy``."""
    return with_retries(
        fn,
        attempts=policy.attempts,
        base_delay=policy.base_delay,
        max_delay=policy.max_delay,
        deadline=deadline,
        sleep=policy.sleep,
    )
