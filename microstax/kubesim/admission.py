"""Admission: decode-time schema checks, unknown-field handling and semantic validation.

Order follows the apiserver: decoding (types and unknown fields, governed by the
``fieldValidation`` query parameter), defaulting (``defaults.py``), then validation (schema
constraints plus ``validation.py``), answered as ``422 Invalid`` with ``details.causes``.

Unknown fields: a real server keeps them out of storage and, under ``fieldValidation=Strict``,
refuses the request with ``400 BadRequest`` ("strict decoding error: unknown field …"); under
``Warn`` (the upstream default) it drops them and sends a ``Warning`` header. kubesim uses the same
three modes but defaults to ``Strict`` (configurable) so typos fail loudly in tests.
"""

from __future__ import annotations

import json
from typing import Any

from . import schema
from .errors import ApiError, bad_request, invalid
from .resources import ResourceType
from .util import Obj
from .validation import Cause, validate_object

FIELD_VALIDATION_MODES = ("Strict", "Warn", "Ignore")


def _field_path(path: Any) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _render(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str | int | float | bool) or value is None else _json_type(value)


def _schema_cause(err: Any) -> Cause:
    field = _field_path(err.absolute_path)
    if err.validator == "required":
        missing = [p for p in err.validator_value if p not in (err.instance or {})]
        sub = missing[0] if missing else ""
        return {
            "reason": "FieldValueRequired",
            "message": "Required value",
            "field": f"{field}.{sub}" if field else sub,
        }
    if err.validator == "type":
        expected = [
            t for t in (err.validator_value if isinstance(err.validator_value, list) else [err.validator_value])
        ]
        expected = [t for t in expected if t != "null"]
        got = _json_type(err.instance)
        return {
            "reason": "FieldValueTypeInvalid",
            "message": f"Invalid value: {_render(got)}: {field} in body must be of type {' or '.join(expected)}: "
            f"{_render(got)}",
            "field": field,
        }
    if err.validator == "enum":
        options = ", ".join(json.dumps(v) for v in err.validator_value if v is not None)
        return {
            "reason": "FieldValueNotSupported",
            "message": f"Unsupported value: {_render(err.instance)}: supported values: {options}",
            "field": field,
        }
    if err.validator == "oneOf":
        return {
            "reason": "FieldValueTypeInvalid",
            "message": f"Invalid value: {_render(err.instance)}: {field} in body must be of type "
            f"int-or-string or quantity",
            "field": field,
        }
    return {
        "reason": "FieldValueInvalid",
        "message": f"Invalid value: {_render(err.instance)}: {err.message}",
        "field": field,
    }


def _unknown_fields(err: Any) -> list[tuple[list[Any], str]]:
    known = set((err.schema.get("properties") or {}).keys())
    return [(list(err.absolute_path), k) for k in err.instance if k not in known]


def _drop(obj: Obj, path: list[Any], key: str) -> None:
    cur: Any = obj
    for p in path:
        cur = cur[p]
    if isinstance(cur, dict):
        cur.pop(key, None)


class Admission:
    """Validates incoming objects of one Kubernetes version; validators are cached per process."""

    def __init__(self, version: str, default_field_validation: str = "Strict") -> None:
        self.version = schema.schema_version(version)
        if default_field_validation not in FIELD_VALIDATION_MODES:
            raise ValueError(f"field validation must be one of {FIELD_VALIDATION_MODES}")
        self.default_field_validation = default_field_validation

    def decode(self, rt: ResourceType, obj: Obj, field_validation: str | None) -> tuple[list[Cause], list[str]]:
        """Check the object against its schema.

        Returns (schema causes for later 422, warnings). Unknown fields are removed in place, or
        raise ``400 BadRequest`` in Strict mode.
        """
        mode = field_validation or self.default_field_validation
        if mode not in FIELD_VALIDATION_MODES:
            raise bad_request(
                f'fieldValidation: Unsupported value: "{mode}": supported values: "Ignore", "Strict", "Warn"'
            )
        v = schema.validator(self.version, rt.api_version, rt.kind)
        if v is None:
            return [], []
        causes: list[Cause] = []
        unknown: list[tuple[list[Any], str]] = []
        for err in v.iter_errors(obj):
            if err.validator == "additionalProperties" and isinstance(err.instance, dict):
                unknown += _unknown_fields(err)
            else:
                causes.append(_schema_cause(err))
        warnings: list[str] = []
        if unknown:
            names = [(_field_path([*p, k])) for p, k in unknown]
            if mode == "Strict":
                text = ", ".join(f'unknown field "{n}"' for n in sorted(names))
                raise bad_request(
                    f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                    f"strict decoding error: {text}"
                )
            for p, k in sorted(unknown, key=lambda x: -len(x[0])):
                _drop(obj, p, k)
            if mode == "Warn":
                warnings = [f'unknown field "{n}"' for n in sorted(names)]
        causes.sort(key=lambda c: c.get("field", ""))
        return causes, warnings

    def validate(self, rt: ResourceType, obj: Obj, schema_causes: list[Cause]) -> None:
        """Raise ``422 Invalid`` with all causes, schema first, like ``NewInvalid`` aggregates."""
        causes = list(schema_causes) + validate_object(rt.kind, obj)
        if causes:
            seen: set[tuple[str, str]] = set()
            unique = []
            for c in causes:
                key = (c.get("field", ""), c["message"])
                if key not in seen:
                    seen.add(key)
                    unique.append(c)
            name = (obj.get("metadata") or {}).get("name") or ""
            raise invalid(rt.kind, rt.group, name, unique)


def check_secret_data(rt: ResourceType, obj: Obj) -> None:
    """Secret ``data`` is ``[]byte`` in Go: non-base64 fails decoding with 400 like upstream."""
    import base64
    import binascii

    for value in (obj.get("data") or {}).values():
        if not isinstance(value, str):
            continue
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ApiError(
                400,
                "BadRequest",
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: illegal base64 data '
                f"at input byte {_bad_byte(value)}",
            ) from exc


def _bad_byte(value: str) -> int:
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    for i, ch in enumerate(value):
        if ch not in alphabet:
            return i
    return max(len(value) - 1, 0)
