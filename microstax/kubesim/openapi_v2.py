"""``GET /openapi/v2``: the Swagger 2.0 document of the kinds kubesim serves, in JSON or protobuf.

kubectl up to 1.26 (Debian's 1.20 among them) downloads this document before ``apply``,
``create -f`` and ``explain``: client-side validation (``--validate=true``, the default) looks each
object's GVK up in the definitions and refuses unknown fields and wrong types *before* sending
anything. client-go asks only for the gnostic protobuf form
(``application/com.github.proto-openapi.spec.v2@v1.0+protobuf``) and refuses a 404 with "the
server could not find the requested resource", so serving nothing breaks ``apply`` outright.

The definitions are the closure of the served kinds in kubernetes-validate's ``_definitions.json``
(itself generated from the apiserver's swagger), turned back into Swagger 2.0 form: single
``type`` instead of ``["T", "null"]``, ``#/definitions/`` references, ``IntOrString`` as
``string``/``int-or-string`` and ``Quantity`` as ``string`` (which kube-openapi requires: it
refuses multi-type schemas and ``oneOf`` is not Swagger 2.0), no JSON-Schema-only
``additionalProperties: false``. Paths list each resource's operations with the
``x-kubernetes-action`` / ``x-kubernetes-group-version-kind`` extensions a real server publishes.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from . import gnostic, schema
from .config import SimConfig
from .resources import RESOURCE_TYPES, ResourceType

# Requested as ``...spec.v2@v1.0+protobuf`` but answered as ``...spec.v2.v1.0+protobuf``, like
# kube-openapi's handler: Go's mime.ParseMediaType rejects the "@" in a response Content-Type.
PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_EXTRA_ROOTS = (
    _META + "Status",
    _META + "DeleteOptions",
    _META + "WatchEvent",
    _META + "Patch",
    "io.k8s.api.autoscaling.v1.Scale",
)
_HTTPROUTE = "io.k8s.networking.gateway.v1.HTTPRoute"
# Types the apiserver's swagger models as plain strings with a format, not as JSON-Schema oneOfs.
_STRING_TYPES = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
}


def _convert(node: Any, refs: set[str]) -> Any:
    """A JSON-Schema node from kubernetes-validate as a Swagger 2.0 schema; collects references."""
    if isinstance(node, list):
        return [_convert(n, refs) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref":
            name = value.rsplit("/", 1)[-1]
            refs.add(name)
            out["$ref"] = f"#/definitions/{name}"
        elif key == "type":
            types = [t for t in (value if isinstance(value, list) else [value]) if t != "null"]
            if len(types) == 1:
                out["type"] = types[0]
        elif key == "properties":
            out["properties"] = {k: _convert(v, refs) for k, v in value.items()}
        elif key in ("items", "additionalProperties"):
            if value is not False:
                out[key] = _convert(value, refs)
        elif key in ("oneOf", "anyOf", "$defs", "$schema", "$id"):
            continue
        else:
            out[key] = value  # description, format, required, enum, x-kubernetes-* extensions
    return out


def _kind_definitions(version: str) -> dict[str, tuple[ResourceType, str]]:
    roots = schema.gvk_roots(version)
    out: dict[str, tuple[ResourceType, str]] = {}
    for rt in RESOURCE_TYPES:
        name = roots.get((rt.api_version, rt.kind)) or (_HTTPROUTE if rt.kind == "HTTPRoute" else None)
        if name:
            out[rt.key] = (rt, name)
    return out


def _httproute(refs: set[str]) -> dict[str, Any]:
    body = _convert({k: v for k, v in schema.HTTPROUTE_SCHEMA.items() if k != "$defs"}, refs)
    body["properties"]["metadata"] = {"$ref": f"#/definitions/{_META}ObjectMeta"}
    body["properties"]["apiVersion"] = {"type": "string"}
    body["properties"]["kind"] = {"type": "string"}
    refs.add(_META + "ObjectMeta")
    body["description"] = "HTTPRoute provides a way to route HTTP requests (gateway.networking.k8s.io CRD)."
    body["x-kubernetes-group-version-kind"] = [
        {"group": "gateway.networking.k8s.io", "version": "v1", "kind": "HTTPRoute"}
    ]
    return body


def definitions(version: str) -> dict[str, Any]:
    """The served kinds' definitions and everything they reference, in Swagger 2.0 form."""
    source = schema.definitions(version)
    out: dict[str, Any] = {}
    pending: set[str] = set(_EXTRA_ROOTS)
    for _, name in _kind_definitions(version).values():
        if name == _HTTPROUTE:
            out[name] = _httproute(pending)
        else:
            pending.add(name)
    while pending:
        name = pending.pop()
        if name in out:
            continue
        if name in _STRING_TYPES:
            desc = source.get(name, {}).get("description")
            out[name] = dict(_STRING_TYPES[name], **({"description": desc} if desc else {}))
            continue
        out[name] = _convert(source[name], pending)
        props = out[name].get("properties") or {}
        if out[name].get("x-kubernetes-group-version-kind"):
            # openapi2jsonschema pins apiVersion/kind with enums; the apiserver's swagger does not.
            for key in ("apiVersion", "kind"):
                if isinstance(props.get(key), dict):
                    props[key].pop("enum", None)
    return dict(sorted(out.items()))


def _param(name: str, where: str = "query", typ: str = "string", *, required: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "in": where, "type": typ, "uniqueItems": True}
    if required:
        out["required"] = True
    return out


def _body(ref: str) -> dict[str, Any]:
    return {"name": "body", "in": "body", "required": True, "schema": {"$ref": f"#/definitions/{ref}"}}


def _op(verb: str, rt: ResourceType, model: str, params: list[dict[str, Any]], ok: str) -> dict[str, Any]:
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    ns = "Namespaced" if rt.namespaced else ""
    return {
        "description": f"{verb} {rt.kind}",
        "consumes": ["*/*"],
        "produces": ["application/json", "application/yaml"],
        "schemes": ["https"],
        "tags": [rt.group.split(".")[0] + "_" + rt.version if rt.group else "core_" + rt.version],
        "operationId": f"{verb}{ns}{rt.kind}",
        "parameters": params,
        "responses": {
            "200": {"description": "OK", "schema": {"$ref": f"#/definitions/{ok}"}},
            "401": {"description": "Unauthorized"},
        },
        "x-kubernetes-action": verb if verb != "replace" else "put",
        "x-kubernetes-group-version-kind": gvk,
    }


def _paths(version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    writes = [_param("dryRun"), _param("fieldManager"), _param("fieldValidation")]
    for rt, model in _kind_definitions(version).values():
        base = rt.prefix + ("/namespaces/{namespace}/" if rt.namespaced else "/") + rt.plural
        scope = [_param("namespace", "path", required=True)] if rt.namespaced else []
        name = [_param("name", "path", required=True)]
        listing = [_param(p) for p in ("labelSelector", "fieldSelector", "continue")] + [_param("limit", typ="integer")]
        collection: dict[str, Any] = {
            "get": _op("list", rt, model, listing, _META + "Status"),
            "post": _op("post", rt, model, [_body(model), *writes], model),
            "parameters": scope,
        }
        collection["get"]["responses"]["200"]["schema"] = {"type": "object"}
        if "deletecollection" in rt.verbs:
            collection["delete"] = _op("deletecollection", rt, model, listing, _META + "Status")
        paths[base] = collection
        paths[base + "/{name}"] = {
            "get": _op("get", rt, model, [], model),
            "put": _op("replace", rt, model, [_body(model), *writes], model),
            "patch": _op("patch", rt, model, [_body(_META + "Patch"), *writes, _param("force", typ="boolean")], model),
            "delete": _op(
                "delete",
                rt,
                model,
                [
                    _body(_META + "DeleteOptions"),
                    _param("gracePeriodSeconds", typ="integer"),
                    _param("propagationPolicy"),
                ],
                _META + "Status",
            ),
            "parameters": scope + name,
        }
        paths[base + "/{name}"]["delete"]["parameters"][0]["required"] = False
    return paths


@functools.cache
def document(version: str) -> dict[str, Any]:
    """The whole Swagger 2.0 document for a Kubernetes ``version`` (e.g. ``"1.33.4"``)."""
    schema_version = schema.schema_version(version)
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": f"v{version}+kubesim"},
        "paths": _paths(schema_version),
        "definitions": definitions(schema_version),
        "securityDefinitions": {
            "BearerToken": {"type": "apiKey", "name": "authorization", "in": "header", "description": "Bearer"}
        },
        "security": [{"BearerToken": []}],
    }


@functools.cache
def _json(version: str) -> bytes:
    return json.dumps(document(version), separators=(",", ":")).encode()


@functools.cache
def _protobuf(version: str) -> bytes:
    return gnostic.encode_document(document(version))


def render(config: SimConfig, accept: str) -> tuple[bytes, str]:
    """The body and content type for an ``Accept`` header: protobuf when asked for, else JSON."""
    if "protobuf" in accept:
        return _protobuf(config.version), PROTOBUF
    return _json(config.version), "application/json"
