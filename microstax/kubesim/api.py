"""The REST semantics of kube-apiserver over the store: get, list, create, update, patch, apply.

HTTP-free: ``server.py`` parses requests into calls here and renders the returned
``(code, body, headers)``; the simulated controllers call the ``ctl_*`` helpers, which skip
client-facing admission but keep resourceVersion, generation and managedFields honest.
Deletion lives in ``deletion.py`` (mixed in below).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import hooks, schema
from .admission import Admission, check_secret_data
from .config import SimConfig
from .defaults import apply_defaults
from .deletion import DeletionMixin
from .errors import ApiError, already_exists, bad_request, conflict, invalid, not_found
from .fieldmanager import server_side_apply, track_update
from .patch import json_patch, merge_patch, strategic_merge
from .resources import ResourceType
from .selectors import parse_field_selector, parse_label_selector, selector_to_string
from .store import Store
from .util import Obj, clone, new_uid, now_rfc3339, parse_bool, random_suffix

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
ROOT_CA = (
    "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAjMSEwHwYDVQQDDBhrdWJlc2ltLXNl\n"
    "cnZlci1jYUAxNzAwMDAwMDAwMB4XDTI1MDEwMTAwMDAwMFoXDTM1MDEwMTAwMDAwMFow\n-----END CERTIFICATE-----\n"
)
_SERVER_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")


@dataclass
class Call:
    """One REST call, already routed."""

    verb: str
    rt: ResourceType
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    query: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    body: bytes = b""
    user_agent: str = ""

    @property
    def dry_run(self) -> bool:
        return self.query.get("dryRun") == "All"

    @property
    def manager(self) -> str:
        """``fieldManager``, or the User-Agent's product token as the apiserver derives it."""
        fm = self.query.get("fieldManager")
        if fm:
            return fm
        return (self.user_agent.split("/", 1)[0] or "unknown")[:128]

    def json_body(self) -> Any:
        if not self.body:
            return None
        if "protobuf" in self.content_type:
            # client-go's typed clients (kubectl create/scale) send protobuf; kubesim speaks JSON only.
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: "
                f'application/json, application/yaml; got "{self.content_type}" (kubesim does not decode protobuf)',
                {},
            )
        if "yaml" in self.content_type and "apply-patch" not in self.content_type:
            try:
                return yaml.load(self.body.decode(), Loader=_YAML_LOADER)
            except yaml.YAMLError as exc:
                raise bad_request(f"error decoding YAML: {exc}") from exc
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc


Response = tuple[int, Any, dict[str, str]]


def _without_rv(obj: Obj) -> Obj:
    md = dict(obj.get("metadata") or {})
    md.pop("resourceVersion", None)
    return dict(obj, metadata=md)


def _spec_part(obj: Obj) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class Api(DeletionMixin):
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

    def _check_type(self, rt: ResourceType, body: Any, *, required: bool = False) -> Obj:
        if not isinstance(body, dict):
            raise bad_request("the body of the request was not a valid object")
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if required and (not api_version or not kind):
            missing = "apiVersion" if not api_version else "kind"
            raise bad_request(
                f"Object '{missing.capitalize() if missing == 'kind' else missing}' is missing in "
                f"'{json.dumps(body)[:200]}'"
            )
        if api_version and api_version != rt.api_version:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({rt.api_version})"
            )
        if kind and kind != rt.kind:
            raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
        body["apiVersion"], body["kind"] = rt.api_version, rt.kind
        if not isinstance(body.get("metadata"), dict):
            body["metadata"] = {}
        return body

    def _check_namespace_field(self, rt: ResourceType, obj: Obj, namespace: str) -> None:
        md = obj["metadata"]
        if rt.namespaced:
            if md.get("namespace") and md["namespace"] != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            md["namespace"] = namespace
        else:
            md.pop("namespace", None)

    def _decode(self, call: Call, rt: ResourceType, obj: Obj) -> tuple[list[dict[str, str]], list[str]]:
        if rt.kind == "Secret":
            check_secret_data(rt, obj)
        return self.admission.decode(rt, obj, call.query.get("fieldValidation"))

    @staticmethod
    def _headers(warnings: list[str]) -> dict[str, str]:
        return {"Warning": ", ".join(f'299 - "{w}"' for w in warnings)} if warnings else {}

    # -- reads ---------------------------------------------------------------------------------

    def get(self, call: Call) -> Response:
        obj = self._current(call.rt, call.namespace, call.name)
        if call.subresource == "scale":
            return 200, self._scale_view(call.rt, obj), {}
        return 200, obj, {}

    def list(self, call: Call) -> Response:
        rt, q = call.rt, call.query
        labels = parse_label_selector(q.get("labelSelector"))
        fields = parse_field_selector(q.get("fieldSelector"), rt.kind)
        with self.store.lock:
            items = self.store.list(rt, call.namespace or None)
            list_rv = self.store.rv
        items = [o for o in items if labels(o["metadata"].get("labels") or {}) and fields(o)]
        meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
        token = q.get("continue")
        if token:
            start, token_rv = self._decode_continue(token)
            items = [o for o in items if self._sort_key(o) > start]
            meta["resourceVersion"] = str(token_rv)
        limit = int(q.get("limit") or 0)
        if limit > 0 and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            last = self._sort_key(items[-1])
            meta["continue"] = base64.b64encode(
                json.dumps(
                    {"v": "meta.k8s.io/v1", "rv": int(meta["resourceVersion"]), "start": last + "\u0000"}
                ).encode()
            ).decode()
            meta["remainingItemCount"] = remaining
        out_items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in items]
        return 200, {"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": meta, "items": out_items}, {}

    @staticmethod
    def _sort_key(obj: Obj) -> str:
        md = obj["metadata"]
        return f"{md.get('namespace', '')}/{md['name']}"

    def _decode_continue(self, token: str) -> tuple[str, int]:
        try:
            data = json.loads(base64.b64decode(token))
            start, rv = str(data["start"]).rstrip("\u0000"), int(data["rv"])
        except (ValueError, KeyError, TypeError) as exc:
            raise bad_request(f"continue key is not valid: {exc}") from exc
        try:
            self.store.events_after(rv)
        except Exception as exc:
            raise ApiError(
                410,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result. You can start a "
                "new list without the continue parameter, or use the continue token in this response to retrieve "
                "the remainder of the results. Continuing with the provided token results in an inconsistent list "
                "- objects that were created, modified, or deleted between the time the first chunk was returned "
                "and now may show up in the list.",
                {},
            ) from exc
        return start, rv

    # -- create --------------------------------------------------------------------------------

    def create(self, call: Call) -> Response:
        rt = call.rt
        obj = self._check_type(rt, call.json_body())
        self._check_namespace_field(rt, obj, call.namespace)
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
        body = self._check_type(rt, call.json_body())
        md = body["metadata"]
        if md.get("name") and md["name"] != call.name:
            raise bad_request(f"the name of the object ({md['name']}) does not match the name on the URL ({call.name})")
        md["name"] = call.name
        self._check_namespace_field(rt, body, call.namespace)
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
            new = clone(current)
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

    # -- patch / apply -------------------------------------------------------------------------

    def patch(self, call: Call) -> Response:
        rt = call.rt
        ctype = call.content_type.split(";")[0].strip().lower()
        if ctype not in PATCH_TYPES:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: "
                f"{', '.join(PATCH_TYPES)}",
                {},
            )
        is_apply = ctype == "application/apply-patch+yaml"
        if "force" in call.query and not is_apply:
            raise ApiError(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch',
                {
                    "group": "meta.k8s.io",
                    "kind": "PatchOptions",
                    "causes": [
                        {
                            "reason": "FieldValueForbidden",
                            "message": "Forbidden: may not be specified for non-apply patch",
                            "field": "force",
                        }
                    ],
                },
            )
        if is_apply:
            return self.apply(call)
        body = call.json_body()
        if body is None:
            raise bad_request("the body of the request was empty")
        if call.subresource == "scale":
            with self.store.lock:
                current = self._current(rt, call.namespace, call.name)
                patched = self._apply_patch(ctype, self._scale_view(rt, current), body, None)
                return self._update_scale(call, patched)
        with self.store.lock:
            current = self._current(rt, call.namespace, call.name)
            patched = self._apply_patch(ctype, clone(current), body, self.node(rt))
            if not isinstance(patched, dict):
                raise bad_request("patch produced a non-object")
            patched["apiVersion"], patched["kind"] = rt.api_version, rt.kind
            prv = (patched.get("metadata") or {}).get("resourceVersion")
            if prv and prv != current["metadata"]["resourceVersion"]:
                raise conflict(rt, call.name)
            code, obj, warnings = self._write(call, rt, current, patched, manager=call.manager)
        return code, obj, self._headers(warnings)

    @staticmethod
    def _apply_patch(ctype: str, target: Obj, body: Any, node: schema.SchemaNode | None) -> Any:
        if ctype == "application/json-patch+json":
            return json_patch(target, body)
        if not isinstance(body, dict):
            raise bad_request("patch body must be a JSON object")
        if ctype == "application/merge-patch+json" or node is None:
            return merge_patch(target, body)
        return strategic_merge(target, body, node)

    def apply(self, call: Call) -> Response:
        rt = call.rt
        fm = call.query.get("fieldManager")
        if not fm:
            raise ApiError(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
                {
                    "group": "meta.k8s.io",
                    "kind": "PatchOptions",
                    "causes": [
                        {
                            "reason": "FieldValueRequired",
                            "message": "Required value: is required for apply patch",
                            "field": "fieldManager",
                        }
                    ],
                },
            )
        try:
            # The Python client JSON-encodes apply bodies ("JSON is valid YAML"); PyYAML is slow.
            applied = json.loads(call.body or b"null")
        except ValueError:
            try:
                applied = yaml.load(call.body.decode(), Loader=_YAML_LOADER)
            except yaml.YAMLError as exc:
                raise bad_request(f"error decoding YAML: {exc}") from exc
        applied = self._check_type(rt, applied, required=True)
        md = applied["metadata"]
        if md.get("managedFields") is not None:
            raise bad_request("metadata.managedFields must be nil")
        if md.get("name") and md["name"] != call.name:
            raise bad_request(f"the name of the object ({md['name']}) does not match the name on the URL ({call.name})")
        md["name"] = call.name
        self._check_namespace_field(rt, applied, call.namespace)
        causes, warnings = self._decode(call, rt, applied)
        force = parse_bool(call.query.get("force"))
        sub = "status" if call.subresource == "status" else ""
        if rt.status_subresource and not sub:
            applied.pop("status", None)
        with self.store.lock:
            current = self.store.get(rt, call.namespace, call.name)
            if current is None:
                if sub:
                    raise not_found(rt, call.name)
                if causes:
                    self.admission.validate(rt, applied, causes)
                new = server_side_apply(None, applied, self.node(rt), fm, rt.api_version, force=force)
                obj, _ = self._create(call, rt, new, manager=fm, applied=True)
                return 201, obj, self._headers(warnings)
            if md.get("resourceVersion") and md["resourceVersion"] != current["metadata"]["resourceVersion"]:
                raise conflict(rt, call.name)
            base = clone(current)
            new = server_side_apply(base, applied, self.node(rt), fm, rt.api_version, force=force, subresource=sub)
            if causes:
                self.admission.validate(rt, new, causes)
            code, obj, warnings = self._write(call, rt, current, new, manager=fm, applied=True, warnings=warnings)
        return code, obj, self._headers(warnings)

    # -- scale subresource ---------------------------------------------------------------------

    def _scale_view(self, rt: ResourceType, obj: Obj) -> Obj:
        md = obj["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in md
            },
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": selector_to_string((obj.get("spec") or {}).get("selector")),
            },
        }

    def _update_scale(self, call: Call, scale: Obj) -> Response:
        rt = call.rt
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise invalid(
                "Scale",
                "autoscaling",
                call.name,
                [
                    {
                        "reason": "FieldValueInvalid",
                        "field": "spec.replicas",
                        "message": f"Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0",
                    }
                ],
            )
        with self.store.lock:
            current = self._current(rt, call.namespace, call.name)
            rv = (scale.get("metadata") or {}).get("resourceVersion")
            if rv and rv != current["metadata"]["resourceVersion"]:
                raise conflict(rt, call.name)
            new = clone(current)
            new["spec"]["replicas"] = replicas
            scale_call = Call("update", rt, call.namespace, call.name, "", call.query, user_agent=call.user_agent)
            before = clone(current)
            code, obj, _ = self._write(scale_call, rt, current, new, manager=call.manager, applied=True)
            if obj is not current:
                track_update(before, obj, self.node(rt), call.manager, rt.api_version, "scale")
        return 200, self._scale_view(rt, obj), {}

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
