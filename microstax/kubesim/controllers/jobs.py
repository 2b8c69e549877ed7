"""The Job controller: pods until completions, back-off on failure, deadlines and TTL after finishing."""

from __future__ import annotations

import time

from .. import resources as R
from ..errors import ApiError
from ..store import WatchEvent
from ..util import Obj, clone, now_rfc3339, parse_rfc3339
from .base import Controller, Key, condition, set_condition
from .ownership import owned, owner_keys, owner_ref, pod_active, pod_from_template, pod_ready


class JobController(Controller):
    name = "job"
    component = "job-controller"

    def keys_for(self, event: WatchEvent) -> list[Key]:
        if event.rt is R.JOB:
            return [(event.obj["metadata"].get("namespace", ""), event.obj["metadata"]["name"])]
        if event.rt is R.POD:
            return owner_keys(event, "Job")
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
                    pod = pod_from_template(spec.get("template") or {}, key[0], f"{key[1]}-", owner_ref(R.JOB, job))
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
