"""Fault injection: errors, latency, dropped watches and stuck namespace finalizers.

A ``Fault`` matches calls by verb / resource / namespace / name and fires on every match, on the
Nth match, or at a rate; ``times`` caps how often it fires. Errors are answered with the same
``Status`` bodies a real apiserver (or its priority-and-fairness filter) would send.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import ApiError

_DEFAULT_MESSAGES = {
    409: 'Operation cannot be fulfilled on {res} "{name}": the object has been modified; please apply your '
    "changes to the latest version and try again",
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: kubesim injected fault",
    503: "The server is currently unable to handle the request",
    504: "Timeout: request did not complete within the allotted timeout",
}
_REASONS = {
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
    403: "Forbidden",
    404: "NotFound",
    400: "BadRequest",
    410: "Expired",
}


@dataclass
class Fault:
    """One injection rule. Leave a matcher ``None`` to match anything."""

    status: int | None = None
    verb: str | None = None
    resource: str | None = None
    namespace: str | None = None
    name: str | None = None
    nth: int | None = None
    rate: float | None = None
    times: int | None = None
    latency: float = 0.0
    retry_after: int = 1
    message: str | None = None
    drop_watch_after: int | None = None
    abrupt: bool = False
    seen: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)

    def matches(self, verb: str, resource: str, namespace: str, name: str) -> bool:
        return (
            (self.verb is None or self.verb == verb)
            and (self.resource is None or self.resource == resource)
            and (self.namespace is None or self.namespace == namespace)
            and (self.name is None or self.name == name)
        )

    def error(self, resource: str, name: str) -> ApiError:
        code = self.status or 500
        template = self.message or _DEFAULT_MESSAGES.get(code, "kubesim injected fault")
        message = template.format(res=resource, name=name)
        details: dict[str, object] = {}
        headers: dict[str, str] = {}
        if code == 429:
            details["retryAfterSeconds"] = self.retry_after
            headers["Retry-After"] = str(self.retry_after)
        elif code in (500, 503, 504):
            details["retryAfterSeconds"] = self.retry_after
        if name:
            details["name"] = name
        if resource:
            details["kind"] = resource
        return ApiError(code, _REASONS.get(code, "InternalError"), message, details, headers)


@dataclass
class Decision:
    """What the injector decided for one call."""

    latency: float = 0.0
    error: ApiError | None = None
    drop_watch_after: int | None = None
    abrupt: bool = False


class FaultInjector:
    """Thread-safe set of faults plus the namespaces whose finalizers are stuck."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._rng = random.Random(seed)
        self.stuck_namespaces: set[str] = set()

    def add(self, fault: Fault | None = None, /, **kwargs: object) -> Fault:
        """Add a fault: ``faults.add(status=429, verb="create", resource="deployments", nth=1)``."""
        f = fault if fault is not None else Fault(**kwargs)  # type: ignore[arg-type]
        with self._lock:
            self._faults.append(f)
        return f

    def remove(self, fault: Fault) -> None:
        with self._lock:
            if fault in self._faults:
                self._faults.remove(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.stuck_namespaces.clear()

    #: Called with a namespace name when it is unstuck (the simulator wakes its namespace controller).
    on_unstick: Callable[[str], None] | None = None

    def stick_namespace(self, name: str) -> None:
        """Keep namespace ``name`` Terminating: its finalizer is never removed."""
        with self._lock:
            self.stuck_namespaces.add(name)

    def unstick_namespace(self, name: str) -> None:
        """Let namespace ``name`` finish terminating; the namespace controller is woken for it."""
        with self._lock:
            self.stuck_namespaces.discard(name)
        if self.on_unstick is not None:
            self.on_unstick(name)

    def is_stuck(self, name: str) -> bool:
        with self._lock:
            return name in self.stuck_namespaces

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def decide(self, verb: str, resource: str, namespace: str, name: str) -> Decision:
        decision = Decision()
        with self._lock:
            for f in self._faults:
                if not f.matches(verb, resource, namespace, name):
                    continue
                f.seen += 1
                if f.times is not None and f.fired >= f.times:
                    continue
                if f.nth is not None:
                    fire = f.seen == f.nth
                elif f.rate is not None:
                    fire = self._rng.random() < f.rate
                else:
                    fire = True
                if not fire:
                    continue
                f.fired += 1
                decision.latency += f.latency
                if f.drop_watch_after is not None and verb == "watch":
                    decision.drop_watch_after = f.drop_watch_after
                    decision.abrupt = f.abrupt
                elif f.status is not None and decision.error is None:
                    decision.error = f.error(resource, name)
        return decision
