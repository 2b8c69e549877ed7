"""The resource-quota controller: keeps ``status.hard`` and ``status.used`` current."""

from __future__ import annotations

from .. import resources as R
from ..quota import format_usage, namespace_usage
from ..store import WatchEvent
from .base import Controller, Key


class QuotaController(Controller):
    name = "resourcequota"
    component = "resourcequota-controller"

    def keys_for(self, event: WatchEvent) -> list[Key]:
        if event.rt is R.EVENT or not event.rt.namespaced:
            return []
        ns = event.obj["metadata"].get("namespace", "")
        if event.rt is R.QUOTA:
            return [(ns, event.obj["metadata"]["name"])] if event.type != "DELETED" else []
        return [(ns, q["metadata"]["name"]) for q in self.store.list(R.QUOTA, ns)]

    def reconcile(self, key: Key) -> None:
        quota = self.store.get(R.QUOTA, *key)
        if quota is None or quota["metadata"].get("deletionTimestamp"):
            return
        hard = dict((quota.get("spec") or {}).get("hard") or {})
        used = namespace_usage(self.store.in_namespace(key[0]), hard)
        self.update_status(R.QUOTA, quota, {"hard": hard, "used": format_usage(used, hard)})
