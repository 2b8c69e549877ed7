"""PATCH in its four flavours (JSON, merge, strategic merge, server-side apply) and ``/scale`` writes."""

from __future__ import annotations

import json
from typing import Any

import yaml

from . import schema
from .calls import PATCH_TYPES, YAML_LOADER, Call, Response, check_namespace_field, check_type
from .errors import ApiError, bad_request, conflict, invalid, not_found
from .fieldmanager import server_side_apply, track_update
from .patch import json_patch, merge_patch, strategic_merge
from .store import Store
from .util import Obj, clone, parse_bool


class PatchMixin:
    """Patch, apply and scale; mixed into ``Api`` (which provides ``_write``, ``_create``, ...)."""

    store: Store

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
                applied = yaml.load(call.body.decode(), Loader=YAML_LOADER)
            except yaml.YAMLError as exc:
                raise bad_request(f"error decoding YAML: {exc}") from exc
        applied = check_type(rt, applied, required=True)
        md = applied["metadata"]
        if md.get("managedFields") is not None:
            raise bad_request("metadata.managedFields must be nil")
        if md.get("name") and md["name"] != call.name:
            raise bad_request(f"the name of the object ({md['name']}) does not match the name on the URL ({call.name})")
        md["name"] = call.name
        check_namespace_field(rt, applied, call.namespace)
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
