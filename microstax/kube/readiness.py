"""Pure readiness rules per kind, and the diagnosis of why something is not ready.

No I/O here: ``wait.py`` feeds live objects (from its watches) into these functions, which keeps
the rules — the part most worth testing — testable on plain dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .objects import Obj, conditions, matches_selector, metadata


class State(StrEnum):
    READY = "ready"
    PENDING = "pending"
    FAILED = "failed"


class Reason(StrEnum):
    """Stable codes for why an object is not ready (the UI and GraphQL switch on these)."""

    NOT_FOUND = "NotFound"
    PENDING = "Pending"
    TERMINATING = "Terminating"
    ERR_IMAGE_PULL = "ErrImagePull"
    IMAGE_PULL_BACKOFF = "ImagePullBackOff"
    INVALID_IMAGE = "InvalidImageName"
    CRASH_LOOP = "CrashLoopBackOff"
    CONTAINER_CONFIG = "CreateContainerConfigError"
    CONTAINER_ERROR = "CreateContainerError"
    QUOTA_EXCEEDED = "QuotaExceeded"
    FAILED_CREATE = "FailedCreate"
    UNSCHEDULABLE = "Unschedulable"
    PROGRESS_DEADLINE = "ProgressDeadlineExceeded"
    JOB_FAILED = "JobFailed"
    CLAIM_LOST = "ClaimLost"
    NOT_ACCEPTED = "NotAccepted"
    DEADLINE_EXCEEDED = "DeadlineExceeded"


# Pod-level reasons that do not fix themselves without someone changing the spec or the cluster;
# with fail_fast a workload showing one is reported failed at once instead of at the deadline.
FAIL_FAST_REASONS = frozenset(
    {
        Reason.ERR_IMAGE_PULL,
        Reason.IMAGE_PULL_BACKOFF,
        Reason.INVALID_IMAGE,
        Reason.CRASH_LOOP,
        Reason.CONTAINER_CONFIG,
        Reason.CONTAINER_ERROR,
        Reason.QUOTA_EXCEEDED,
        Reason.FAILED_CREATE,
    }
)
# Most telling first: when several pods disagree, report the reason a human should fix first.
_PRIORITY = [
    Reason.PROGRESS_DEADLINE,
    Reason.JOB_FAILED,
    Reason.QUOTA_EXCEEDED,
    Reason.FAILED_CREATE,
    Reason.INVALID_IMAGE,
    Reason.IMAGE_PULL_BACKOFF,
    Reason.ERR_IMAGE_PULL,
    Reason.CRASH_LOOP,
    Reason.CONTAINER_CONFIG,
    Reason.CONTAINER_ERROR,
    Reason.UNSCHEDULABLE,
    Reason.CLAIM_LOST,
    Reason.NOT_ACCEPTED,
]
_WAITING_REASONS = {r.value: r for r in _PRIORITY}


@dataclass(frozen=True)
class Verdict:
    """Readiness of one object now: a state, a reason code when not ready, a human message."""

    state: State
    reason: str = ""
    message: str = ""

    @classmethod
    def ready(cls, message: str = "") -> Verdict:
        return cls(State.READY, "", message)

    @classmethod
    def pending(cls, message: str, reason: str = Reason.PENDING) -> Verdict:
        return cls(State.PENDING, reason, message)

    @classmethod
    def failed(cls, reason: str, message: str) -> Verdict:
        return cls(State.FAILED, reason, message)


# -- per-kind rules -----------------------------------------------------------------------------


def deployment(obj: Obj) -> Verdict:
    """kubectl's rollout-status rules, plus ProgressDeadlineExceeded as a failure."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    conds = conditions(obj)
    progressing = conds.get("Progressing") or {}
    if progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Verdict.failed(Reason.PROGRESS_DEADLINE, progressing.get("message") or "progress deadline exceeded")
    if int(status.get("observedGeneration") or 0) < int(metadata(obj).get("generation") or 0):
        return Verdict.pending("waiting for the rollout to be observed")
    failure = conds.get("ReplicaFailure") or {}
    if failure.get("status") == "True":
        return Verdict.pending(failure.get("message") or "replica creation failed", _failed_create_reason(failure))
    want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < want:
        return Verdict.pending(f"{updated} of {want} replicas updated")
    if total > updated:
        return Verdict.pending(f"{total - updated} old replicas pending termination")
    if available < updated:
        return Verdict.pending(f"{available} of {updated} updated replicas available")
    return Verdict.ready(f"{available} of {want} replicas available")


def statefulset(obj: Obj) -> Verdict:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if int(status.get("observedGeneration") or 0) < int(metadata(obj).get("generation") or 0):
        return Verdict.pending("waiting for the rollout to be observed")
    want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    if updated < want or ready < want:
        return Verdict.pending(f"{ready} of {want} replicas ready, {updated} updated")
    return Verdict.ready(f"{ready} of {want} replicas ready")


def job(obj: Obj) -> Verdict:
    """Complete (or SuccessCriteriaMet) is ready; Failed (or FailureTarget) is a failure."""
    conds = conditions(obj)
    for ctype in ("Failed", "FailureTarget"):
        c = conds.get(ctype) or {}
        if c.get("status") == "True":
            detail = ": ".join(x for x in (c.get("reason"), c.get("message")) if x)
            return Verdict.failed(Reason.JOB_FAILED, detail or "job failed")
    for ctype in ("Complete", "SuccessCriteriaMet"):
        if (conds.get(ctype) or {}).get("status") == "True":
            return Verdict.ready("completed")
    if (obj.get("spec") or {}).get("suspend"):
        return Verdict.pending("suspended")
    status = obj.get("status") or {}
    return Verdict.pending(
        f"{status.get('active') or 0} active, {status.get('succeeded') or 0} succeeded, "
        f"{status.get('failed') or 0} failed"
    )


def persistent_volume_claim(obj: Obj, binding_mode: Callable[[str | None], str]) -> Verdict:
    """Bound is ready; a Pending claim of a WaitForFirstConsumer class is not blocking.

    Such a claim binds only once a pod using it is scheduled, so waiting for Bound before the
    pod exists would deadlock a wave (a classic false "not ready" on k3s's local-path).
    """
    phase = (obj.get("status") or {}).get("phase") or "Pending"
    if phase == "Bound":
        return Verdict.ready("bound")
    if phase == "Lost":
        return Verdict.failed(Reason.CLAIM_LOST, "the bound volume is lost")
    storage_class = (obj.get("spec") or {}).get("storageClassName")
    if binding_mode(storage_class) == "WaitForFirstConsumer":
        return Verdict.ready("waits for its first consumer (WaitForFirstConsumer)")
    return Verdict.pending(f"claim is {phase}")


def service(obj: Obj) -> Verdict:
    """A clusterIP (or headless / ExternalName) is enough; load balancers are not awaited."""
    spec = obj.get("spec") or {}
    if spec.get("type") == "ExternalName" or spec.get("clusterIP"):
        return Verdict.ready()
    return Verdict.pending("no clusterIP assigned yet")


def ingress(obj: Obj) -> Verdict:
    lb = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if lb:
        return Verdict.ready("admitted by the ingress controller")
    return Verdict.pending("not yet admitted by an ingress controller")


def http_route(obj: Obj) -> Verdict:
    parents = (obj.get("status") or {}).get("parents") or []
    accepted = [c for p in parents for c in p.get("conditions") or [] if c.get("type") == "Accepted"]
    if any(c.get("status") == "True" for c in accepted):
        return Verdict.ready("accepted by its gateway")
    refused = next((c for c in accepted if c.get("status") == "False"), None)
    if refused is not None:
        return Verdict.failed(Reason.NOT_ACCEPTED, f"{refused.get('reason')}: {refused.get('message') or ''}")
    return Verdict.pending("not yet accepted by a gateway")


def namespace(obj: Obj) -> Verdict:
    if metadata(obj).get("deletionTimestamp") or (obj.get("status") or {}).get("phase") == "Terminating":
        return Verdict.pending("namespace is terminating", Reason.TERMINATING)
    return Verdict.ready()


def pod(obj: Obj) -> Verdict:
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return Verdict.ready("succeeded")
    if phase == "Failed":
        return Verdict.failed(Reason.JOB_FAILED, "pod failed")
    if (conditions(obj).get("Ready") or {}).get("status") == "True":
        return Verdict.ready()
    return Verdict.pending(f"pod is {phase or 'Pending'}")


def evaluate(obj: Obj | None, *, binding_mode: Callable[[str | None], str]) -> Verdict:
    """Readiness of a live object (``None`` = not found). Unlisted kinds are ready once they exist."""
    if obj is None:
        return Verdict.pending("not found", Reason.NOT_FOUND)
    if metadata(obj).get("deletionTimestamp") and obj.get("kind") != "Namespace":
        return Verdict.pending("being deleted", Reason.TERMINATING)
    kind = obj.get("kind")
    if kind == "Deployment":
        return deployment(obj)
    if kind == "StatefulSet":
        return statefulset(obj)
    if kind == "Job":
        return job(obj)
    if kind == "PersistentVolumeClaim":
        return persistent_volume_claim(obj, binding_mode)
    if kind == "Service":
        return service(obj)
    if kind == "Ingress":
        return ingress(obj)
    if kind == "HTTPRoute":
        return http_route(obj)
    if kind == "Namespace":
        return namespace(obj)
    if kind == "Pod":
        return pod(obj)
    return Verdict.ready()


# -- diagnosis ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One observed problem: a reason code, a message, and where it was seen (``pod/web-x``)."""

    reason: Reason
    message: str
    source: str


def _failed_create_reason(condition: Mapping[str, Any]) -> Reason:
    return Reason.QUOTA_EXCEEDED if "quota" in (condition.get("message") or "") else Reason.FAILED_CREATE


def pod_findings(pod_obj: Obj) -> list[Finding]:
    """Problems a pod shows: container waiting reasons, crash loops, unschedulable."""
    name = f"pod/{metadata(pod_obj).get('name')}"
    status = pod_obj.get("status") or {}
    found: list[Finding] = []
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = _WAITING_REASONS.get(waiting.get("reason") or "")
        last = (cs.get("lastState") or {}).get("terminated") or {}
        if reason is not None:
            message = waiting.get("message") or waiting["reason"]
            found.append(Finding(reason, f"container {cs.get('name')}: {message}", name))
        elif not cs.get("ready") and int(cs.get("restartCount") or 0) > 0 and last.get("exitCode"):
            # Between two crashes a crash-looping container is briefly Running, not waiting in
            # CrashLoopBackOff; its restart count and last exit tell the same story.
            found.append(
                Finding(
                    Reason.CRASH_LOOP,
                    f"container {cs.get('name')}: restarted {cs['restartCount']} times, "
                    f"last exit code {last['exitCode']} ({last.get('reason') or 'Error'})",
                    name,
                )
            )
    scheduled = conditions(pod_obj).get("PodScheduled") or {}
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        found.append(Finding(Reason.UNSCHEDULABLE, scheduled.get("message") or "unschedulable", name))
    return found


def _owned_by(obj: Obj, uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in metadata(obj).get("ownerReferences") or [])


def workload_findings(
    target: Obj, pods: Iterable[Obj], replicasets: Iterable[Obj], events: Iterable[Obj]
) -> list[Finding]:
    """Problems of a Deployment/StatefulSet/Job seen on its ReplicaSets, pods and Warning events."""
    uid = metadata(target).get("uid", "")
    found: list[Finding] = []
    related_uids = {uid}
    for rs in replicasets:
        if not _owned_by(rs, uid):
            continue
        related_uids.add(metadata(rs).get("uid", ""))
        failure = conditions(rs).get("ReplicaFailure") or {}
        if failure.get("status") == "True":
            found.append(
                Finding(
                    _failed_create_reason(failure), failure.get("message") or "", f"replicaset/{metadata(rs)['name']}"
                )
            )
    selector = (target.get("spec") or {}).get("selector")
    for p in pods:
        if matches_selector(selector, metadata(p).get("labels") or {}) or _owned_by(p, uid):
            related_uids.add(metadata(p).get("uid", ""))
            found += pod_findings(p)
    for ev in events:
        involved = ev.get("involvedObject") or {}
        if ev.get("type") != "Warning" or involved.get("uid") not in related_uids:
            continue
        source = f"{(involved.get('kind') or '').lower()}/{involved.get('name')}"
        if ev.get("reason") == "FailedCreate":
            found.append(Finding(_failed_create_reason(ev), ev.get("message") or "", source))
        elif ev.get("reason") == "FailedScheduling":
            found.append(Finding(Reason.UNSCHEDULABLE, ev.get("message") or "", source))
    return found


def most_telling(findings: Iterable[Finding]) -> Finding | None:
    """The finding a human should look at first (see ``_PRIORITY``)."""
    ranked = sorted(findings, key=lambda f: _PRIORITY.index(f.reason) if f.reason in _PRIORITY else len(_PRIORITY))
    return ranked[0] if ranked else None
