"""The garbage collector: background cascading deletion and foreground ``foregroundDeletion``."""

from __future__ import annotations

from .. import resources as R
from ..resources import by_kind
from ..store import WatchEvent
from .base import Controller, Key

_UID = "uid:"
_FG = "fg:"


class GarbageCollector(Controller):
    name = "garbagecollector"
    component = "generic-garbage-collector"

    def keys_for(self, event: WatchEvent) -> list[Key]:
        md = event.obj["metadata"]
        ns = md.get("namespace", "")
        keys: list[Key] = []
        if event.type == "DELETED":
            keys.append((ns, _UID + md.get("uid", "")))
            for ref in md.get("ownerReferences") or []:
                rt = by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
                if rt is not None:
                    keys.append((ns if rt.namespaced else "", f"{_FG}{rt.key}|{ref.get('name')}"))
        elif md.get("deletionTimestamp") and "foregroundDeletion" in (md.get("finalizers") or []):
            keys.append((ns, f"{_FG}{event.rt.key}|{md['name']}"))
        elif md.get("deletionTimestamp"):
            for ref in md.get("ownerReferences") or []:
                rt = by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
                if rt is not None:
                    keys.append((ns if rt.namespaced else "", f"{_FG}{rt.key}|{ref.get('name')}"))
        return keys

    def reconcile(self, key: Key) -> None:
        ns, ref = key
        if ref.startswith(_UID):
            self._collect(ns, ref[len(_UID) :])
        elif ref.startswith(_FG):
            rt_key, name = ref[len(_FG) :].split("|", 1)
            self._foreground(R.by_key(rt_key), ns, name)

    def _collect(self, ns: str, uid: str) -> None:
        """The owner ``uid`` is gone: delete dependents that have no other live owner."""
        items = self.store.dependents_of(uid)
        if ns:
            items = [(rt, o) for rt, o in items if rt.namespaced and o["metadata"].get("namespace") == ns]
        for rt, obj in items:
            refs = obj["metadata"].get("ownerReferences") or []
            if not any(r.get("uid") == uid for r in refs):
                continue
            others = [r for r in refs if r.get("uid") != uid and self.store.find_uid(r.get("uid", "")) is not None]
            if others:
                new = dict(obj, metadata=dict(obj["metadata"], ownerReferences=others))
                self.api.ctl_update(rt, new, self.component)
            else:
                self.api.ctl_delete(rt, obj, policy="Background")

    def _foreground(self, rt: R.ResourceType, ns: str, name: str) -> None:
        owner = self.store.get(rt, ns, name)
        if owner is None or "foregroundDeletion" not in (owner["metadata"].get("finalizers") or []):
            return
        if not owner["metadata"].get("deletionTimestamp"):
            return
        dependents = self.api.dependents(owner)
        for drt, dep in dependents:
            if not dep["metadata"].get("deletionTimestamp"):
                self.api.ctl_delete(drt, dep, policy="Foreground")
        if not self.api.dependents(owner):
            self.api.remove_finalizer(rt, owner, "foregroundDeletion")
