"""Deployment, ReplicaSet and Job controllers.

Rollouts are simplified to one step (the new ReplicaSet gets all replicas; old ones scale to 0
once it is available) but every status field and condition kubectl's rollout-status logic reads
is maintained, including ``ProgressDeadlineExceeded`` after ``progressDeadlineSeconds`` without
progress (scaled by the time factor) and the ``ReplicaFailure``/``FailedCreate`` pair a quota
rejection produces.
"""

from __future__ import annotations

import math
import time
from typing import Any

from .. import resources as R
from ..errors import ApiError
from ..resources import ResourceType
from ..store import WatchEvent
from ..util import Obj, clone, now_rfc3339, parse_rfc3339, short_hash
from .base import Controller, Key, condition, get_condition, set_condition


def controller_ref(obj: Obj) -> dict[str, Any] | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def owner_ref(rt: ResourceType, owner: Obj) -> dict[str, Any]:
    return {
        "apiVersion": rt.api_version,
        "kind": rt.kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned(store: Any, rt: ResourceType, owner: Obj) -> list[Obj]:
    uid = owner["metadata"]["uid"]
    return [
        o for o in store.list(rt, owner["metadata"].get("namespace")) if (controller_ref(o) or {}).get("uid") == uid
    ]


def pod_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def pod_active(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") and not pod["metadata"].get(
        "deletionTimestamp"
    )


def _pod_from_template(template: Obj, namespace: str, generate_name: str, owner: dict[str, Any]) -> Obj:
    tmpl = clone(template)
    md = tmpl.get("metadata") or {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": generate_name,
            "namespace": namespace,
            "labels": md.get("labels") or {},
            **({"annotations": md["annotations"]} if md.get("annotations") else {}),
            "ownerReferences": [owner],
        },
        "spec": tmpl.get("spec") or {},
    }


def _owner_keys(event: WatchEvent, kind: str) -> list[Key]:
    ref = controller_ref(event.obj)
    if ref and ref.get("kind") == kind:
        return [(event.obj["metadata"].get("namespace", ""), ref["name"])]
    return []


class ReplicaSetController(Controller):
    name = "replicaset"
    component = "replicaset-controller"

    def keys_for(self, event: WatchEvent) -> list[Key]:
        if event.rt is R.REPLICASET:
            return [(event.obj["metadata"].get("namespace", ""), event.obj["metadata"]["name"])]
        if event.rt is R.POD:
            return _owner_keys(event, "ReplicaSet")
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
                pod = _pod_from_template(
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


class DeploymentController(Controller):
    name = "deployment"
    component = "deployment-controller"

    def keys_for(self, event: WatchEvent) -> list[Key]:
        if event.rt is R.DEPLOYMENT:
            return [(event.obj["metadata"].get("namespace", ""), event.obj["metadata"]["name"])]
        if event.rt is R.REPLICASET:
            return _owner_keys(event, "Deployment")
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
        new_d = clone(d)
        new_d["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(revision)
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


class JobController(Controller):
    name = "job"
    component = "job-controller"

    def keys_for(self, event: WatchEvent) -> list[Key]:
        if event.rt is R.JOB:
            return [(event.obj["metadata"].get("namespace", ""), event.obj["metadata"]["name"])]
        if event.rt is R.POD:
            return _owner_keys(event, "Job")
        return []

    def reconcile(self, key: Key) -> None:
        job = self.store.get(R.JOB, *key)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return
        spec = job.get("spec") or {}
        status = clone(job.get("status") or {})
        conds = status.get("conditions") or []
        finished = any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conds)
        pods = owned(self.store, R.POD, job)
        if finished:
            self._ttl(job, key)
            return
        now = time.time()
        if "startTime" not in status and not spec.get("suspend"):
            status["startTime"] = now_rfc3339(now)
        active = [p for p in pods if pod_active(p)]
        succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed")
        completions = int(spec.get("completions") or 1)
        parallelism = int(spec.get("parallelism") or 1)
        backoff_limit = int(spec.get("backoffLimit", 6))
        outcome: tuple[str, str, str] | None = None
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and "startTime" in status:
            due = parse_rfc3339(status["startTime"]) + self.delays.wall(deadline)
            if now >= due:
                outcome = ("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
            else:
                self.enqueue(key, due - now + 0.001)
        if outcome is None and failed > backoff_limit:
            outcome = ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        if outcome is None and succeeded >= completions:
            outcome = ("Complete", "", "")
        if outcome is None and not spec.get("suspend"):
            want = min(parallelism, completions - succeeded) - len(active)
            delay = 0.0
            if failed and want > 0:
                last_fail = max(
                    parse_rfc3339(_finished_at(p) or now_rfc3339(now))
                    for p in pods
                    if (p.get("status") or {}).get("phase") == "Failed"
                )
                backoff = min(self.delays.job_backoff * 2 ** (failed - 1), 360)
                delay = last_fail + self.delays.wall(backoff) - now
            if want > 0 and delay > 0:
                self.enqueue(key, delay + 0.001)
            elif want > 0:
                for _ in range(want):
                    pod = _pod_from_template(spec.get("template") or {}, key[0], f"{key[1]}-", owner_ref(R.JOB, job))
                    try:
                        created = self.api.ctl_create(R.POD, pod, "kube-controller-manager")
                    except ApiError as err:
                        self.event(R.JOB, job, "Warning", "FailedCreate", f"Error creating: {err.message}")
                        break
                    active.append(created)
                    self.event(R.JOB, job, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
        status["active"] = len(active)
        status["ready"] = sum(1 for p in active if pod_ready(p))
        status["succeeded"], status["failed"] = succeeded, failed
        status["terminating"] = 0
        status["uncountedTerminatedPods"] = {}
        for k in ("active", "succeeded", "failed"):
            if status[k] == 0:
                status.pop(k)
        if outcome is not None:
            ctype, reason, message = outcome
            if ctype == "Complete":
                conds = set_condition(
                    conds,
                    condition(
                        "SuccessCriteriaMet",
                        "True",
                        "CompletionsReached",
                        "Reached expected number of succeeded pods",
                        probe=True,
                    ),
                )
                conds = set_condition(
                    conds,
                    condition(
                        "Complete",
                        "True",
                        "CompletionsReached",
                        "Reached expected number of succeeded pods",
                        probe=True,
                    ),
                )
                status["completionTime"] = now_rfc3339(now)
                self.event(R.JOB, job, "Normal", "Completed", "Job completed")
            else:
                conds = set_condition(conds, condition("FailureTarget", "True", reason, message, probe=True))
                conds = set_condition(conds, condition("Failed", "True", reason, message, probe=True))
                self.event(R.JOB, job, "Warning", reason, message)
                for p in active:
                    self.api.ctl_delete(R.POD, p)
                status.pop("active", None)
            status["conditions"] = conds
        self.update_status(R.JOB, job, status)
        if outcome is not None:
            self._ttl(self.store.get(R.JOB, *key) or job, key)

    def _ttl(self, job: Obj, key: Key) -> None:
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return
        st = job.get("status") or {}
        finished = st.get("completionTime") or next(
            (c.get("lastTransitionTime") for c in st.get("conditions") or [] if c.get("type") == "Failed"), None
        )
        if not finished:
            return
        due = parse_rfc3339(finished) + self.delays.wall(ttl) - time.time()
        if due > 0:
            self.enqueue(key, due + 0.001)
        else:
            self.api.ctl_delete(R.JOB, job, policy="Background")


def _finished_at(pod: Obj) -> str | None:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        t = ((cs.get("state") or {}).get("terminated") or {}).get("finishedAt")
        if t:
            return t
    return None
