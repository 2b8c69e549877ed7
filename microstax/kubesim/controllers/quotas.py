"""The resource-quota controller: keeps ``status.hard`` and ``status.used`` current."""

from __future__ import annotations

from .. import resources as R
from ..quota import counts_towards, format_usage, namespace_usage, quota_items
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
        # Only the kinds a quota counts (pods for compute…): other writes cannot change its usage.
        return [
            (ns, q["metadata"]["name"])
            for q in self.store.list(R.QUOTA, ns)
            if counts_towards(event.rt, (q.get("spec") or {}).get("hard") or {})
        ]

    def reconcile(self, key: Key) -> None:
        quota = self.store.get(R.QUOTA, *key)
        if quota is None or quota["metadata"].get("deletionTimestamp"):
            return
        hard = dict((quota.get("spec") or {}).get("hard") or {})
        used = namespace_usage(quota_items(self.store, key[0], hard), hard)
        self.update_status(R.QUOTA, quota, {"hard": hard, "used": format_usage(used, hard)})
