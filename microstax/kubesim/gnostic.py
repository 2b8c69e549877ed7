"""Protocol-buffer encoding of a Swagger 2.0 document as gnostic's ``openapi.v2.Document``.

client-go's ``OpenAPISchema()`` requests ``/openapi/v2`` as
``application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` and unmarshals the body with the
message types of ``github.com/google/gnostic/openapiv2/OpenAPIv2.proto``; it never falls back to
JSON. This is a small hand-written proto3 encoder for the subset of those messages a Kubernetes
swagger uses; the field numbers below are the ones in that ``.proto`` file.

Like gnostic's own compiler, vendor extensions (``x-kubernetes-*``), ``default``, ``example`` and
``enum`` values become ``Any{yaml: ...}``; kube-openapi reads them back with a YAML decoder, so
their JSON text (valid YAML) is used.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64 two's complement, as protobuf encodes negative varints
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _bytes(field: int, data: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _str(field: int, value: Any) -> bytes:
    return _bytes(field, str(value).encode()) if value not in (None, "") else b""


def _strs(field: int, values: Any) -> bytes:
    return b"".join(_bytes(field, str(v).encode()) for v in values or [])


def _bool(field: int, value: Any) -> bytes:
    return _varint(field << 3) + b"\x01" if value else b""


def _int(field: int, value: Any) -> bytes:
    return _varint(field << 3) + _varint(int(value)) if value else b""


def _double(field: int, value: Any) -> bytes:
    return _varint(field << 3 | 1) + struct.pack("<d", float(value)) if value else b""


def _msg(field: int, body: bytes) -> bytes:
    return _bytes(field, body)


def _any(value: Any) -> bytes:
    """``Any{yaml: <text>}`` (field 2)."""
    return _str(2, json.dumps(value))


def _named(field: int, name: str, value: bytes) -> bytes:
    """A ``Named*`` pair message: ``name = 1``, ``value = 2``."""
    return _msg(field, _str(1, name) + _msg(2, value))


def _extensions(field: int, obj: dict[str, Any]) -> bytes:
    return b"".join(_named(field, k, _any(v)) for k, v in obj.items() if k.startswith("x-"))


# Schema ----------------------------------------------------------------------------------------

_SCHEMA_SCALARS: tuple[tuple[str, int, Callable[[int, Any], bytes]], ...] = (
    ("$ref", 1, _str),
    ("format", 2, _str),
    ("title", 3, _str),
    ("description", 4, _str),
    ("multipleOf", 6, _double),
    ("maximum", 7, _double),
    ("exclusiveMaximum", 8, _bool),
    ("minimum", 9, _double),
    ("exclusiveMinimum", 10, _bool),
    ("maxLength", 11, _int),
    ("minLength", 12, _int),
    ("pattern", 13, _str),
    ("maxItems", 14, _int),
    ("minItems", 15, _int),
    ("uniqueItems", 16, _bool),
    ("maxProperties", 17, _int),
    ("minProperties", 18, _int),
    ("required", 19, _strs),
)


def encode_schema(s: dict[str, Any]) -> bytes:
    out = [fn(num, s.get(key)) for key, num, fn in _SCHEMA_SCALARS]
    if "default" in s:
        out.append(_msg(5, _any(s["default"])))
    out += [_msg(20, _any(v)) for v in s.get("enum") or []]
    extra = s.get("additionalProperties")
    if isinstance(extra, bool):
        out.append(_msg(21, _varint(2 << 3) + (b"\x01" if extra else b"\x00")))
    elif isinstance(extra, dict):
        out.append(_msg(21, _msg(1, encode_schema(extra))))
    if s.get("type"):
        types = s["type"] if isinstance(s["type"], list) else [s["type"]]
        out.append(_msg(22, _strs(1, types)))
    if "items" in s:
        items = s["items"] if isinstance(s["items"], list) else [s["items"]]
        out.append(_msg(23, b"".join(_msg(1, encode_schema(i)) for i in items)))
    out += [_msg(24, encode_schema(a)) for a in s.get("allOf") or []]
    if "properties" in s:
        props = b"".join(_named(1, k, encode_schema(v)) for k, v in s["properties"].items())
        out.append(_msg(25, props))
    out.append(_str(26, s.get("discriminator")))
    out.append(_bool(27, s.get("readOnly")))
    if "example" in s:
        out.append(_msg(30, _any(s["example"])))
    out.append(_extensions(31, s))
    return b"".join(out)


# Paths -----------------------------------------------------------------------------------------


def _parameter(p: dict[str, Any]) -> bytes:
    """``ParametersItem{parameter: Parameter{body_parameter | non_body_parameter}}``."""
    where = p.get("in")
    if where == "body":
        body = (
            _str(1, p.get("description"))
            + _str(2, p.get("name"))
            + _str(3, where)
            + _bool(4, p.get("required"))
            + _msg(5, encode_schema(p.get("schema") or {}))
            + _extensions(6, p)
        )
        return _msg(1, _msg(1, body))
    common = _bool(1, p.get("required")) + _str(2, where) + _str(3, p.get("description")) + _str(4, p.get("name"))
    if where == "path":  # PathParameterSubSchema: type 5, format 6, uniqueItems 19, extensions 22
        sub = common + _str(5, p.get("type")) + _str(6, p.get("format")) + _bool(19, p.get("uniqueItems"))
        sub += _extensions(22, p)
        choice = 4
    elif where == "header":  # HeaderParameterSubSchema: type 5, format 6, uniqueItems 19, extensions 22
        sub = common + _str(5, p.get("type")) + _str(6, p.get("format")) + _bool(19, p.get("uniqueItems"))
        sub += _extensions(22, p)
        choice = 1
    else:  # QueryParameterSubSchema (and formData, same layout): type 6, format 7, uniqueItems 20, ext 23
        sub = common + _str(6, p.get("type")) + _str(7, p.get("format")) + _bool(20, p.get("uniqueItems"))
        sub += _extensions(23, p)
        choice = 2 if where == "formData" else 3
    return _msg(1, _msg(2, _msg(choice, sub)))


def _responses(responses: dict[str, Any]) -> bytes:
    out = b""
    for code, r in responses.items():
        if code.startswith("x-"):
            continue
        body = _str(1, r.get("description"))
        if isinstance(r.get("schema"), dict):
            body += _msg(2, _msg(1, encode_schema(r["schema"])))
        body += _extensions(5, r)
        out += _named(1, code, _msg(1, body))
    return out + _extensions(2, responses)


def _operation(op: dict[str, Any]) -> bytes:
    return (
        _strs(1, op.get("tags"))
        + _str(2, op.get("summary"))
        + _str(3, op.get("description"))
        + _str(5, op.get("operationId"))
        + _strs(6, op.get("produces"))
        + _strs(7, op.get("consumes"))
        + b"".join(_msg(8, _parameter(p)) for p in op.get("parameters") or [])
        + _msg(9, _responses(op.get("responses") or {}))
        + _strs(10, op.get("schemes"))
        + _bool(11, op.get("deprecated"))
        + _extensions(13, op)
    )


_METHODS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _path_item(item: dict[str, Any]) -> bytes:
    out = _str(1, item.get("$ref"))
    for method, num in _METHODS.items():
        if method in item:
            out += _msg(num, _operation(item[method]))
    out += b"".join(_msg(9, _parameter(p)) for p in item.get("parameters") or [])
    return out + _extensions(10, item)


# Document --------------------------------------------------------------------------------------


def _security_definitions(defs: dict[str, Any]) -> bytes:
    out = b""
    for name, d in defs.items():
        if d.get("type") == "apiKey":  # SecurityDefinitionsItem.api_key_security = 2
            key = _str(1, "apiKey") + _str(2, d.get("name")) + _str(3, d.get("in")) + _str(4, d.get("description"))
            out += _named(1, name, _msg(2, key + _extensions(5, d)))
        elif d.get("type") == "basic":  # basic_authentication_security = 1
            out += _named(1, name, _msg(1, _str(1, "basic") + _str(2, d.get("description"))))
    return out


def _security(requirements: list[dict[str, list[str]]]) -> bytes:
    return b"".join(
        _msg(12, b"".join(_named(1, name, _strs(1, scopes)) for name, scopes in req.items())) for req in requirements
    )


def encode_document(doc: dict[str, Any]) -> bytes:
    """A Swagger 2.0 document (as a dict) in gnostic's ``openapi.v2.Document`` wire format."""
    info = doc.get("info") or {}
    paths = b"".join(_named(2, path, _path_item(item)) for path, item in (doc.get("paths") or {}).items())
    definitions = b"".join(_named(1, name, encode_schema(s)) for name, s in (doc.get("definitions") or {}).items())
    return b"".join(
        [
            _str(1, doc.get("swagger", "2.0")),
            _msg(2, _str(1, info.get("title")) + _str(2, info.get("version")) + _str(3, info.get("description"))),
            _str(3, doc.get("host")),
            _str(4, doc.get("basePath")),
            _strs(5, doc.get("schemes")),
            _strs(6, doc.get("consumes")),
            _strs(7, doc.get("produces")),
            _msg(8, paths + _extensions(1, doc.get("paths") or {})),
            _msg(9, definitions),
            _security(doc.get("security") or []),
            _msg(13, _security_definitions(doc.get("securityDefinitions") or {}))
            if "securityDefinitions" in doc
            else b"",
            _extensions(16, doc),
        ]
    )
