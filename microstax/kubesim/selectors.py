"""Label and field selectors, in their query-string and ``LabelSelector`` forms."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import bad_request

Matcher = Callable[[dict[str, Any]], bool]

# Field labels each kind supports besides metadata.name/namespace (from the registries' field sets).
_FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "Pod": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "Event": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "Secret": ("type",),
    "Namespace": ("status.phase",),
    "Job": ("status.successful",),
    "ReplicaSet": ("status.replicas",),
    "Node": ("spec.unschedulable",),
}

_TOKEN = re.compile(r"\s*(!=|==|=|\(|\)|,|!|[^\s!=(),]+)")


def _get_path(obj: dict[str, Any], path: str) -> Any:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise bad_request(f"unable to parse requirement: invalid label selector: {text!r}")
        out.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def parse_label_selector(text: str | None) -> Matcher:
    """Parse ``a=b,c!=d,e in (x,y),f notin (z),g,!h`` into a predicate over labels dicts."""
    if not text or not text.strip():
        return lambda labels: True
    toks = _tokens(text)
    reqs: list[Matcher] = []
    i = 0

    def fail() -> None:
        raise bad_request(f"unable to parse requirement: found '{text}', expected: valid label selector")

    while i < len(toks):
        tok = toks[i]
        if tok == "!":
            if i + 1 >= len(toks):
                fail()
            key = toks[i + 1]
            reqs.append(lambda lb, k=key: k not in lb)
            i += 2
        else:
            key = tok
            op = toks[i + 1] if i + 1 < len(toks) else ","
            if op in ("=", "==", "!="):
                if i + 2 >= len(toks) or toks[i + 2] == ",":
                    value = ""
                    i += 2
                else:
                    value = toks[i + 2]
                    i += 3
                if op == "!=":
                    reqs.append(lambda lb, k=key, v=value: lb.get(k) != v)
                else:
                    reqs.append(lambda lb, k=key, v=value: lb.get(k) == v)
            elif op in ("in", "notin"):
                if i + 2 >= len(toks) or toks[i + 2] != "(":
                    fail()
                j = i + 3
                values: set[str] = set()
                while j < len(toks) and toks[j] != ")":
                    if toks[j] != ",":
                        values.add(toks[j])
                    j += 1
                if j >= len(toks):
                    fail()
                if op == "in":
                    reqs.append(lambda lb, k=key, vs=frozenset(values): lb.get(k) in vs)
                else:
                    reqs.append(lambda lb, k=key, vs=frozenset(values): lb.get(k) not in vs)
                i = j + 1
            else:
                reqs.append(lambda lb, k=key: k in lb)
                i += 1
        if i < len(toks):
            if toks[i] != ",":
                fail()
            i += 1
    return lambda labels: all(r(labels) for r in reqs)


def parse_field_selector(text: str | None, kind: str) -> Matcher:
    """Parse ``metadata.name=x,status.phase!=Running``; unknown field labels are a 400 like upstream."""
    if not text or not text.strip():
        return lambda obj: True
    allowed = ("metadata.name", "metadata.namespace", *_FIELD_LABELS.get(kind, ()))
    reqs: list[Matcher] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([^!=]+)(!=|==|=)(.*)$", part)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = m.group(1).strip(), m.group(2), m.group(3).strip()
        if field not in allowed:
            raise bad_request(f"field label not supported: {field}")

        def get(obj: dict[str, Any], f: str = field) -> str:
            if kind == "Event" and f == "source":
                v = _get_path(obj, "source.component") or obj.get("reportingComponent")
            else:
                v = _get_path(obj, f)
            if isinstance(v, bool):
                return "true" if v else "false"
            return "" if v is None else str(v)

        if op == "!=":
            reqs.append(lambda obj, g=get, v=value: g(obj) != v)
        else:
            reqs.append(lambda obj, g=get, v=value: g(obj) == v)
    return lambda obj: all(r(obj) for r in reqs)


def label_selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Whether a ``LabelSelector`` object matches; an empty selector matches everything."""
    if not selector:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def selector_to_string(selector: dict[str, Any] | None) -> str:
    """The string form of a ``LabelSelector`` (what the Scale subresource reports)."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr.get("operator"), expr.get("key"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(sorted(values))})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(sorted(values))})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)
