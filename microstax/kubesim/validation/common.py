"""Field-error causes worded like apimachinery's ``field.Error`` and the object-meta checks every kind shares."""

from __future__ import annotations

import json
import re
from typing import Any

from ..quantity import PARSE_ERROR, QuantityError, parse_quantity
from ..util import Obj

Cause = dict[str, str]

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")

DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)

# Name rule per kind (ValidateObjectMeta's nameFn); everything else is a DNS-1123 subdomain.
_NAME_RULES = {"Namespace": "label", "Service": "dns1035"}


def quote(value: Any) -> str:
    """Go's ``%q``-ish rendering used in Invalid value messages."""
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value) if not isinstance(value, dict) else str(value)


def invalid(field: str, value: Any, detail: str) -> Cause:
    return {"reason": "FieldValueInvalid", "message": f"Invalid value: {quote(value)}: {detail}", "field": field}


def required(field: str, detail: str = "") -> Cause:
    msg = "Required value" + (f": {detail}" if detail else "")
    return {"reason": "FieldValueRequired", "message": msg, "field": field}


def unsupported(field: str, value: Any, supported: list[str]) -> Cause:
    options = ", ".join(json.dumps(s) for s in supported)
    return {
        "reason": "FieldValueNotSupported",
        "message": f"Unsupported value: {quote(value)}: supported values: {options}",
        "field": field,
    }


def duplicate(field: str, value: Any) -> Cause:
    return {"reason": "FieldValueDuplicate", "message": f"Duplicate value: {quote(value)}", "field": field}


def forbidden(field: str, detail: str) -> Cause:
    return {"reason": "FieldValueForbidden", "message": f"Forbidden: {detail}", "field": field}


def check_dns_label(field: str, value: str) -> list[Cause]:
    out = []
    if len(value) > 63:
        out.append(invalid(field, value, "must be no more than 63 characters"))
    if not DNS1123_LABEL.match(value):
        out.append(invalid(field, value, DNS1123_LABEL_MSG))
    return out


def check_name(kind: str, name: str) -> list[Cause]:
    rule = _NAME_RULES.get(kind, "subdomain")
    if rule == "label":
        return check_dns_label("metadata.name", name)
    if rule == "dns1035":
        out = []
        if len(name) > 63:
            out.append(invalid("metadata.name", name, "must be no more than 63 characters"))
        if not DNS1035_LABEL.match(name):
            out.append(invalid("metadata.name", name, DNS1035_LABEL_MSG))
        return out
    out = []
    if len(name) > 253:
        out.append(invalid("metadata.name", name, "must be no more than 253 characters"))
    if not DNS1123_SUBDOMAIN.match(name):
        out.append(invalid("metadata.name", name, DNS1123_SUBDOMAIN_MSG))
    return out


def check_qualified_key(field: str, key: str) -> list[Cause]:
    prefix, _, name = key.rpartition("/")
    out: list[Cause] = []
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        out.append(invalid(field, key, "prefix part " + DNS1123_SUBDOMAIN_MSG))
    if not name or len(name) > 63 or not QUALIFIED_NAME.match(name):
        out.append(
            invalid(
                field,
                key,
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            )
        )
    return out


def check_labels(field: str, labels: Any) -> list[Cause]:
    out: list[Cause] = []
    if not isinstance(labels, dict):
        return out
    for k, v in labels.items():
        out += check_qualified_key(field, k)
        if not isinstance(v, str) or len(v) > 63 or not LABEL_VALUE.match(v):
            out.append(
                invalid(
                    f"{field}",
                    v,
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
                    "'my_value',  or '12345', regex used for validation is "
                    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                )
            )
    return out


def check_metadata(kind: str, obj: Obj) -> list[Cause]:
    md = obj.get("metadata") or {}
    out: list[Cause] = []
    name = md.get("name")
    if not name:
        out.append(required("metadata.name", "name or generateName is required"))
    else:
        out += check_name(kind, name)
    out += check_labels("metadata.labels", md.get("labels"))
    for k in (md.get("annotations") or {}).keys():
        out += check_qualified_key("metadata.annotations", k)
    return out


def check_quantity(field: str, value: Any, *, non_negative: bool = True) -> list[Cause]:
    try:
        q = parse_quantity(value)
    except QuantityError:
        return [invalid(field, value, PARSE_ERROR)]
    if non_negative and q < 0:
        return [invalid(field, value, "must be greater than or equal to 0")]
    return []
