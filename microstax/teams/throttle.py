"""Brute-force protection for password sign-ins and API tokens.

Failures are counted per client IP and per username. Once a key reaches its limit within the
failure window it is locked for ``MICROSTAX_AUTH_LOCKOUT_SECONDS``, doubled with every further
failure up to ``MICROSTAX_AUTH_LOCKOUT_MAX_SECONDS``; a locked caller is answered 429 with
``Retry-After`` before its credentials are even checked. A successful sign-in clears the
username's counter (not the IP's: one good account must not wipe the record of guesses at others).

The counters must hold across web processes, so they live in Redis when the cache is Redis
(atomic ``INCR``), and in the ``AuthThrottle`` table otherwise (a row lock per key).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import caches
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from microstax.teams.models import AuthThrottle


@dataclass(frozen=True)
class Limit:
    key: str
    max_failures: int


def address_limit(address: str | None) -> Limit:
    return Limit(f"ip:{address or 'unknown'}", settings.MICROSTAX_AUTH_MAX_FAILURES_PER_IP)


def ip_limit(request: HttpRequest) -> Limit:
    return address_limit(request.META.get("REMOTE_ADDR"))


def user_limit(username: str) -> Limit:
    return Limit(f"user:{username.strip().lower()[:150]}", settings.MICROSTAX_AUTH_MAX_FAILURES_PER_USER)


def lockout_seconds(failures: int, max_failures: int) -> int:
    """How long a key with ``failures`` is locked: nothing below the limit, then doubling."""
    if failures < max_failures:
        return 0
    doublings = min(failures - max_failures, 30)
    return min(settings.MICROSTAX_AUTH_LOCKOUT_SECONDS * 2**doublings, settings.MICROSTAX_AUTH_LOCKOUT_MAX_SECONDS)


def _uses_redis() -> bool:
    return "redis" in settings.CACHES["default"]["BACKEND"].lower()


class _CacheStore:
    """Counters in the shared cache: ``fail`` is one atomic increment plus, once locked, one write."""

    prefix = "msx:authfail:"

    def retry_after(self, keys: list[str]) -> int:
        cache = caches["default"]
        now = time.time()
        until = cache.get_many([self.prefix + "lock:" + k for k in keys]).values()
        return max([math.ceil(u - now) for u in until if u > now], default=0)

    def fail(self, limit: Limit) -> None:
        cache = caches["default"]
        window = settings.MICROSTAX_AUTH_FAILURE_WINDOW_SECONDS
        count_key = self.prefix + "count:" + limit.key
        cache.add(count_key, 0, window)
        try:
            failures = cache.incr(count_key)
        except ValueError:  # expired between add and incr
            cache.set(count_key, 1, window)
            failures = 1
        cache.touch(count_key, window)
        seconds = lockout_seconds(failures, limit.max_failures)
        if seconds:
            cache.set(self.prefix + "lock:" + limit.key, time.time() + seconds, seconds)

    def reset(self, limit: Limit) -> None:
        caches["default"].delete_many([self.prefix + "count:" + limit.key, self.prefix + "lock:" + limit.key])


class _DatabaseStore:
    """Counters in ``AuthThrottle`` rows, updated under a row lock so concurrent failures all count."""

    def retry_after(self, keys: list[str]) -> int:
        now = timezone.now()
        until = AuthThrottle.objects.filter(key__in=keys, locked_until__gt=now).values_list("locked_until", flat=True)
        return max([math.ceil((u - now).total_seconds()) for u in until], default=0)

    def fail(self, limit: Limit) -> None:
        now = timezone.now()
        window = timedelta(seconds=settings.MICROSTAX_AUTH_FAILURE_WINDOW_SECONDS)
        for _ in range(2):  # a second try when a concurrent first failure created the row
            try:
                with transaction.atomic():
                    row = AuthThrottle.objects.select_for_update().filter(key=limit.key).first()
                    if row is None:
                        # New keys are when the table grows: drop the ones whose window and lockout are over.
                        AuthThrottle.objects.filter(last_failure_at__lt=now - window).exclude(
                            locked_until__gt=now
                        ).delete()
                        row = AuthThrottle.objects.create(key=limit.key, failures=0, last_failure_at=now)
                    if row.last_failure_at < now - window:
                        row.failures = 0
                    row.failures += 1
                    row.last_failure_at = now
                    seconds = lockout_seconds(row.failures, limit.max_failures)
                    row.locked_until = now + timedelta(seconds=seconds) if seconds else None
                    row.save(update_fields=["failures", "last_failure_at", "locked_until"])
                return
            except IntegrityError:
                continue

    def reset(self, limit: Limit) -> None:
        AuthThrottle.objects.filter(key=limit.key).delete()


def _store() -> _CacheStore | _DatabaseStore:
    return _CacheStore() if _uses_redis() else _DatabaseStore()


def retry_after(*limits: Limit) -> int:
    """Seconds until every one of ``limits`` is unlocked (0: go ahead)."""
    return _store().retry_after([limit.key for limit in limits])


def record_failure(*limits: Limit) -> None:
    store = _store()
    for limit in limits:
        store.fail(limit)


def reset(*limits: Limit) -> None:
    store = _store()
    for limit in limits:
        store.reset(limit)
