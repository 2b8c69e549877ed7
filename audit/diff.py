"""The before/after difference of an event, as rows a reviewer can read (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_MISSING = object()


@dataclass(frozen=True)
class DiffRow:
    path: str
    before: str
    after: str
    change: str  # added | removed | changed | unchanged


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key in sorted(value, key=str):
            out.update(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix or "(value)": value}


def _show(value: Any) -> str:
    if value is _MISSING:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def diff(before: Any, after: Any) -> list[DiffRow]:
    """One row per leaf path of either side; lists compare as whole values."""
    left = _flatten(before) if before is not None else {}
    right = _flatten(after) if after is not None else {}
    rows = []
    for path in sorted(set(left) | set(right)):
        old, new = left.get(path, _MISSING), right.get(path, _MISSING)
        if old is _MISSING:
            change = "added"
        elif new is _MISSING:
            change = "removed"
        else:
            change = "unchanged" if old == new else "changed"
        rows.append(DiffRow(path, _show(old), _show(new), change))
    return rows
