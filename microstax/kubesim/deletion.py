"""Deletion: graceful deletes, finalizers, propagation policies and namespace finalization.

Mirrors the generic registry's ``Delete``: an object with finalizers, a Foreground delete, a
namespace or a running pod's graceful delete only gains ``metadata.deletionTimestamp`` (the
response is then the object itself); anything else disappears at once and the response is a
``Status`` (or the object, for the registries that return it). Background propagation is the
garbage collector's job (``controllers/gc.py``); Orphan strips owner references synchronously.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import resources as R
from .errors import ApiError, bad_request, not_found, precondition_failed
from .resources import ResourceType
from .selectors import parse_field_selector, parse_label_selector
from .util import Obj, clone, now_rfc3339, parse_bool

if TYPE_CHECKING:
    from .calls import Call, Response
    from .config import SimConfig
    from .store import Store

JOB_ORPHAN_WARNING = (
    "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them "
    "or set propagationPolicy=Orphan to suppress this warning"
)
_POLICIES = ("Orphan", "Background", "Foreground")


def _options(call: Call) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    body = call.json_body() if call.body else None
    if isinstance(body, dict):
        opts.update(body)
    q = call.query
    if "propagationPolicy" in q:
        opts["propagationPolicy"] = q["propagationPolicy"]
    if "gracePeriodSeconds" in q:
        try:
            opts["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
        except ValueError as exc:
            raise bad_request(f"invalid gracePeriodSeconds: {q['gracePeriodSeconds']}") from exc
    if "orphanDependents" in q:
        opts["orphanDependents"] = parse_bool(q["orphanDependents"])
    if q.get("dryRun") == "All" or "All" in (opts.get("dryRun") or []):
        opts["dryRun"] = ["All"]
    policy = opts.get("propagationPolicy")
    if policy is not None and policy not in _POLICIES:
        raise ApiError(
            422,
            "Invalid",
            f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "{policy}": '
            'supported values: "Foreground", "Background", "Orphan", "nil"',
            {"group": "meta.k8s.io", "kind": "DeleteOptions"},
        )
    return opts


class DeletionMixin:
    """Delete operations; mixed into ``Api``."""

    store: Store
    config: SimConfig

    # -- REST ----------------------------------------------------------------------------------

    def delete(self, call: Call) -> Response:
        opts = _options(call)
        with self.store.lock:
            current = self.store.get(call.rt, call.namespace, call.name)
            if current is None:
                raise not_found(call.rt, call.name)
            code, body, warnings = self._delete(call.rt, current, opts)
        headers = {"Warning": ", ".join(f'299 - "{w}"' for w in warnings)} if warnings else {}
        return code, body, headers

    def delete_collection(self, call: Call) -> Response:
        rt = call.rt
        opts = _options(call)
        labels = parse_label_selector(call.query.get("labelSelector"))
        fields = parse_field_selector(call.query.get("fieldSelector"), rt.kind)
        with self.store.lock:
            targets = [
                o
                for o in self.store.list(rt, call.namespace or None)
                if labels(o["metadata"].get("labels") or {}) and fields(o)
            ]
            deleted = [self._delete(rt, o, opts)[1] for o in targets]
            rv = self.store.rv
        items = [
            {k: v for k, v in d.items() if k not in ("kind", "apiVersion")} for d in deleted if d.get("kind") == rt.kind
        ]
        return (
            200,
            {
                "kind": f"{rt.kind}List",
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(rv)},
                "items": items,
            },
            {},
        )

    # -- core ----------------------------------------------------------------------------------

    def _delete(self, rt: ResourceType, current: Obj, opts: dict[str, Any]) -> tuple[int, Obj, list[str]]:
        md = current["metadata"]
        name = md["name"]
        pre = opts.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != md.get("uid"):
            raise precondition_failed(
                rt, name, f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {md.get('uid')}"
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != md.get("resourceVersion"):
            raise precondition_failed(
                rt,
                name,
                f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                f"ResourceVersion in object meta: {md.get('resourceVersion')}",
            )
        warnings: list[str] = []
        policy = opts.get("propagationPolicy")
        if policy is None and opts.get("orphanDependents") is not None:
            policy = "Orphan" if opts["orphanDependents"] else "Background"
        if policy is None:
            policy = "Orphan" if rt.kind == "Job" else "Background"
            if rt.kind == "Job":
                warnings.append(JOB_ORPHAN_WARNING)
        dry = bool(opts.get("dryRun"))
        if md.get("deletionTimestamp"):
            return 200, current, warnings
        # Only metadata (and a namespace's status) change: share the rest with the stored object.
        new = dict(current, metadata=dict(current["metadata"]))
        nmd = new["metadata"]
        now = now_rfc3339()
        if rt.kind == "Namespace":
            nmd["deletionTimestamp"] = now
            nmd["deletionGracePeriodSeconds"] = 0
            new["status"] = dict(new.get("status") or {}, phase="Terminating")
            return 200, new if dry else self.store.put(rt, new), warnings
        if rt.kind == "Pod":
            grace = opts.get("gracePeriodSeconds")
            if grace is None:
                grace = (current.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
            running = (current.get("spec") or {}).get("nodeName") and (current.get("status") or {}).get(
                "phase"
            ) not in ("Succeeded", "Failed")
            if grace and grace > 0 and running:
                nmd["deletionTimestamp"] = now
                nmd["deletionGracePeriodSeconds"] = int(grace)
                return 200, new if dry else self.store.put(rt, new), warnings
        if policy == "Orphan" and not dry:
            self.orphan_dependents(current)
        finalizers = list(nmd.get("finalizers") or [])
        if policy == "Foreground" and self.dependents(current):
            if "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
        if finalizers:
            nmd["finalizers"] = finalizers
            nmd["deletionTimestamp"] = now
            nmd["deletionGracePeriodSeconds"] = 0
            if rt.has_generation:
                nmd["generation"] = int(nmd.get("generation") or 1) + 1
            code = 202 if opts.get("orphanDependents") is False else 200
            return code, new if dry else self.store.put(rt, new), warnings
        if dry:
            return 200, self._deleted_body(rt, current), warnings
        final = self.remove_now(rt, current)
        return 200, self._deleted_body(rt, final), warnings

    def _deleted_body(self, rt: ResourceType, obj: Obj) -> Obj:
        if rt.returns_deleted_object:
            return obj
        details: dict[str, Any] = {"name": obj["metadata"]["name"]}
        if rt.group:
            details["group"] = rt.group
        details["kind"] = rt.plural
        details["uid"] = obj["metadata"].get("uid")
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def remove_now(self, rt: ResourceType, obj: Obj) -> Obj:
        md = obj["metadata"]
        final = self.store.remove(rt, md.get("namespace", ""), md["name"])
        return final if final is not None else obj

    # -- owners and dependents -----------------------------------------------------------------

    def dependents(self, owner: Obj) -> list[tuple[ResourceType, Obj]]:
        uid = owner["metadata"].get("uid")
        ns = owner["metadata"].get("namespace")
        if not uid:
            return []
        found = self.store.dependents_of(uid)
        if ns is None:
            return found
        return [(rt, o) for rt, o in found if rt.namespaced and (not ns or o["metadata"].get("namespace") == ns)]

    def orphan_dependents(self, owner: Obj) -> None:
        uid = owner["metadata"].get("uid")
        for rt, obj in self.dependents(owner):
            new = clone(obj)
            refs = [r for r in new["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
            if refs:
                new["metadata"]["ownerReferences"] = refs
            else:
                new["metadata"].pop("ownerReferences", None)
            self.store.put(rt, new)

    def ctl_delete(self, rt: ResourceType, obj: Obj, *, policy: str = "Background", grace: int | None = None) -> None:
        """Delete on behalf of a controller (garbage collector, namespace controller)."""
        with self.store.lock:
            md = obj["metadata"]
            current = self.store.get(rt, md.get("namespace", ""), md["name"])
            if current is None or current["metadata"].get("uid") != md.get("uid"):
                return
            opts: dict[str, Any] = {"propagationPolicy": policy}
            if grace is not None:
                opts["gracePeriodSeconds"] = grace
            self._delete(rt, current, opts)

    def remove_finalizer(self, rt: ResourceType, obj: Obj, finalizer: str) -> None:
        """Drop one finalizer; the object goes away when it was the last one and deletion is pending."""
        with self.store.lock:
            md = obj["metadata"]
            current = self.store.get(rt, md.get("namespace", ""), md["name"])
            if current is None or finalizer not in (current["metadata"].get("finalizers") or []):
                return
            new = clone(current)
            rest = [f for f in new["metadata"]["finalizers"] if f != finalizer]
            if rest:
                new["metadata"]["finalizers"] = rest
            else:
                new["metadata"].pop("finalizers", None)
            if new["metadata"].get("deletionTimestamp") and not rest:
                self.remove_now(rt, new)
            else:
                self.store.put(rt, new)

    # -- namespaces ----------------------------------------------------------------------------

    def _finalize(self, call: Call, current: Obj, body: Obj) -> Response:
        if call.rt is not R.NAMESPACE:
            raise bad_request("finalize is only supported for namespaces")
        finalizers = (body.get("spec") or {}).get("finalizers") or []
        return 200, self.finalize_namespace(current, finalizers), {}

    def finalize_namespace(self, current: Obj, finalizers: list[str]) -> Obj:
        with self.store.lock:
            new = clone(current)
            new.setdefault("spec", {})["finalizers"] = list(finalizers)
            if not finalizers:
                new["spec"].pop("finalizers")
            if new == current:
                return current
            if new["metadata"].get("deletionTimestamp") and not finalizers and not new["metadata"].get("finalizers"):
                return self.remove_now(R.NAMESPACE, new)
            return self.store.put(R.NAMESPACE, new)
