"""Wait until objects are ready, driven by watches, and explain the ones that are not.

One LIST + WATCH per (kind, namespace) — not per object, and never a polling loop — feeds a local
cache; the pure rules of ``readiness.py`` are re-evaluated on every change. With ``fail_fast``
the pods (and, for Jobs, the events) of each namespace are watched too, so a missing image or a
crash loop fails the wait at once instead of at the deadline.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .client import ClusterLike, KubeClient, ResourceInfo, get_client
from .deadline import Deadline, DeadlineLike
from .errors import KubeError, NotFound, UnknownKind
from .objects import Obj, ObjectRef
from .readiness import (
    FAIL_FAST_REASONS,
    Finding,
    Reason,
    State,
    Verdict,
    evaluate,
    most_telling,
    pod_findings,
    workload_findings,
)
from .watch import ListWatch, WatchMessage, list_objects

_WORKLOADS = frozenset({"Deployment", "StatefulSet", "Job"})
GroupKey = tuple[str, str, str]  # (apiVersion, kind, namespace)
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


@dataclass(frozen=True)
class ObjectReadiness:
    """The outcome for one object: state, reason code (empty when ready), message, evidence."""

    ref: ObjectRef
    state: State
    reason: str = ""
    message: str = ""
    details: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return self.state is State.READY


@dataclass
class ReadinessReport:
    """Per-object readiness after a wait, in the order the objects were given."""

    objects: list[ObjectReadiness] = field(default_factory=list)
    elapsed: float = 0.0
    timed_out: bool = False

    @property
    def ready(self) -> bool:
        return all(o.ready for o in self.objects)

    @property
    def failed(self) -> list[ObjectReadiness]:
        return [o for o in self.objects if o.state is State.FAILED]

    @property
    def pending(self) -> list[ObjectReadiness]:
        return [o for o in self.objects if o.state is State.PENDING]

    def get(self, kind: str, name: str, namespace: str | None = None) -> ObjectReadiness:
        """The entry of one object by kind and name (and namespace when ambiguous)."""
        for o in self.objects:
            if o.ref.kind == kind and o.ref.name == name and (namespace is None or o.ref.namespace == namespace):
                return o
        raise KeyError(f"{kind}/{name}")


def _refs(objects: Iterable[Mapping[str, Any] | ObjectRef]) -> tuple[list[ObjectRef], dict[ObjectRef, Obj]]:
    """The distinct refs to wait for, and the live objects among the inputs (from ``apply``)."""
    refs: dict[ObjectRef, None] = {}
    live: dict[ObjectRef, Obj] = {}
    for item in objects:
        ref = item if isinstance(item, ObjectRef) else ObjectRef.of(item)
        refs.setdefault(ref, None)
        if not isinstance(item, ObjectRef) and str((item.get("metadata") or {}).get("resourceVersion") or "").isdigit():
            live[ref] = dict(item)
    return list(refs), live


class _PodIndex:
    """A namespace's pods by label and owner, and its Warning events: the fail-fast check of each
    pending workload reads its own few pods instead of scanning every pod and event of the
    namespace, which made waiting for a large namespace grow with the square of its size."""

    def __init__(self, pods: list[Obj], events: list[Obj]) -> None:
        self.pods = pods
        self.by_label: dict[tuple[str, str], list[Obj]] = {}
        self.by_owner: dict[str, list[Obj]] = {}
        for pod in pods:
            md = pod.get("metadata") or {}
            for pair in (md.get("labels") or {}).items():
                self.by_label.setdefault(pair, []).append(pod)
            for owner in md.get("ownerReferences") or []:
                self.by_owner.setdefault(owner.get("uid", ""), []).append(pod)
        self.warnings = [e for e in events if e.get("type") == "Warning"]

    def candidates(self, workload: Obj) -> list[Obj]:
        """Pods that may belong to ``workload``: a superset, which ``workload_findings`` narrows."""
        selector = (workload.get("spec") or {}).get("selector")
        labels = selector.get("matchLabels") if isinstance(selector, dict) else None
        if not labels:
            return self.pods
        matching = min((self.by_label.get(pair, []) for pair in labels.items()), key=len)
        owned = self.by_owner.get((workload.get("metadata") or {}).get("uid", ""), [])
        return list({id(p): p for p in (*matching, *owned)}.values())


class _Waiter:
    """The state of one ``wait_ready`` call: cache, watches, verdicts."""

    def __init__(
        self, client: KubeClient, refs: list[ObjectRef], live: dict[ObjectRef, Obj], deadline: Deadline, fail_fast: bool
    ) -> None:
        self.client = client
        self.refs = refs
        self.live = live
        self.deadline = deadline
        self.fail_fast = fail_fast
        self.sink: queue.Queue[WatchMessage] = queue.Queue()
        self.cache: dict[GroupKey, dict[str, Obj]] = {}
        self.names: dict[GroupKey, set[str]] = {}
        self.resources: dict[GroupKey, ResourceInfo] = {}
        self.versions: dict[GroupKey, str] = {}
        self.watchers: list[ListWatch] = []
        self.verdicts: dict[ObjectRef, Verdict] = {}
        for ref in refs:
            self.names.setdefault((ref.api_version, ref.kind, ref.namespace), set()).add(ref.name)

    # -- data ----------------------------------------------------------------------------------

    def _selector(self, key: GroupKey) -> str | None:
        names = self.names.get(key) or set()
        return f"metadata.name={next(iter(names))}" if len(names) == 1 else None

    def _load(self, key: GroupKey) -> None:
        """Initial state of a group: the live objects we were handed, else a LIST.

        Objects fresh from ``apply`` need no LIST: watching from the oldest of their
        resourceVersions replays everything that happened to any of them since (were that
        too old for the server's history, the watch's 410 would make it re-list).
        """
        api_version, kind, namespace = key
        self.resources[key] = self.client.resource(api_version, kind)
        seeds = [self.live.get(ObjectRef(api_version, kind, namespace, name)) for name in self.names.get(key, ())]
        if seeds and all(seed is not None for seed in seeds):
            self.cache[key] = {o["metadata"]["name"]: o for o in seeds if o is not None}
            self.versions[key] = str(min(int(o["metadata"]["resourceVersion"]) for o in seeds if o is not None))
            return
        result = list_objects(self.client, self.resources[key], namespace or None, field_selector=self._selector(key))
        self.cache[key] = {o["metadata"]["name"]: o for o in result.items}
        self.versions[key] = result.resource_version

    def _aux_groups(self) -> list[GroupKey]:
        """Pods (and events, for Jobs) of every namespace holding a workload; fail-fast only."""
        if not self.fail_fast:
            return []
        keys: list[GroupKey] = []
        for ref in self.refs:
            if ref.kind in _WORKLOADS and ("v1", "Pod", ref.namespace) not in keys:
                keys.append(("v1", "Pod", ref.namespace))
            if ref.kind == "Job" and ("v1", "Event", ref.namespace) not in keys:
                keys.append(("v1", "Event", ref.namespace))
        return keys

    def binding_mode(self, storage_class: str | None) -> str:
        """``volumeBindingMode`` of a StorageClass (``None`` = the default class), cached a minute."""
        return self.client.memo(
            ("volumeBindingMode", storage_class), 60.0, lambda: self._lookup_binding_mode(storage_class)
        )

    def _lookup_binding_mode(self, storage_class: str | None) -> str:
        try:
            resource = self.client.resource("storage.k8s.io/v1", "StorageClass")
            if storage_class:
                sc = self.client.call("GET", resource.path(name=storage_class))
            else:
                items = list_objects(self.client, resource).items
                sc = next(
                    (
                        i
                        for i in items
                        if (i["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
                    ),
                    None,
                )
        except (NotFound, UnknownKind):
            sc = None
        return (sc or {}).get("volumeBindingMode") or "Immediate"

    def _objects(self, api_version: str, kind: str, namespace: str) -> list[Obj]:
        return list((self.cache.get((api_version, kind, namespace)) or {}).values())

    # -- evaluation ----------------------------------------------------------------------------

    def _evaluate(self) -> None:
        indexes: dict[str, _PodIndex] = {}  # per namespace, built once per evaluation when needed
        for ref in self.refs:
            previous = self.verdicts.get(ref)
            if previous is not None and previous.state is State.FAILED:
                continue  # failures are terminal for this wait
            obj = (self.cache.get((ref.api_version, ref.kind, ref.namespace)) or {}).get(ref.name)
            verdict = evaluate(obj, binding_mode=self.binding_mode)
            if self.fail_fast and verdict.state is State.PENDING:
                verdict = self._fail_fast(ref, obj, verdict, indexes)
            self.verdicts[ref] = verdict

    def _fail_fast(self, ref: ObjectRef, obj: Obj | None, verdict: Verdict, indexes: dict[str, _PodIndex]) -> Verdict:
        if verdict.reason in FAIL_FAST_REASONS:
            return Verdict.failed(verdict.reason, verdict.message)
        if obj is None or ref.kind not in _WORKLOADS:
            return verdict
        index = indexes.get(ref.namespace)
        if index is None:
            index = indexes[ref.namespace] = _PodIndex(
                self._objects("v1", "Pod", ref.namespace), self._objects("v1", "Event", ref.namespace)
            )
        findings = workload_findings(obj, index.candidates(obj), (), index.warnings)
        worst = most_telling(f for f in findings if f.reason in FAIL_FAST_REASONS)
        if worst is not None:
            return Verdict.failed(worst.reason, f"{worst.source}: {worst.message}")
        return verdict

    def _done(self) -> bool:
        states = [v.state for v in self.verdicts.values()]
        if self.fail_fast and State.FAILED in states:
            return True
        return State.PENDING not in states

    # -- watching ------------------------------------------------------------------------------

    def _watch(self, key: GroupKey) -> None:
        watcher = ListWatch(
            self.client,
            self.resources[key],
            key[2] or None,
            sink=self.sink,
            key=key,
            resource_version=self.versions[key],
            field_selector=self._selector(key),
            deadline=self.deadline.at,
        )
        watcher.start()
        self.watchers.append(watcher)

    def _absorb(self, message: WatchMessage) -> None:
        if message.kind == "error" and message.error is not None:
            raise message.error
        group = self.cache.setdefault(message.key, {})
        if message.kind == "sync":
            group.clear()
            group.update({o["metadata"]["name"]: o for o in message.items})
        elif message.type == "DELETED":
            group.pop(message.obj["metadata"]["name"], None)
        else:
            group[message.obj["metadata"]["name"]] = message.obj

    def run(self) -> bool:
        """Wait; returns whether the deadline passed with objects still pending."""
        targets = list(self.names)
        for key in targets + self._aux_groups():
            self._load(key)
        self._evaluate()
        if self._done():
            return False
        pending_groups = {
            (r.api_version, r.kind, r.namespace) for r, v in self.verdicts.items() if v.state is State.PENDING
        }
        for key in [k for k in targets if k in pending_groups] + self._aux_groups():
            self._watch(key)
        try:
            while not self._done():
                try:
                    message = self.sink.get(timeout=self.deadline.remaining())
                except queue.Empty:
                    return True
                self._absorb(message)
                # Drain what else arrived before re-evaluating: a rollout is a burst of events.
                while True:
                    try:
                        self._absorb(self.sink.get_nowait())
                    except queue.Empty:
                        break
                self._evaluate()
            return False
        finally:
            for watcher in self.watchers:
                watcher.stop()

    # -- report --------------------------------------------------------------------------------

    def report(self, timed_out: bool, elapsed: float) -> ReadinessReport:
        out = ReadinessReport(elapsed=elapsed, timed_out=timed_out)
        namespaces_needing_context = {
            ref.namespace for ref, v in self.verdicts.items() if v.state is not State.READY and ref.kind in _WORKLOADS
        }
        context = {ns: self._context(ns) for ns in namespaces_needing_context}
        for ref in self.refs:
            verdict = self.verdicts[ref]
            if verdict.state is State.READY:
                out.objects.append(ObjectReadiness(ref, State.READY, "", verdict.message))
                continue
            obj = (self.cache.get((ref.api_version, ref.kind, ref.namespace)) or {}).get(ref.name)
            findings: list[Finding] = []
            if obj is not None and ref.kind in _WORKLOADS:
                pods, replicasets, events = context[ref.namespace]
                findings = workload_findings(obj, pods, replicasets, events)
            elif obj is not None and ref.kind == "Pod":
                findings = pod_findings(obj)
            details = tuple(dict.fromkeys(f"{f.source}: {f.message}" for f in findings))
            reason, message = verdict.reason, verdict.message
            worst = most_telling(findings)
            if verdict.state is State.PENDING and worst is not None:
                reason, message = worst.reason, f"{worst.source}: {worst.message}"
            elif verdict.state is State.PENDING and timed_out and reason == Reason.PENDING:
                reason = Reason.DEADLINE_EXCEEDED
            out.objects.append(ObjectReadiness(ref, verdict.state, str(reason), message, details))
        return out

    def _context(self, namespace: str) -> tuple[list[Obj], list[Obj], list[Obj]]:
        """Pods, ReplicaSets and events of a namespace, for diagnosis (fresh LISTs, best effort)."""
        out: list[list[Obj]] = []
        for api_version, kind in (("v1", "Pod"), ("apps/v1", "ReplicaSet"), ("v1", "Event")):
            try:
                out.append(list_objects(self.client, self.client.resource(api_version, kind), namespace).items)
            except KubeError:
                # Diagnosis must not turn a clear "not ready" into an exception.
                out.append([])
        return out[0], out[1], out[2]


def wait_ready(
    cluster: ClusterLike,
    objects: Iterable[Mapping[str, Any] | ObjectRef],
    deadline: DeadlineLike = 300.0,
    *,
    fail_fast: bool = False,
) -> ReadinessReport:
    """Wait until every object is ready (or failed, or ``deadline`` passes); never raises on "not ready".

    ``deadline`` is a ``Deadline`` or seconds from now. ``objects`` are refs, manifests or — best —
    the live objects ``apply`` returned, which spare a LIST per kind. Rules per kind are in
    ``readiness.py``.
    Without ``fail_fast`` only terminal failures (Job failed, ProgressDeadlineExceeded) end the
    wait early, as Kubernetes itself keeps retrying pulls and restarts; with it, pod-level
    problems that need a human (missing image, crash loop, quota) end it at once. Objects not
    ready at the end carry a reason derived from their pods, ReplicaSets and Warning events.
    Raises ``KubeError`` only when the cluster cannot be read at all (after retries).
    """
    started = time.monotonic()
    client = get_client(cluster)
    refs, live = _refs(objects)
    waiter = _Waiter(client, refs, live, Deadline.of(deadline), fail_fast)
    timed_out = waiter.run()
    return waiter.report(timed_out, time.monotonic() - started)
