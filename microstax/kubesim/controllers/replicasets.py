"""The ReplicaSet controller: keeps ``spec.replicas`` pods alive from the template and reports status.

A pod refused by quota (or any create error) becomes a ``FailedCreate`` event and a
``ReplicaFailure`` condition, which clears once a pod can be created again.
"""

from __future__ import annotations

from .. import resources as R
from ..errors import ApiError
from ..store import WatchEvent
from ..util import clone
from .base import Controller, Key, condition, get_condition, set_condition
from .ownership import owned, owner_keys, owner_ref, pod_active, pod_from_template, pod_ready


class ReplicaSetController(Controller):
    name = "replicaset"
    component = "replicaset-controller"

    def keys_for(self, event: WatchEvent) -> list[Key]:
        if event.rt is R.REPLICASET:
            return [(event.obj["metadata"].get("namespace", ""), event.obj["metadata"]["name"])]
        if event.rt is R.POD:
            return owner_keys(event, "ReplicaSet")
        if event.rt in (R.QUOTA, R.LIMITRANGE, R.SERVICEACCOUNT):
            ns = event.obj["metadata"].get("namespace", "")
            return [
                (ns, rs["metadata"]["name"])
                for rs in self.store.list(R.REPLICASET, ns)
                if get_condition(rs, "ReplicaFailure") is not None
            ]
        return []

    def reconcile(self, key: Key) -> None:
        rs = self.store.get(R.REPLICASET, *key)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return
        pods = owned(self.store, R.POD, rs)
        active = [p for p in pods if pod_active(p)]
        want = int((rs.get("spec") or {}).get("replicas", 1))
        failure: str | None = None
        if len(active) < want:
            for _ in range(want - len(active)):
                pod = pod_from_template(
                    rs["spec"].get("template") or {}, key[0], f"{key[1]}-", owner_ref(R.REPLICASET, rs)
                )
                try:
                    created = self.api.ctl_create(R.POD, pod, "kube-controller-manager")
                except ApiError as err:
                    failure = err.message
                    self.event(R.REPLICASET, rs, "Warning", "FailedCreate", f"Error creating: {err.message}")
                    break
                active.append(created)
                self.event(
                    R.REPLICASET, rs, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}"
                )
        elif len(active) > want:
            # Delete not-ready pods first, then the newest, like the real controller's ranking.
            victims = sorted(
                active, key=lambda p: (pod_ready(p), p["metadata"].get("creationTimestamp", "")), reverse=False
            )[: len(active) - want]
            for p in victims:
                self.api.ctl_delete(R.POD, p)
                self.event(R.REPLICASET, rs, "Normal", "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}")
                active.remove(p)
        rs = self.store.get(R.REPLICASET, *key) or rs
        status = clone(rs.get("status") or {})
        ready = sum(1 for p in active if pod_ready(p))
        labels = ((rs.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
        status.update(
            replicas=len(active),
            fullyLabeledReplicas=sum(
                1 for p in active if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
            ),
            readyReplicas=ready,
            availableReplicas=ready,
            observedGeneration=rs["metadata"].get("generation", 1),
        )
        for k in ("readyReplicas", "availableReplicas", "fullyLabeledReplicas"):
            if status[k] == 0:
                status.pop(k)
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "ReplicaFailure"]
        if failure:
            conditions = set_condition(conditions, condition("ReplicaFailure", "True", "FailedCreate", failure))
        elif len(active) < want and get_condition(rs, "ReplicaFailure"):
            conditions.append(get_condition(rs, "ReplicaFailure") or {})
        if conditions:
            status["conditions"] = conditions
        else:
            status.pop("conditions", None)
        self.update_status(R.REPLICASET, rs, status)
