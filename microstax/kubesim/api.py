"""The REST semantics of kube-apiserver over the store: get, list, create, update, patch, apply.

HTTP-free: ``server.py`` parses requests into ``Call``s (``calls.py``) and renders the returned
``(code, body, headers)``; the simulated controllers call the ``ctl_*`` helpers, which skip
client-facing admission but keep resourceVersion, generation and managedFields honest.
Create, update and the shared write path live here; reads (``reads.py``), patch/apply/scale
(``patching.py``) and deletion (``deletion.py``) are mixed in.
"""

from __future__ import annotations

import json
from typing import Any

from . import hooks, schema
from .admission import Admission, check_secret_data
from .calls import Call, Response, check_namespace_field, check_type
from .config import SimConfig
from .defaults import apply_defaults
from .deletion import DeletionMixin
from .errors import ApiError, already_exists, bad_request, conflict, invalid, not_found
from .fieldmanager import track_update
from .patching import PatchMixin
from .reads import ReadMixin
from .resources import ResourceType
from .store import Store
from .util import Obj, new_uid, now_rfc3339, random_suffix

ROOT_CA = (
    "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAjMSEwHwYDVQQDDBhrdWJlc2ltLXNl\n"
    "cnZlci1jYUAxNzAwMDAwMDAwMB4XDTI1MDEwMTAwMDAwMFoXDTM1MDEwMTAwMDAwMFow\n-----END CERTIFICATE-----\n"
)
_SERVER_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")


def _without_rv(obj: Obj) -> Obj:
    md = dict(obj.get("metadata") or {})
    md.pop("resourceVersion", None)
    return dict(obj, metadata=md)


def _spec_part(obj: Obj) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class Api(ReadMixin, PatchMixin, DeletionMixin):
    """Kubernetes REST operations over one ``Store``."""

    def __init__(self, store: Store, config: SimConfig) -> None:
        self.store = store
        self.config = config
        self.admission = Admission(config.version, config.field_validation)

    # -- helpers -------------------------------------------------------------------------------

    def node(self, rt: ResourceType) -> schema.SchemaNode:
        return schema.root_node(self.admission.version, rt.api_version, rt.kind)

    def _current(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.store.get(rt, namespace, name)
        if obj is None:
            raise not_found(rt, name)
        return obj

    def _decode(self, call: Call, rt: ResourceType, obj: Obj) -> tuple[list[dict[str, str]], list[str]]:
        if rt.kind == "Secret":
            check_secret_data(rt, obj)
        return self.admission.decode(rt, obj, call.query.get("fieldValidation"))

    @staticmethod
    def _headers(warnings: list[str]) -> dict[str, str]:
        return {"Warning": ", ".join(f'299 - "{w}"' for w in warnings)} if warnings else {}

    # -- reads ---------------------------------------------------------------------------------

    # -- create --------------------------------------------------------------------------------

    def create(self, call: Call) -> Response:
        rt = call.rt
        obj = check_type(rt, call.json_body())
        check_namespace_field(rt, obj, call.namespace)
        md = obj["metadata"]
        if md.get("resourceVersion"):
            raise ApiError(500, "InternalError", "resourceVersion should not be set on objects to be created", {})
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + random_suffix()
        created, warnings = self._create(call, rt, obj, manager=call.manager)
        return 201, created, self._headers(warnings)

    def _create(
        self, call: Call, rt: ResourceType, obj: Obj, *, manager: str, applied: bool = False, trusted: bool = False
    ) -> tuple[Obj, list[str]]:
        causes, warnings = ([], []) if applied or trusted else self._decode(call, rt, obj)
        md = obj["metadata"]
        name = md.get("name", "")
        for key in _SERVER_FIELDS:
            md.pop(key, None)
        if not applied:
            md.pop("managedFields", None)
        if rt.status_subresource:
            obj.pop("status", None)
        with self.store.lock:
            existing = self.store.get(rt, md.get("namespace", ""), name) if name else None
            if existing is not None:
                raise already_exists(rt, name, being_deleted=bool(existing["metadata"].get("deletionTimestamp")))
            hooks.check_namespace(self.store, rt, md.get("namespace", ""), name)
            apply_defaults(rt.kind, obj)
            uid = new_uid()
            hooks.on_create(self.store, rt, obj, uid=uid)
            if not trusted:
                self.admission.validate(rt, obj, causes)
            hooks.check_quota(self.store, rt, obj)
            md["uid"] = uid
            md["creationTimestamp"] = now_rfc3339()
            if rt.has_generation:
                md["generation"] = 1
            if not applied:
                track_update(None, obj, self.node(rt), manager, rt.api_version)
            if call.dry_run:
                return obj, warnings
            stored = self.store.put(rt, obj)
            if rt.kind == "Namespace":
                self._bootstrap_namespace(stored["metadata"]["name"])
            return stored, warnings

    def _bootstrap_namespace(self, namespace: str) -> None:
        """What the serviceaccount and root-ca-cert-publisher controllers add to every namespace.

        Done synchronously (upstream does it within milliseconds) so a pod created right after its
        namespace never trips over a missing ``default`` ServiceAccount.
        """
        from . import resources as R

        self.ctl_create(
            R.SERVICEACCOUNT,
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": namespace}},
            "kube-controller-manager",
        )
        self.ctl_create(
            R.CONFIGMAP,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": "kube-root-ca.crt",
                    "namespace": namespace,
                    "annotations": {
                        "kubernetes.io/description": "Contains a CA bundle that can be used to "
                        "verify the kube-apiserver when using internal endpoints such as the "
                        "internal service IP or kubernetes.default.svc. No other usage is "
                        "guaranteed across distributions of Kubernetes clusters."
                    },
                },
                "data": {"ca.crt": ROOT_CA},
            },
            "kube-controller-manager",
        )

    # -- update --------------------------------------------------------------------------------

    def update(self, call: Call) -> Response:
        rt = call.rt
        body = check_type(rt, call.json_body())
        md = body["metadata"]
        if md.get("name") and md["name"] != call.name:
            raise bad_request(f"the name of the object ({md['name']}) does not match the name on the URL ({call.name})")
        md["name"] = call.name
        check_namespace_field(rt, body, call.namespace)
        if call.subresource == "scale":
            return self._update_scale(call, body)
        with self.store.lock:
            current = self._current(rt, call.namespace, call.name)
            if md.get("resourceVersion") and md["resourceVersion"] != current["metadata"]["resourceVersion"]:
                raise conflict(rt, call.name)
            if call.subresource == "finalize":
                return self._finalize(call, current, body)
            code, obj, warnings = self._write(call, rt, current, body, manager=call.manager)
        return code, obj, self._headers(warnings)

    def _write(
        self,
        call: Call,
        rt: ResourceType,
        current: Obj,
        new: Obj,
        *,
        manager: str,
        applied: bool = False,
        warnings: list[str] | None = None,
        trusted: bool = False,
    ) -> tuple[int, Obj, list[str]]:
        """Shared tail of update, patch and apply: merge server fields, admit, store (or no-op)."""
        causes: list[dict[str, str]] = []
        if not applied and not trusted:
            causes, warnings = self._decode(call, rt, new)
        warnings = warnings or []
        sub = call.subresource
        if sub == "status":
            status = new.get("status")
            # Everything but status comes from the stored object, shared rather than copied.
            new = dict(current, metadata=dict(current["metadata"]))
            if status is not None:
                new["status"] = status
            else:
                new.pop("status", None)
        elif rt.status_subresource:
            if "status" in current:
                new["status"] = current["status"]
            else:
                new.pop("status", None)
        md, cmd = new["metadata"], current["metadata"]
        for key in _SERVER_FIELDS:
            if key in cmd:
                md[key] = cmd[key]
            else:
                md.pop(key, None)
        for key in ("name", "namespace"):
            if key in cmd:
                md[key] = cmd[key]
        if "managedFields" not in md and "managedFields" in cmd and not applied:
            md["managedFields"] = cmd["managedFields"]
        if cmd.get("deletionTimestamp"):
            added = set(md.get("finalizers") or []) - set(cmd.get("finalizers") or [])
            if added:
                raise invalid(
                    rt.kind,
                    rt.group,
                    call.name,
                    [
                        {
                            "reason": "FieldValueForbidden",
                            "field": "metadata.finalizers",
                            "message": "Forbidden: no new finalizers can be added if the object is being deleted, "
                            f"found new finalizers {json.dumps(sorted(added))}",
                        }
                    ],
                )
        apply_defaults(rt.kind, new)
        if rt.kind == "Namespace":
            # The namespace lifecycle (phase, finalizers) is owned by the server.
            if sub != "status":
                new["spec"] = dict(new.get("spec") or {}, finalizers=(current.get("spec") or {}).get("finalizers", []))
            new.setdefault("status", current.get("status"))
        hooks.on_update(rt, current, new)
        if not trusted:
            self.admission.validate(rt, new, causes)
        if rt.has_generation and _spec_part(new) != _spec_part(current):
            md["generation"] = int(cmd.get("generation") or 1) + 1
        if not applied:
            track_update(current, new, self.node(rt), manager, rt.api_version, "status" if sub == "status" else "")
        if _without_rv(new) == _without_rv(current):
            return 200, current, warnings
        if call.dry_run:
            return 200, new, warnings
        spec_finalizers = (new.get("spec") or {}).get("finalizers") if rt.kind == "Namespace" else None
        if cmd.get("deletionTimestamp") and not md.get("finalizers") and not spec_finalizers:
            return 200, self.remove_now(rt, new), warnings
        return 200, self.store.put(rt, new), warnings

    # -- controller helpers --------------------------------------------------------------------

    def ctl_create(self, rt: ResourceType, obj: Obj, manager: str) -> Obj:
        """Create on behalf of a controller: defaults and quota apply, as for any client."""
        call = Call("create", rt, obj["metadata"].get("namespace", ""), user_agent=manager)
        md = obj["metadata"]
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + random_suffix()
        created, _ = self._create(call, rt, obj, manager=manager, trusted=True)
        return created

    def ctl_update(self, rt: ResourceType, obj: Obj, manager: str, subresource: str = "") -> Obj | None:
        """Write a controller's change (status or spec); None when the object is gone."""
        with self.store.lock:
            md = obj["metadata"]
            current = self.store.get(rt, md.get("namespace", ""), md["name"])
            if current is None or current["metadata"].get("uid") != md.get("uid"):
                return None
            call = Call("update", rt, md.get("namespace", ""), md["name"], subresource, user_agent=manager)
            _, out, _ = self._write(call, rt, current, obj, manager=manager, trusted=True)
            return out
