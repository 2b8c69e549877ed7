"""The namespace controller: Terminating → delete contents → finalize → gone.

Follows ``pkg/controller/namespace``: after the deletion grace period it deletes every namespaced
object, reports the ``NamespaceDeletion*``/``NamespaceContent*``/``NamespaceFinalizersRemaining``
conditions, and once nothing is left removes the ``kubernetes`` finalizer through the
``finalize`` subresource. A namespace marked stuck in the fault injector keeps its finalizer.
"""

from __future__ import annotations

import time
from collections import Counter

from .. import resources as R
from ..store import WatchEvent
from ..util import clone, parse_rfc3339
from .base import Controller, Key, condition, set_condition


class NamespaceController(Controller):
    name = "namespace"
    component = "namespace-controller"

    def keys_for(self, event: WatchEvent) -> list[Key]:
        md = event.obj["metadata"]
        if event.rt is R.NAMESPACE:
            return [("", md["name"])] if md.get("deletionTimestamp") and event.type != "DELETED" else []
        if event.rt.namespaced and event.type in ("DELETED", "MODIFIED"):
            ns = self.store.get(R.NAMESPACE, "", md.get("namespace", ""))
            if ns is not None and ns["metadata"].get("deletionTimestamp"):
                return [("", ns["metadata"]["name"])]
        return []

    def reconcile(self, key: Key) -> None:
        ns = self.store.get(R.NAMESPACE, "", key[1])
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        name = ns["metadata"]["name"]
        due = parse_rfc3339(ns["metadata"]["deletionTimestamp"]) + self.delays.wall(self.delays.namespace_grace)
        if time.time() < due and self.delays.namespace_grace > 0:
            self.enqueue(key, due - time.time())
            return
        for rt, obj in self.store.in_namespace(name):
            if not obj["metadata"].get("deletionTimestamp"):
                self.api.ctl_delete(rt, obj)
        remaining = list(self.store.in_namespace(name))
        counts = Counter(rt.qualified for rt, _ in remaining)
        finalizers = Counter(f for _, o in remaining for f in o["metadata"].get("finalizers") or [])
        conds = list((ns.get("status") or {}).get("conditions") or [])
        conds = set_condition(
            conds,
            condition(
                "NamespaceDeletionDiscoveryFailure",
                "False",
                "ResourcesDiscovered",
                "All resources successfully discovered",
            ),
        )
        conds = set_condition(
            conds,
            condition(
                "NamespaceDeletionGroupVersionParsingFailure",
                "False",
                "ParsedGroupVersions",
                "All legacy kube types successfully parsed",
            ),
        )
        conds = set_condition(
            conds,
            condition(
                "NamespaceDeletionContentFailure",
                "False",
                "ContentDeleted",
                "All content successfully deleted, may be waiting on finalization",
            ),
        )
        if counts:
            detail = ", ".join(f"{k} has {v} resource instances" for k, v in sorted(counts.items()))
            conds = set_condition(
                conds,
                condition(
                    "NamespaceContentRemaining",
                    "True",
                    "SomeResourcesRemain",
                    f"Some resources are remaining: {detail}",
                ),
            )
        else:
            conds = set_condition(
                conds,
                condition("NamespaceContentRemaining", "False", "ContentRemoved", "All content successfully removed"),
            )
        if finalizers:
            detail = ", ".join(f"{k} in {v} resource instances" for k, v in sorted(finalizers.items()))
            conds = set_condition(
                conds,
                condition(
                    "NamespaceFinalizersRemaining",
                    "True",
                    "SomeFinalizersRemain",
                    f"Some content in the namespace has finalizers remaining: {detail}",
                ),
            )
        else:
            conds = set_condition(
                conds,
                condition(
                    "NamespaceFinalizersRemaining",
                    "False",
                    "ContentHasNoFinalizers",
                    "All content-preserving finalizers finished",
                ),
            )

        def shape(cs: list[dict]) -> list[tuple[str, str, str]]:
            return [(c.get("type", ""), c.get("status", ""), c.get("reason", "")) for c in cs]

        # Rewrite status when a condition flips, not for every object that goes (fewer writes).
        if shape(conds) != shape((ns.get("status") or {}).get("conditions") or []):
            status = clone(ns.get("status") or {})
            status["phase"] = "Terminating"
            status["conditions"] = conds
            ns = self.update_status(R.NAMESPACE, ns, status) or ns
        if remaining or self.sim.faults.is_stuck(name):
            return
        rest = [f for f in (ns.get("spec") or {}).get("finalizers") or [] if f != "kubernetes"]
        self.api.finalize_namespace(ns, rest)
