"""List-then-watch of one collection, robust to the ways watches end.

A watch can end four ways, each handled differently: the server closes it normally (its timeout)
→ resume from the last resourceVersion; the connection drops → resume from the last
resourceVersion after a short backoff; the server answers 410 Expired (in-stream ERROR event or a
plain HTTP 410) → our resourceVersion is older than its history, so re-list and resume from the
list; any other error → reported to the consumer. The official client's ``Watch`` retries a 410
only once and never re-lists (and ``DynamicClient.watch`` never reconnects at all), hence this.
"""

from __future__ import annotations

import json
import math
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .client import KubeClient, ResourceInfo
from .errors import (
    CLIENT_EXCEPTIONS,
    ConnectionFailed,
    Expired,
    KubeError,
    backoff_delay,
    error_from_response,
    translate,
)
from .objects import Obj

# Upper bound of one watch request; a bounded wait asks for less. Servers cap this themselves.
MAX_WATCH_SECONDS = 300


@dataclass
class ListResult:
    """A LIST answer: its items and the resourceVersion to watch from."""

    items: list[Obj]
    resource_version: str


def list_objects(
    client: KubeClient,
    resource: ResourceInfo,
    namespace: str | None = None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
) -> ListResult:
    """LIST a collection (all pages), with retries.

    List items carry no ``kind``/``apiVersion`` on a real server; they are filled in here so every
    object this package hands out is self-describing.
    """
    items: list[Obj] = []
    token: str | None = None
    rv = ""
    while True:
        query = {"labelSelector": label_selector, "fieldSelector": field_selector, "limit": 500, "continue": token}
        doc = client.call("GET", resource.path(namespace), query=query)
        for item in doc.get("items") or []:
            item.setdefault("apiVersion", resource.api_version)
            item.setdefault("kind", resource.kind)
            items.append(item)
        meta = doc.get("metadata") or {}
        rv = meta.get("resourceVersion") or rv
        token = meta.get("continue")
        if not token:
            return ListResult(items, rv)


def iter_lines(response: Any, *, keep_empty: bool = False) -> Iterator[str]:
    """Newline-delimited lines of a chunked response as they arrive (each event is flushed).

    Blank lines are dropped unless ``keep_empty`` (a watch never sends them; a log may).
    """
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk
        while True:
            cut = buffer.find(b"\n")
            if cut < 0:
                break
            line, buffer = buffer[:cut], buffer[cut + 1 :]
            if keep_empty or line.strip():
                yield line.decode("utf-8", "replace")
    if buffer.strip():
        yield buffer.decode("utf-8", "replace")


@dataclass
class WatchMessage:
    """What a ``ListWatch`` tells its consumer.

    ``kind`` is ``"sync"`` (``items`` replace everything known of this collection — after a
    re-list), ``"event"`` (``type`` ADDED/MODIFIED/DELETED of ``obj``) or ``"error"`` (the watch
    gave up; ``error`` says why).
    """

    key: Any
    kind: str
    type: str = ""
    obj: Obj = field(default_factory=dict)
    items: list[Obj] = field(default_factory=list)
    error: KubeError | None = None


class ListWatch(threading.Thread):
    """Watches one collection from ``resource_version`` and feeds ``WatchMessage``s into ``sink``.

    Run it after an initial ``list_objects`` (its resourceVersion is where the watch starts), so
    the consumer never misses an event between the list and the watch.
    """

    def __init__(
        self,
        client: KubeClient,
        resource: ResourceInfo,
        namespace: str | None,
        *,
        sink: queue.Queue[WatchMessage],
        key: Any,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        deadline: float | None = None,
    ) -> None:
        super().__init__(name=f"watch-{resource.plural}-{namespace or 'cluster'}", daemon=True)
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.sink = sink
        self.key = key
        self.resource_version = resource_version
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.deadline = deadline
        self.relists = 0
        self.reconnects = 0
        self._stop_event = threading.Event()
        self._response: Any = None
        self._response_lock = threading.Lock()

    # -- control -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop promptly: shut the socket so a blocked read returns now, not at the next event."""
        self._stop_event.set()
        with self._response_lock:
            response = self._response
        if response is not None:
            try:
                response.shutdown()
            except (ValueError, RuntimeError, OSError):
                pass

    @property
    def stopped(self) -> bool:
        return self._stop_event.is_set()

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> None:
        failures = 0
        while not self.stopped and not self._past_deadline():
            started = time.monotonic()
            try:
                if self._watch_once():
                    failures = 0
                elif time.monotonic() - started < 1.0:
                    # An empty stream that ended at once: don't spin on a server that does that.
                    self._stop_event.wait(backoff_delay(1, base_delay=0.05, max_delay=1.0, retry_after=None))
            except Expired:
                if self.stopped:
                    return
                self._relist()
            except KubeError as exc:
                if self.stopped:
                    return
                failures += 1
                if not exc.retryable or failures >= self.client.retry.attempts:
                    self.sink.put(WatchMessage(self.key, "error", error=exc))
                    return
                self.reconnects += 1
                policy = self.client.retry
                delay = backoff_delay(
                    failures, base_delay=policy.base_delay, max_delay=policy.max_delay, retry_after=exc.retry_after
                )
                # The first reconnect after a drop is immediate: most drops are a proxy or
                # load balancer idling the stream out, not an overloaded server.
                self._stop_event.wait(0 if failures == 1 and isinstance(exc, ConnectionFailed) else delay)

    def _past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def _relist(self) -> None:
        self.relists += 1
        try:
            result = list_objects(
                self.client,
                self.resource,
                self.namespace,
                label_selector=self.label_selector,
                field_selector=self.field_selector,
            )
        except KubeError as exc:
            self.sink.put(WatchMessage(self.key, "error", error=exc))
            self._stop_event.set()
            return
        self.resource_version = result.resource_version
        self.sink.put(WatchMessage(self.key, "sync", items=result.items))

    def _timeout_seconds(self) -> int:
        if self.deadline is None:
            return MAX_WATCH_SECONDS
        remaining = self.deadline - time.monotonic()
        return max(1, min(MAX_WATCH_SECONDS, math.ceil(remaining) + 1))

    def _watch_once(self) -> bool:
        """One watch request; returns whether any event arrived. Raises ``KubeError``."""
        timeout = self._timeout_seconds()
        query = {
            "watch": True,
            "resourceVersion": self.resource_version or None,
            "allowWatchBookmarks": True,
            "timeoutSeconds": timeout,
            "labelSelector": self.label_selector,
            "fieldSelector": self.field_selector,
        }
        response = self.client.stream(self.resource.path(self.namespace), query=query, read_timeout=timeout + 15)
        with self._response_lock:
            self._response = response
        if self.stopped:
            # stop() ran between the request and registering the response.
            response.close()
            return False
        got = False
        try:
            for line in iter_lines(response):
                if self.stopped:
                    return got
                got = self._handle(json.loads(line)) or got
        except CLIENT_EXCEPTIONS as exc:
            if self.stopped:
                return got
            raise translate(exc) from exc
        except ValueError as exc:
            raise ConnectionFailed(f"undecodable watch event: {exc}", reason="BadWatchEvent") from exc
        finally:
            with self._response_lock:
                self._response = None
            response.close()
            response.release_conn()
        return got

    def _handle(self, event: Mapping[str, Any]) -> bool:
        etype = event.get("type", "")
        obj = event.get("object") or {}
        if etype == "ERROR":
            code = obj.get("code")
            message = obj.get("message", "watch error")
            if code == 410:
                raise Expired(message, status=410, reason=obj.get("reason", "Expired"))
            raise translate_status(obj)
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self.resource_version = rv
        if etype == "BOOKMARK":
            return False
        obj.setdefault("apiVersion", self.resource.api_version)
        obj.setdefault("kind", self.resource.kind)
        self.sink.put(WatchMessage(self.key, "event", type=etype, obj=obj))
        return True


def translate_status(status: Mapping[str, Any]) -> KubeError:
    """A ``Status`` object received in-stream, as a ``KubeError``."""
    return error_from_response(int(status.get("code") or 500), json.dumps(status), None)
