"""OpenAPI schemas from ``kubernetes-validate``: cached validators and list semantics.

``kubernetes_validate.validate()`` re-reads the 1.8 MB definitions file on every call (~14 ms); we
build one ``Draft202012Validator`` per (version, kind) and keep it for the life of the process
(~0.6 ms per validation afterwards). The same definitions give the ``x-kubernetes-list-type`` /
``x-kubernetes-list-map-keys`` / ``x-kubernetes-patch-merge-key`` extensions that server-side apply
and strategic merge patch need.

Gateway API kinds are CRDs and are not in kubernetes-validate; ``HTTPROUTE_SCHEMA`` is a
condensed form of the upstream CRD's v1 schema (the fields MicroStax and common manifests use,
with unknown fields rejected the way a structural CRD schema prunes/refuses them).
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from typing import Any

import jsonschema
import kubernetes_validate
from kubernetes_validate import utils as kv_utils

_lock = threading.Lock()


def schema_version(desired: str) -> str:
    """The newest kubernetes-validate schema version not newer than ``desired`` (major.minor)."""
    want = kv_utils.major_minor(desired.lstrip("v"))
    versions = [v for v in kv_utils.all_versions() if _vkey(v) <= _vkey(want)]
    return kv_utils.major_minor(versions[-1] if versions else kubernetes_validate.latest_version())


def _vkey(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in kv_utils.major_minor(v).split("."))


@functools.cache
def _definitions(version: str) -> dict[str, Any]:
    with _lock:
        return kv_utils.schema_contents(f"kubernetes-json-schema/v{version}.0-local-strict/_definitions.json", version)


def definitions(version: str) -> dict[str, Any]:
    """Every definition of a schema version by name (``io.k8s.api.apps.v1.Deployment``, ...)."""
    return _definitions(version).get("$defs", {})


def _kind_file(api_version: str, kind: str) -> str:
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{api}.json"


_validators: dict[tuple[str, str, str], Any] = {}


def validator(version: str, api_version: str, kind: str) -> Any | None:
    """A cached strict validator for a kind, or ``None`` when no schema ships for it."""
    key = (version, api_version, kind)
    if key in _validators:
        return _validators[key]
    if api_version == "gateway.networking.k8s.io/v1" and kind == "HTTPRoute":
        v: Any | None = jsonschema.Draft202012Validator(HTTPROUTE_SCHEMA)
    else:
        try:
            schema = kv_utils.schema_contents(
                f"kubernetes-json-schema/v{version}.0-local-strict/{_kind_file(api_version, kind)}", version
            )
        except FileNotFoundError:
            v = None
        else:
            # Inline every $ref once: resolving references through `referencing` on each validation
            # costs more than the validation itself (≈6 ms → ≈1 ms for a Deployment).
            defs = _definitions(version).get("$defs", {})
            v = jsonschema.Draft202012Validator(_inline(schema, defs, {}))
    _validators[key] = v
    return v


def _inline(node: Any, defs: dict[str, Any], memo: dict[str, Any]) -> Any:
    """Replace ``{"$ref": ".../$defs/X"}`` by the (shared, recursion-safe) inlined definition X."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and "$defs/" in ref:
            name = ref.rsplit("/", 1)[-1]
            if name not in memo:
                target: dict[str, Any] = {}
                memo[name] = target
                target.update(_inline(defs.get(name, {}), defs, memo))
            return memo[name]
        return {
            k: (_inline(v, defs, memo) if k not in ("$schema", "$id") else v)
            for k, v in node.items()
            if k not in ("$schema", "$id")
        }
    if isinstance(node, list):
        return [_inline(v, defs, memo) for v in node]
    return node


# ---------------------------------------------------------------------------------------------
# List semantics for apply and strategic merge patch


@dataclass(frozen=True)
class ListInfo:
    """How a list field merges: ``map`` by keys, ``set``, or ``atomic`` (replaced whole)."""

    list_type: str
    keys: tuple[str, ...] = ()
    merge_key: str | None = None
    patch_strategy: str = ""


ATOMIC = ListInfo("atomic")


class SchemaNode:
    """A position in a kind's schema, resolved through ``$ref``; ``None`` schema means untyped."""

    __slots__ = ("schema", "defs", "_children", "_items", "_info")

    def __init__(self, schema: dict[str, Any] | None, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.schema = self._resolve(schema)
        # Nodes are cached per kind (root_node), so memoising children makes walks cheap.
        self._children: dict[str, SchemaNode] = {}
        self._items: SchemaNode | None = None
        self._info: ListInfo | None = None

    def _resolve(self, s: dict[str, Any] | None) -> dict[str, Any] | None:
        seen = 0
        while isinstance(s, dict) and "$ref" in s and seen < 20:
            ref = s["$ref"]
            name = ref.rsplit("/", 1)[-1]
            s = self.defs.get(name, {}) if "$defs/" in ref else {}
            seen += 1
        if isinstance(s, dict) and "allOf" in s and len(s["allOf"]) == 1:
            return self._resolve(s["allOf"][0])
        return s

    def child(self, key: str) -> SchemaNode:
        node = self._children.get(key)
        if node is None:
            node = self._children[key] = self._child(key)
        return node

    def _child(self, key: str) -> SchemaNode:
        s = self.schema or {}
        props = s.get("properties") or {}
        if key in props:
            return SchemaNode(props[key], self.defs)
        extra = s.get("additionalProperties")
        if isinstance(extra, dict):
            return SchemaNode(extra, self.defs)
        return SchemaNode(None, self.defs)

    def items(self) -> SchemaNode:
        if self._items is None:
            self._items = SchemaNode((self.schema or {}).get("items"), self.defs)
        return self._items

    def list_info(self) -> ListInfo:
        if self._info is None:
            self._info = self._list_info()
        return self._info

    def _list_info(self) -> ListInfo:
        s = self.schema or {}
        lt = s.get("x-kubernetes-list-type")
        keys = tuple(s.get("x-kubernetes-list-map-keys") or ())
        merge_key = s.get("x-kubernetes-patch-merge-key")
        strategy = s.get("x-kubernetes-patch-strategy", "")
        if lt is None:
            # Built-in lists without a list-type are atomic for apply; SMP still uses the merge key.
            lt = "map" if merge_key and "merge" in strategy else "atomic"
            keys = (merge_key,) if lt == "map" else ()
        return ListInfo(lt, keys, merge_key, strategy)


@functools.cache
def _gvk_roots(version: str) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for name, d in _definitions(version).get("$defs", {}).items():
        for gvk in d.get("x-kubernetes-group-version-kind") or []:
            api = f"{gvk['group']}/{gvk['version']}" if gvk.get("group") else gvk["version"]
            out.setdefault((api, gvk["kind"]), name)
    return out


def gvk_roots(version: str) -> dict[tuple[str, str], str]:
    """(apiVersion, kind) → definition name, from ``x-kubernetes-group-version-kind``."""
    return _gvk_roots(version)


@functools.cache
def root_node(version: str, api_version: str, kind: str) -> SchemaNode:
    """The schema node of a whole object of ``kind``; untyped when the kind has no schema."""
    if api_version == "gateway.networking.k8s.io/v1" and kind == "HTTPRoute":
        return SchemaNode(HTTPROUTE_SCHEMA, HTTPROUTE_SCHEMA["$defs"])
    defs = _definitions(version).get("$defs", {})
    name = _gvk_roots(version).get((api_version, kind))
    return SchemaNode(defs.get(name) if name else None, defs)


def warm(version: str, kinds: list[tuple[str, str]]) -> None:
    """Build validators ahead of the first request (used by ``KubeSim.start``)."""
    for api_version, kind in kinds:
        validator(version, api_version, kind)
    _gvk_roots(version)


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


_STR = {"type": "string"}
_PARENT_REF = _obj(
    {
        "group": _STR,
        "kind": _STR,
        "namespace": _STR,
        "name": _STR,
        "sectionName": _STR,
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    },
    ["name"],
)
_BACKEND_REF = _obj(
    {
        "group": _STR,
        "kind": _STR,
        "name": _STR,
        "namespace": _STR,
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "weight": {"type": "integer", "minimum": 0, "maximum": 1000000},
        "filters": {"type": "array", "items": {"type": "object"}},
    },
    ["name"],
)
_HEADER_MATCH = _obj({"type": {"enum": ["Exact", "RegularExpression"]}, "name": _STR, "value": _STR}, ["name", "value"])
_MATCH = _obj(
    {
        "path": _obj({"type": {"enum": ["Exact", "PathPrefix", "RegularExpression"]}, "value": _STR}),
        "headers": {"type": "array", "items": _HEADER_MATCH, "maxItems": 16},
        "queryParams": {"type": "array", "items": _HEADER_MATCH, "maxItems": 16},
        "method": {"enum": ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]},
    }
)
_CONDITION = {"type": "object"}

HTTPROUTE_SCHEMA: dict[str, Any] = {
    "$defs": {},
    **_obj(
        {
            "apiVersion": {"enum": ["gateway.networking.k8s.io/v1"]},
            "kind": {"enum": ["HTTPRoute"]},
            "metadata": {"type": "object"},
            "spec": _obj(
                {
                    "parentRefs": {"type": "array", "items": _PARENT_REF, "maxItems": 32},
                    "hostnames": {"type": "array", "items": {"type": "string", "maxLength": 253}, "maxItems": 16},
                    "rules": {
                        "type": "array",
                        "maxItems": 16,
                        "items": _obj(
                            {
                                "name": _STR,
                                "matches": {"type": "array", "items": _MATCH, "maxItems": 64},
                                "filters": {"type": "array", "items": {"type": "object"}, "maxItems": 16},
                                "backendRefs": {"type": "array", "items": _BACKEND_REF, "maxItems": 16},
                                "timeouts": _obj({"request": _STR, "backendRequest": _STR}),
                                "retry": {"type": "object"},
                                "sessionPersistence": {"type": "object"},
                            }
                        ),
                    },
                }
            ),
            "status": _obj(
                {
                    "parents": {
                        "type": "array",
                        "items": _obj(
                            {
                                "parentRef": _PARENT_REF,
                                "controllerName": _STR,
                                "conditions": {"type": "array", "items": _CONDITION},
                            }
                        ),
                    }
                }
            ),
        },
        ["spec"],
    ),
}
