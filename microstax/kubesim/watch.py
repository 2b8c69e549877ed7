"""Watch streams: synthetic ADDEDs, replay from a resourceVersion, bookmarks, timeouts, 410.

Semantics from the API concepts page: no ``resourceVersion`` (or ``"0"``) means "current state as
ADDED events, then changes"; a specific RV means "only changes after it", served from the store's
event log; an RV older than the log yields one in-stream ``ERROR`` event with a 410 ``Expired``
Status and the stream ends. ``sendInitialEvents=true`` ends the initial burst with a BOOKMARK
annotated ``k8s.io/initial-events-end``, which newer client-go WatchList clients wait for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from .errors import ApiError
from .resources import ResourceType
from .selectors import parse_field_selector, parse_label_selector
from .store import Expired, Store
from .util import Obj, parse_bool

Event = dict[str, Any]


def expired_event(message: str) -> Event:
    return {
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": "Expired",
            "code": 410,
        },
    }


def bookmark(rt: ResourceType, rv: int, *, initial_end: bool = False) -> Event:
    md: dict[str, Any] = {"resourceVersion": str(rv), "creationTimestamp": None}
    if initial_end:
        md["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"type": "BOOKMARK", "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": md}}


class WatchRequest:
    """A parsed watch: filters plus the starting point; ``events()`` yields wire events."""

    def __init__(self, store: Store, rt: ResourceType, namespace: str, query: dict[str, str]) -> None:
        self.store = store
        self.rt = rt
        self.namespace = namespace
        self.labels = parse_label_selector(query.get("labelSelector"))
        self.fields = parse_field_selector(query.get("fieldSelector"), rt.kind)
        self.rv = query.get("resourceVersion") or ""
        self.bookmarks = parse_bool(query.get("allowWatchBookmarks"))
        self.send_initial = parse_bool(query.get("sendInitialEvents"))
        timeout = query.get("timeoutSeconds")
        self.timeout = float(timeout) if timeout else None
        if self.send_initial and (query.get("resourceVersionMatch") != "NotOlderThan" or not self.bookmarks):
            raise ApiError(
                422,
                "Invalid",
                'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is '
                "forbidden for watch unless the WatchList feature gate is enabled, resourceVersionMatch is set "
                'to "NotOlderThan" and allowWatchBookmarks is set to true',
                {"group": "meta.k8s.io", "kind": "ListOptions"},
            )
        if self.rv and self.rv != "0":
            try:
                int(self.rv)
            except ValueError as exc:
                raise ApiError(400, "BadRequest", f'invalid resource version: "{self.rv}"', {}) from exc

    def _matches(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        md = obj["metadata"]
        if self.rt.namespaced and self.namespace and md.get("namespace") != self.namespace:
            return False
        return self.labels(md.get("labels") or {}) and self.fields(obj)

    def _translate(self, etype: str, obj: Obj, old: Obj | None) -> str | None:
        now, before = self._matches(obj), self._matches(old)
        if etype == "ADDED":
            return "ADDED" if now else None
        if etype == "DELETED":
            return "DELETED" if before or now else None
        if now and before:
            return "MODIFIED"
        if now:
            return "ADDED"
        if before:
            return "DELETED"
        return None

    def events(
        self,
        *,
        closing: Callable[[], bool],
        bookmark_interval: float,
        poll: float = 0.5,
    ) -> Iterator[Event]:
        store = self.store
        start = time.monotonic()
        deadline = start + self.timeout if self.timeout else None
        initial: list[Obj] = []
        with store.lock:
            if not self.rv or self.rv == "0" or self.send_initial:
                last = store.rv
                initial = [o for o in store.list(self.rt, self.namespace or None) if self._matches(o)]
            else:
                last = int(self.rv)
                try:
                    store.events_after(last)
                except Expired as exc:
                    yield expired_event(str(exc))
                    return
        for obj in initial:
            yield {"type": "ADDED", "object": obj}
        if self.send_initial:
            yield bookmark(self.rt, last, initial_end=True)
        next_bookmark = time.monotonic() + bookmark_interval
        while not closing():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            wait = poll
            if deadline is not None:
                wait = min(wait, deadline - now)
            if self.bookmarks:
                wait = min(wait, max(0.0, next_bookmark - now))
            store.wait(last, max(wait, 0.0))
            try:
                batch = store.events_after(last)
            except Expired as exc:
                yield expired_event(str(exc))
                return
            for ev in batch:
                last = ev.rv
                if ev.rt is not self.rt:
                    continue
                etype = self._translate(ev.type, ev.obj, ev.old)
                if etype is not None:
                    yield {"type": etype, "object": ev.obj}
            if self.bookmarks and time.monotonic() >= next_bookmark:
                yield bookmark(self.rt, last)
                next_bookmark = time.monotonic() + bookmark_interval
