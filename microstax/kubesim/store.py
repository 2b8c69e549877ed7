"""The in-memory object store: objects, the global resourceVersion and the watch event log.

Stored objects are treated as immutable: every write stores a fresh dict and readers must copy
before changing anything (``util.clone``). That lets the event log keep references instead of
copies and lets watch streams serialise outside the lock.

Every write takes the next resourceVersion and appends exactly one event, so an RV maps to a
position in the log; the log is a bounded ring, and a watch from an RV older than the ring answers
``410 Expired`` as etcd compaction does on a real cluster.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .resources import RESOURCE_TYPES, ResourceType, by_key
from .util import Obj


@dataclass(frozen=True)
class WatchEvent:
    """One change: ``type`` ADDED/MODIFIED/DELETED, the new (or last) object and the previous one."""

    rv: int
    type: str
    rt: ResourceType
    obj: Obj
    old: Obj | None


class Expired(Exception):
    """The requested resourceVersion is older than the retained history."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


Listener = Callable[[WatchEvent], None]
_ORDER = {rt.key: i for i, rt in enumerate(RESOURCE_TYPES)}


def _owner_uids(obj: Obj | None) -> frozenset[str]:
    if obj is None:
        return frozenset()
    refs = obj["metadata"].get("ownerReferences") or ()
    return frozenset(r["uid"] for r in refs if isinstance(r, dict) and r.get("uid"))


class Store:
    """Objects per resource type keyed by (namespace, name), guarded by one re-entrant lock."""

    def __init__(self, history: int = 20000, initial_rv: int = 1) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = initial_rv
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {rt.key: {} for rt in RESOURCE_TYPES}
        self._log: deque[WatchEvent] = deque(maxlen=history)
        # Events with rv > _compacted_rv are all in the log (nothing after it was dropped).
        self._compacted_rv = initial_rv
        self._listeners: list[Listener] = []
        # owner uid → (resource key, namespace, name) of objects whose ownerReferences name it, so
        # the garbage collector and propagation find dependents without scanning every object.
        self._owned: dict[str, set[tuple[str, str, str]]] = {}
        self.closed = False
        self.generation = 0  # bumps on reset so long-lived readers can tell

    # -- reads ---------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        # A single dict lookup is atomic under the GIL; skipping the lock avoids contention with
        # the watch threads that wake on every write.
        return self._objects[rt.key].get((namespace if rt.namespaced else "", name))

    def list(self, rt: ResourceType, namespace: str | None = None) -> list[Obj]:
        """Objects sorted by (namespace, name), the order etcd keys give a real list."""
        items = self._objects[rt.key].copy()  # an atomic snapshot under the GIL
        if namespace is None or not rt.namespaced:
            keys = sorted(items)
        else:
            keys = sorted(k for k in items if k[0] == namespace)
        return [items[k] for k in keys]

    def in_namespace(self, namespace: str) -> Iterator[tuple[ResourceType, Obj]]:
        snapshot = []
        for rt in RESOURCE_TYPES:
            if rt.namespaced:
                items = self._objects[rt.key].copy()  # atomic under the GIL
                keys = sorted(k for k in items if k[0] == namespace)
                snapshot += [(rt, items[k]) for k in keys]
        yield from snapshot

    def dependents_of(self, uid: str) -> list[tuple[ResourceType, Obj]]:
        """Objects with an ownerReference to ``uid``, in list order (resource type, namespace, name)."""
        with self.lock:
            found = sorted(self._owned.get(uid, ()), key=lambda k: (_ORDER[k[0]], k[1], k[2]))
            out = []
            for key, ns, name in found:
                obj = self._objects[key].get((ns, name))
                if obj is not None:
                    out.append((by_key(key), obj))
            return out

    def _index(self, rt: ResourceType, key: tuple[str, str], old: Obj | None, new: Obj | None) -> None:
        before, after = _owner_uids(old), _owner_uids(new)
        if before == after:
            return
        entry = (rt.key, *key)
        for uid in before - after:
            owned = self._owned.get(uid)
            if owned is not None:
                owned.discard(entry)
                if not owned:
                    del self._owned[uid]
        for uid in after - before:
            self._owned.setdefault(uid, set()).add(entry)

    def find_uid(self, uid: str) -> tuple[ResourceType, Obj] | None:
        with self.lock:
            for rt in RESOURCE_TYPES:
                for obj in self._objects[rt.key].values():
                    if obj["metadata"].get("uid") == uid:
                        return rt, obj
        return None

    # -- writes --------------------------------------------------------------------------------

    def put(self, rt: ResourceType, obj: Obj) -> Obj:
        """Store a new version (ADDED or MODIFIED); sets ``metadata.resourceVersion``."""
        with self.lock:
            md = obj["metadata"]
            key = (md.get("namespace", "") if rt.namespaced else "", md["name"])
            old = self._objects[rt.key].get(key)
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            self._objects[rt.key][key] = obj
            self._index(rt, key, old, obj)
            self._emit(WatchEvent(self.rv, "MODIFIED" if old is not None else "ADDED", rt, obj, old))
            return obj

    def remove(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        """Delete for good; the DELETED event carries the object at a new resourceVersion."""
        with self.lock:
            key = (namespace if rt.namespaced else "", name)
            old = self._objects[rt.key].pop(key, None)
            if old is None:
                return None
            self._index(rt, key, old, None)
            self.rv += 1
            final = dict(old)
            final["metadata"] = dict(old["metadata"], resourceVersion=str(self.rv))
            self._emit(WatchEvent(self.rv, "DELETED", rt, final, old))
            return final

    def _emit(self, event: WatchEvent) -> None:
        if len(self._log) == self._log.maxlen:
            self._compacted_rv = self._log[0].rv
        self._log.append(event)
        for listener in list(self._listeners):
            listener(event)
        self.changed.notify_all()

    # -- watch support -------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        with self.lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        with self.lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def events_after(self, rv: int) -> list[WatchEvent]:
        """Events with resourceVersion > rv; raises ``Expired`` when history was compacted."""
        with self.lock:
            if rv < self._compacted_rv:
                raise Expired(rv, self._compacted_rv + 1)
            if not self._log or rv >= self._log[-1].rv:
                return []
            first = self._log[0].rv
            start = max(0, rv + 1 - first)
            return [self._log[i] for i in range(start, len(self._log))]

    def compact(self) -> int:
        """Forget all history up to now (as etcd compaction does); older RVs now answer 410."""
        with self.lock:
            self._log.clear()
            self._compacted_rv = self.rv
            return self.rv

    def wait(self, rv: int, timeout: float) -> bool:
        """Block until the store moves past ``rv`` or ``timeout``; False on timeout or close."""
        with self.lock:
            if self.rv > rv:
                return True
            self.changed.wait(timeout)
            return self.rv > rv and not self.closed

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.changed.notify_all()

    def clear(self) -> None:
        """Drop every object and all history (``KubeSim.reset``); RVs keep increasing."""
        with self.lock:
            for items in self._objects.values():
                items.clear()
            self._owned.clear()
            self._log.clear()
            self._compacted_rv = self.rv
            self.generation += 1
            self.changed.notify_all()

    # -- persistence ---------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {
                "resourceVersion": self.rv,
                "objects": {k: list(v.values()) for k, v in self._objects.items() if v},
            }

    def save(self, path: Path) -> None:
        data = json.dumps(self.dump(), separators=(",", ":"))
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(data)
        tmp.replace(path)

    def load(self, path: Path) -> None:
        """Load a saved state; history starts empty so watches from older RVs get 410."""
        data = json.loads(path.read_text())
        with self.lock:
            for key, objs in data.get("objects", {}).items():
                rt = by_key(key)
                for obj in objs:
                    md = obj["metadata"]
                    key = (md.get("namespace", "") if rt.namespaced else "", md["name"])
                    self._index(rt, key, self._objects[rt.key].get(key), obj)
                    self._objects[rt.key][key] = obj
            self.rv = max(self.rv, int(data.get("resourceVersion", self.rv)))
            self._log.clear()
            self._compacted_rv = self.rv
