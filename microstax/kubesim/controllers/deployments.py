"""The Deployment controller.

Rollouts are simplified to one step (the new ReplicaSet gets all replicas; old ones scale to 0
once it is available) but every status field and condition kubectl's rollout-status logic reads
is maintained, including ``ProgressDeadlineExceeded`` after ``progressDeadlineSeconds`` without
progress (scaled by the time factor).
"""

from __future__ import annotations

import math
import time
from typing import Any

from .. import resources as R
from ..errors import ApiError
from ..store import WatchEvent
from ..util import Obj, clone, now_rfc3339, parse_rfc3339, short_hash
from .base import Controller, Key, condition, get_condition, set_condition
from .ownership import owned, owner_keys, owner_ref


class DeploymentController(Controller):
    name = "deployment"
    component = "deployment-controller"

    def keys_for(self, event: WatchEvent) -> list[Key]:
        if event.rt is R.DEPLOYMENT:
            return [(event.obj["metadata"].get("namespace", ""), event.obj["metadata"]["name"])]
        if event.rt is R.REPLICASET:
            return owner_keys(event, "Deployment")
        return []

    def reconcile(self, key: Key) -> None:
        d = self.store.get(R.DEPLOYMENT, *key)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return
        spec = d.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        pth = short_hash(template)
        rss = owned(self.store, R.REPLICASET, d)
        new_rs = next((r for r in rss if (r["metadata"].get("labels") or {}).get("pod-template-hash") == pth), None)
        old_rss = [r for r in rss if r is not new_rs]
        created_new = False
        if spec.get("paused"):
            self._status(d, new_rs, rss, created_new=False)
            return
        if new_rs is None:
            new_rs = self._create_rs(d, pth, template, replicas, old_rss)
            created_new = new_rs is not None
            if new_rs is None:
                return
            rss.append(new_rs)
        elif int(new_rs["spec"].get("replicas", 0)) != replicas:
            new_rs = self._scale(d, new_rs, replicas) or new_rs
        new_available = int((new_rs.get("status") or {}).get("availableReplicas", 0))
        if new_available >= replicas or (spec.get("strategy") or {}).get("type") == "Recreate":
            for old in old_rss:
                if int(old["spec"].get("replicas", 0)) != 0:
                    self._scale(d, old, 0)
        self._cleanup(d, old_rss)
        self._status(d, new_rs, owned(self.store, R.REPLICASET, d), created_new=created_new)

    def _create_rs(self, d: Obj, pth: str, template: Obj, replicas: int, old_rss: list[Obj]) -> Obj | None:
        name = f"{d['metadata']['name']}-{pth}"
        revision = 1 + max(
            [
                int((r["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", "0"))
                for r in old_rss
            ]
            or [0]
        )
        tmpl = clone(template)
        tmpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = pth
        selector = clone(d["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})["pod-template-hash"] = pth
        max_surge = _resolve(
            ((d["spec"].get("strategy") or {}).get("rollingUpdate") or {}).get("maxSurge", "25%"), replicas, up=True
        )
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": d["metadata"]["namespace"],
                "labels": dict(tmpl["metadata"]["labels"]),
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": str(replicas),
                    "deployment.kubernetes.io/max-replicas": str(replicas + max_surge),
                    "deployment.kubernetes.io/revision": str(revision),
                },
                "ownerReferences": [owner_ref(R.DEPLOYMENT, d)],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": tmpl},
        }
        if d["spec"].get("minReadySeconds"):
            rs["spec"]["minReadySeconds"] = d["spec"]["minReadySeconds"]
        try:
            created = self.api.ctl_create(R.REPLICASET, rs, "kube-controller-manager")
        except ApiError as err:
            if err.code == 409:
                return self.store.get(R.REPLICASET, d["metadata"]["namespace"], name)
            self.event(
                R.DEPLOYMENT, d, "Warning", "FailedCreate", f"Failed to create new replica set {name!r}: {err.message}"
            )
            return None
        self.event(R.DEPLOYMENT, d, "Normal", "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {replicas}")
        annotations = dict(
            d["metadata"].get("annotations") or {}, **{"deployment.kubernetes.io/revision": str(revision)}
        )
        new_d = dict(d, metadata=dict(d["metadata"], annotations=annotations))
        self.api.ctl_update(R.DEPLOYMENT, new_d, "kube-controller-manager")
        return created

    def _scale(self, d: Obj, rs: Obj, replicas: int) -> Obj | None:
        old = int(rs["spec"].get("replicas", 0))
        new = clone(rs)
        new["spec"]["replicas"] = replicas
        new["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/desired-replicas"] = str(
            (d.get("spec") or {}).get("replicas", 1)
        )
        out = self.api.ctl_update(R.REPLICASET, new, "kube-controller-manager")
        direction = "up" if replicas > old else "down"
        self.event(
            R.DEPLOYMENT,
            d,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled {direction} replica set {rs['metadata']['name']} from {old} to {replicas}",
        )
        return out

    def _cleanup(self, d: Obj, old_rss: list[Obj]) -> None:
        limit = int((d.get("spec") or {}).get("revisionHistoryLimit", 10))
        idle = [
            r
            for r in old_rss
            if int(r["spec"].get("replicas", 0)) == 0 and int((r.get("status") or {}).get("replicas", 0)) == 0
        ]
        idle.sort(
            key=lambda r: int((r["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", "0"))
        )
        for r in idle[: max(0, len(idle) - limit)]:
            self.api.ctl_delete(R.REPLICASET, r)

    def _status(self, d: Obj, new_rs: Obj | None, rss: list[Obj], *, created_new: bool) -> None:
        spec = d.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        st = [r.get("status") or {} for r in rss]
        total = sum(int(s.get("replicas", 0)) for s in st)
        ready = sum(int(s.get("readyReplicas", 0)) for s in st)
        available = sum(int(s.get("availableReplicas", 0)) for s in st)
        updated = int((new_rs or {}).get("status", {}).get("replicas", 0)) if new_rs else 0
        old = d.get("status") or {}
        status: dict[str, Any] = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
        }
        if replicas - available > 0:
            status["unavailableReplicas"] = replicas - available
        for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"):
            if status[k] == 0:
                status.pop(k)
        max_unavailable = _resolve(
            ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable", "25%"), replicas, up=False
        )
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            max_unavailable = 0
        conditions = list(old.get("conditions") or [])
        now = now_rfc3339()
        if available >= replicas - max_unavailable:
            avail = condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            avail = condition(
                "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."
            )
        avail["lastUpdateTime"] = now
        conditions = set_condition(conditions, avail, update_time=True)
        rs_name = (new_rs or {}).get("metadata", {}).get("name", "")
        complete = updated == replicas and available == replicas and total == replicas and new_rs is not None
        previous = get_condition(d, "Progressing")
        progressed = any(
            int(status.get(k, 0)) != int(old.get(k, 0))
            for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
        ) or d["metadata"].get("generation", 1) != old.get("observedGeneration")
        deadline = spec.get("progressDeadlineSeconds", 600)
        if complete:
            prog = condition(
                "Progressing", "True", "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.'
            )
        elif created_new:
            prog = condition("Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{rs_name}"')
        elif progressed or previous is None:
            prog = condition("Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        elif previous.get("reason") == "ProgressDeadlineExceeded":
            prog = previous
        else:
            last = parse_rfc3339(previous.get("lastUpdateTime") or previous.get("lastTransitionTime") or now)
            if time.time() >= last + self.delays.wall(deadline):
                prog = condition(
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{rs_name}" has timed out progressing.',
                )
                self.event(
                    R.DEPLOYMENT,
                    d,
                    "Warning",
                    "ProgressDeadlineExceeded",
                    f'Deployment "{d["metadata"]["name"]}" has timed out progressing.',
                )
            else:
                prog = previous
        if prog is not previous:
            prog["lastUpdateTime"] = now
        conditions = set_condition(conditions, prog)
        failure = get_condition(new_rs, "ReplicaFailure") if new_rs else None
        conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
        if failure:
            conditions.append(dict(failure))
        status["conditions"] = conditions
        self.update_status(R.DEPLOYMENT, d, status)
        if not complete and prog.get("reason") != "ProgressDeadlineExceeded" and deadline is not None:
            last = parse_rfc3339(prog.get("lastUpdateTime", now))
            due = last + self.delays.wall(deadline) - time.time()
            self.enqueue((d["metadata"]["namespace"], d["metadata"]["name"]), max(due, 0.0) + 0.001)


def _resolve(value: Any, replicas: int, *, up: bool) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        frac = replicas * int(value[:-1]) / 100
        return math.ceil(frac) if up else math.floor(frac)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
