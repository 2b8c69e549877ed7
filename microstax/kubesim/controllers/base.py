"""The controller manager: one worker thread, a de-duplicated work queue and timers.

Store events are fanned out to controllers (cheaply, under the store lock) as keys to reconcile;
one thread runs every reconcile, so controllers never race each other, much like a single
kube-controller-manager leader with one worker per controller.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import ApiError
from ..resources import ResourceType
from ..store import WatchEvent
from ..util import Obj, clone, new_uid, now_rfc3339, now_rfc3339_micro

if TYPE_CHECKING:
    from ..sim import KubeSim

Key = tuple[str, str]  # (namespace, name)


class Controller:
    """A reconciler keyed by (namespace, name); subclasses map store events to keys."""

    name = "controller"
    component = "kube-controller-manager"

    def __init__(self, sim: KubeSim) -> None:
        self.sim = sim
        self.api = sim.api
        self.store = sim.store

    @property
    def delays(self):  # noqa: ANN201 - Delays, typed loosely to avoid an import cycle
        return self.sim.config.delays

    def keys_for(self, event: WatchEvent) -> Iterable[Key]:
        """Keys to reconcile because of ``event``; runs under the store lock, so keep it cheap."""
        return ()

    def reconcile(self, key: Key) -> None:
        raise NotImplementedError

    # -- helpers for subclasses ----------------------------------------------------------------

    def enqueue(self, key: Key, delay: float = 0.0) -> None:
        self.sim.controllers.enqueue(self, key, delay)

    def event(
        self, rt: ResourceType, obj: Obj, etype: str, reason: str, message: str, component: str | None = None
    ) -> None:
        record_event(self.sim, rt, obj, etype, reason, message, component or self.component)

    def update_status(self, rt: ResourceType, obj: Obj, status: dict) -> Obj | None:
        """Write ``status`` through the status subresource when it changed."""
        if obj.get("status") == status:
            return obj
        # A shallow copy is enough: the write path replaces metadata keys and status, and never
        # mutates the spec it shares with the stored (immutable) object.
        new = dict(obj, metadata=dict(obj["metadata"]), status=status)
        return self.api.ctl_update(rt, new, self.component, "status" if rt.status_subresource else "")


def record_event(
    sim: KubeSim, rt: ResourceType, obj: Obj, etype: str, reason: str, message: str, component: str
) -> None:
    """Create or bump a core/v1 Event about ``obj`` like client-go's event recorder does."""
    from .. import resources as R

    md = obj["metadata"]
    ns = md.get("namespace") or "default"
    involved = {
        "kind": rt.kind,
        "namespace": md.get("namespace", ""),
        "name": md["name"],
        "uid": md.get("uid", ""),
        "apiVersion": rt.api_version,
        "resourceVersion": md.get("resourceVersion", ""),
    }
    if not involved["namespace"]:
        involved.pop("namespace")
    now = now_rfc3339()
    # Same object, reason and message → bump count, like client-go's event correlator.
    index_key = (ns, involved["uid"], reason, message)
    with sim.store.lock:
        known = sim.event_index.get(index_key)
        ev = sim.store.get(R.EVENT, ns, known) if known else None
        if ev is not None:
            new = clone(ev)
            new["count"] = int(ev.get("count") or 1) + 1
            new["lastTimestamp"] = now
            sim.api.ctl_update(R.EVENT, new, component)
            return
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{md['name']}.{new_uid().replace('-', '')[:16]}", "namespace": ns},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": {"component": component}
            if component != "kubelet"
            else {"component": "kubelet", "host": sim.config.node_name},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": etype,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": sim.config.node_name if component == "kubelet" else "",
        }
        try:
            created = sim.api.ctl_create(R.EVENT, event, component)
            sim.event_index[index_key] = created["metadata"]["name"]
        except ApiError:
            # Events into a terminating namespace are refused; the recorder drops them too.
            pass


def condition(ctype: str, status: str, reason: str = "", message: str = "", *, probe: bool = False) -> dict:
    now = now_rfc3339()
    out = {"type": ctype, "status": status, "lastTransitionTime": now}
    if probe:
        out["lastProbeTime"] = None
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def set_condition(conditions: list[dict], new: dict, *, update_time: bool = False) -> list[dict]:
    """Replace a condition by type, keeping lastTransitionTime when the status did not change."""
    out = []
    found = False
    for c in conditions:
        if c.get("type") == new["type"]:
            found = True
            merged = dict(new)
            if c.get("status") == new["status"]:
                merged["lastTransitionTime"] = c.get("lastTransitionTime", new.get("lastTransitionTime"))
                if update_time and c.get("reason") == new.get("reason") and c.get("message") == new.get("message"):
                    merged["lastUpdateTime"] = c.get("lastUpdateTime", new.get("lastUpdateTime"))
            out.append(merged)
        else:
            out.append(c)
    if not found:
        out.append(new)
    return out


def get_condition(obj: Obj, ctype: str) -> dict | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


class ControllerManager:
    """Runs the controllers on one thread; ``enqueue`` is safe from any thread."""

    def __init__(self, sim: KubeSim, controllers: list[Controller]) -> None:
        self.sim = sim
        self.controllers = controllers
        self._cv = threading.Condition()
        self._queue: deque[tuple[Controller, Key]] = deque()
        self._queued: set[tuple[str, Key]] = set()
        self._timers: list[tuple[float, int, Controller, Key]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._busy = False

    def on_event(self, event: WatchEvent) -> None:
        for c in self.controllers:
            for key in c.keys_for(event):
                self.enqueue(c, key)

    def enqueue(self, controller: Controller, key: Key, delay: float = 0.0) -> None:
        with self._cv:
            if delay > 0:
                heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), controller, key))
            elif (controller.name, key) not in self._queued:
                self._queued.add((controller.name, key))
                self._queue.append((controller, key))
            self._cv.notify()

    def requeue(self, controller_name: str, key: Key) -> None:
        """Wake one controller for one key (used when a condition outside the store changes)."""
        for controller in self.controllers:
            if controller.name == controller_name:
                self.enqueue(controller, key)

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="kubesim-controllers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def clear(self) -> None:
        with self._cv:
            self._queue.clear()
            self._queued.clear()
            self._timers.clear()

    def idle(self) -> bool:
        """No queued work and no timer due now (timers for later do not count)."""
        with self._cv:
            due = bool(self._timers) and self._timers[0][0] <= time.monotonic()
            return not self._queue and not due and not self._busy

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stopping:
                    now = time.monotonic()
                    while self._timers and self._timers[0][0] <= now:
                        _, _, c, key = heapq.heappop(self._timers)
                        if (c.name, key) not in self._queued:
                            self._queued.add((c.name, key))
                            self._queue.append((c, key))
                    if self._queue:
                        break
                    timeout = self._timers[0][0] - now if self._timers else None
                    self._cv.wait(timeout)
                if self._stopping:
                    return
                controller, key = self._queue.popleft()
                self._queued.discard((controller.name, key))
                self._busy = True
            try:
                controller.reconcile(key)
            except Exception as exc:  # keep the manager alive; tests assert sim.errors is empty
                self.sim.errors.append(exc)
                traceback.print_exc()
            finally:
                with self._cv:
                    self._busy = False


__all__ = [
    "Controller",
    "ControllerManager",
    "Key",
    "condition",
    "get_condition",
    "now_rfc3339_micro",
    "record_event",
    "set_condition",
]
