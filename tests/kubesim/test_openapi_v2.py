"""``/openapi/v2``: a Swagger 2.0 document of the served kinds, as JSON and as gnostic protobuf."""

from __future__ import annotations

import json
from typing import Any

import urllib3

from microstax.kubesim import KubeSim
from microstax.kubesim.openapi_v2 import PROTOBUF
from microstax.kubesim.resources import RESOURCE_TYPES

PB_REQUEST = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


def _get(sim: KubeSim, accept: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request("GET", sim.url + "/openapi/v2", headers={"Accept": accept})


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        own = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return own.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def _types(node: Any) -> list[Any]:
    if isinstance(node, dict):
        own = [node["type"]] if "type" in node and not isinstance(node["type"], dict) else []
        return own + [t for k, v in node.items() if k != "x-kubernetes-group-version-kind" for t in _types(v)]
    if isinstance(node, list):
        return [t for v in node for t in _types(v)]
    return []


def test_swagger_document_covers_every_served_kind_with_resolvable_references(kubesim: KubeSim) -> None:
    resp = _get(kubesim, "application/json")
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
    doc = resp.json()
    assert doc["swagger"] == "2.0" and doc["info"]["title"] == "Kubernetes"
    defs = doc["definitions"]
    gvks = {
        (g["group"], g["version"], g["kind"])
        for d in defs.values()
        for g in d.get("x-kubernetes-group-version-kind", [])
    }
    assert {(rt.group, rt.version, rt.kind) for rt in RESOURCE_TYPES} <= gvks
    assert {r.removeprefix("#/definitions/") for r in _refs(doc)} <= set(defs)
    # kube-openapi refuses multi-type schemas; Swagger 2.0 has no null type.
    assert all(isinstance(t, str) and t != "null" for t in _types(defs))
    assert defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"
    replicas = defs["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["replicas"]
    assert replicas["type"] == "integer" and replicas["format"] == "int32"
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-action"] == "patch"
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}


def _fields(data: bytes) -> list[tuple[int, Any]]:
    """Decode one level of protobuf wire format: (field number, int | bytes) pairs."""
    out, i = [], 0

    def varint() -> int:
        nonlocal i
        shift = value = 0
        while True:
            byte = data[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while i < len(data):
        key = varint()
        wire = key & 7
        if wire == 0:
            out.append((key >> 3, varint()))
        elif wire == 1:
            out.append((key >> 3, data[i : i + 8]))
            i += 8
        else:
            assert wire == 2, f"unexpected wire type {wire}"
            n = varint()
            out.append((key >> 3, data[i : i + n]))
            i += n
    return out


def test_protobuf_form_is_a_gnostic_document(kubesim: KubeSim) -> None:
    resp = _get(kubesim, PB_REQUEST)
    assert resp.status == 200 and resp.headers["Content-Type"] == PROTOBUF
    top = dict(_fields(resp.data))
    assert top[1] == b"2.0"  # Document.swagger
    named = [dict(_fields(d)) for n, d in _fields(top[9]) if n == 1]  # Definitions → NamedSchema
    by_name = {d[1].decode(): d[2] for d in named}
    assert len(by_name) == len(_get(kubesim, "application/json").json()["definitions"])
    deployment = dict((n, v) for n, v in _fields(by_name["io.k8s.api.apps.v1.Deployment"]))
    extension = dict(_fields(deployment[31]))  # Schema.vendor_extension → NamedAny
    assert extension[1] == b"x-kubernetes-group-version-kind"
    gvk = json.loads(dict(_fields(extension[2]))[2])  # Any.yaml holds JSON (valid YAML)
    assert gvk == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
