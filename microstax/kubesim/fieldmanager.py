"""Field ownership (``metadata.managedFields``) and server-side apply.

A simplified but faithful model of structured-merge-diff: every object is flattened to its leaf
paths, written in ``FieldsV1`` notation (``f:spec``, ``k:{"name":"web"}``, ``v:"x"``); each
manager entry owns a set of them. The three apply rules hold:

1. a field the applier sends that another manager owns with a *different* value is a conflict
   (409), unless ``force=true`` moves ownership to the applier;
2. maps merge recursively; lists merge as the schema says (map by keys, set, or atomic);
3. fields the same manager applied before but no longer sends are removed, unless another manager
   still owns them.

Non-apply writes (create, update, patch) give the writer an ``Update`` entry for every field it
changed and take those fields away from everybody else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError
from .schema import SchemaNode
from .util import Obj, now_rfc3339

Path = tuple[str, ...]
_ITEM = object()  # flat value of a list item marker ("." in FieldsV1)
_TRACKED_METADATA = ("labels", "annotations", "finalizers", "ownerReferences")
# Key fields with a server default; structured-merge-diff treats a missing key as its default.
_KEY_DEFAULTS = {"protocol": "TCP"}


def _item_key(item: dict[str, Any], keys: tuple[str, ...]) -> str:
    parts = {k: item.get(k, _KEY_DEFAULTS.get(k)) for k in keys if item.get(k, _KEY_DEFAULTS.get(k)) is not None}
    return "k:" + json.dumps(parts, separators=(",", ":"), sort_keys=True)


def flatten(obj: Any, node: SchemaNode, prefix: Path = (), *, top: bool = True) -> dict[Path, Any]:
    """Leaf paths of an object with their values (list items carry an item marker too)."""
    out: dict[Path, Any] = {}
    if not isinstance(obj, dict):
        return out
    for k, v in obj.items():
        if top and k in ("apiVersion", "kind", "status"):
            continue
        if top and k == "metadata":
            for mk in _TRACKED_METADATA:
                if mk in (v or {}):
                    _flatten_value(
                        (v or {})[mk], node.child("metadata").child(mk), (*prefix, "f:metadata", f"f:{mk}"), out
                    )
            continue
        _flatten_value(v, node.child(k), (*prefix, f"f:{k}"), out)
    return out


def _flatten_value(v: Any, node: SchemaNode, path: Path, out: dict[Path, Any]) -> None:
    if isinstance(v, dict) and v:
        for k, sub in v.items():
            _flatten_value(sub, node.child(k), (*path, f"f:{k}"), out)
    elif isinstance(v, list) and v:
        info = node.list_info()
        if info.list_type == "map" and info.keys and all(isinstance(i, dict) for i in v):
            items = node.items()
            for item in v:
                ipath = (*path, _item_key(item, info.keys))
                out[ipath] = _ITEM
                for k, sub in item.items():
                    _flatten_value(sub, items.child(k), (*ipath, f"f:{k}"), out)
        elif info.list_type == "set" and all(not isinstance(i, dict | list) for i in v):
            for item in v:
                out[(*path, "v:" + json.dumps(item))] = item
        else:
            out[path] = v
    else:
        out[path] = v


def to_fieldsv1(paths: set[Path]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in sorted(paths):
        cur = root
        for p in path:
            cur = cur.setdefault(p, {})
        if path and path[-1].startswith("k:"):
            cur["."] = {}
    return root


# Parsed FieldsV1 trees by identity. Stored objects are immutable and an unchanged entry's tree is
# carried over as the same dict, so every write after the first re-reads trees it parsed before.
# The value keeps a reference to the tree, so its id cannot be reused while cached.
_PARSED: dict[int, tuple[Any, frozenset[Path]]] = {}
_PARSED_MAX = 8192


def _remember(tree: Any, fields: frozenset[Path]) -> None:
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[id(tree)] = (tree, fields)


def parse_fields(tree: Any) -> frozenset[Path]:
    """``from_fieldsv1`` memoised by the identity of the tree."""
    hit = _PARSED.get(id(tree))
    if hit is not None and hit[0] is tree:
        return hit[1]
    fields = frozenset(from_fieldsv1(tree))
    _remember(tree, fields)
    return fields


def from_fieldsv1(tree: Any, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    if not isinstance(tree, dict):
        return out
    for k, v in tree.items():
        if k == ".":
            out.add(prefix)
            continue
        path = (*prefix, k)
        if isinstance(v, dict) and v and set(v) != {"."}:
            out |= from_fieldsv1(v, path)
        else:
            out.add(path)
    return out


@dataclass
class Entry:
    manager: str
    operation: str
    api_version: str
    time: str
    fields: set[Path] = field(default_factory=set)
    subresource: str = ""
    # The FieldsV1 tree this entry was read from and its fields, reused when the set is unchanged.
    source: Any = field(default=None, repr=False, compare=False)
    source_fields: frozenset[Path] = field(default=frozenset(), repr=False, compare=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.manager, self.operation, self.subresource)

    def to_json(self) -> dict[str, Any]:
        if self.source is not None and self.fields == self.source_fields:
            tree = self.source
        else:
            tree = to_fieldsv1(self.fields)
            _remember(tree, frozenset(self.fields))
        out: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": tree,
        }
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def read_entries(obj: Obj) -> list[Entry]:
    out = []
    for e in (obj.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(e, dict):
            continue
        tree = e.get("fieldsV1") or {}
        fields = parse_fields(tree)
        out.append(
            Entry(
                manager=e.get("manager", ""),
                operation=e.get("operation", "Update"),
                api_version=e.get("apiVersion", ""),
                time=e.get("time", ""),
                fields=set(fields),
                subresource=e.get("subresource", ""),
                source=tree,
                source_fields=fields,
            )
        )
    return out


def write_entries(obj: Obj, entries: list[Entry]) -> None:
    kept = [e.to_json() for e in entries if e.fields]
    md = obj.setdefault("metadata", {})
    if kept:
        md["managedFields"] = kept
    else:
        md.pop("managedFields", None)


def _flatten_status(obj: Obj, node: SchemaNode) -> dict[Path, Any]:
    out: dict[Path, Any] = {}
    if isinstance(obj.get("status"), dict):
        _flatten_value(obj["status"], node.child("status"), ("f:status",), out)
    return out


def track_update(
    old: Obj | None, new: Obj, node: SchemaNode, manager: str, api_version: str, subresource: str = ""
) -> None:
    """Record a non-apply write by ``manager`` in ``new``'s managedFields."""
    flat = _flatten_status if subresource == "status" else flatten
    old_flat = flat(old, node) if old else {}
    new_flat = flat(new, node)
    changed = {p for p, v in new_flat.items() if p not in old_flat or old_flat[p] != v}
    removed = set(old_flat) - set(new_flat)
    entries = read_entries(old) if old else []
    if not changed and not removed:
        write_entries(new, entries)
        return
    now = now_rfc3339()
    mine: Entry | None = None
    for e in entries:
        e.fields -= removed
        if e.manager == manager and e.operation == "Update" and e.subresource == subresource:
            mine = e
        else:
            e.fields -= changed
    if changed:
        if mine is None:
            mine = Entry(manager, "Update", api_version, now, subresource=subresource)
            entries.append(mine)
        mine.fields |= changed
        mine.time = now
        mine.api_version = api_version
    write_entries(new, entries)


# ---------------------------------------------------------------------------------------------
# Apply


def _values_equal(a: Any, b: Any) -> bool:
    if a is _ITEM or b is _ITEM:
        return a is b
    return a == b


def _path_text(path: Path) -> str:
    out = ""
    for p in path:
        if p.startswith("f:"):
            out += "." + p[2:]
        elif p.startswith("k:"):
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(p[2:]).items()) + "]"
        elif p.startswith("v:"):
            out += f"[={p[2:]}]"
    return out


def apply_merge(live: Any, applied: Any, node: SchemaNode) -> Any:
    """Merge an applied configuration into the live object as apply does."""
    if not isinstance(applied, dict) or not isinstance(live, dict):
        return json.loads(json.dumps(applied))
    out = dict(live)
    for k, v in applied.items():
        child = node.child(k)
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = apply_merge(out[k], v, child)
        elif isinstance(v, list) and isinstance(out.get(k), list):
            out[k] = _apply_list(out[k], v, child)
        else:
            out[k] = json.loads(json.dumps(v))
    return out


def _apply_list(live: list[Any], applied: list[Any], node: SchemaNode) -> list[Any]:
    info = node.list_info()
    if info.list_type == "map" and info.keys and all(isinstance(i, dict) for i in applied + live):
        index = {_item_key(i, info.keys): n for n, i in enumerate(live)}
        out = list(live)
        items = node.items()
        for item in applied:
            k = _item_key(item, info.keys)
            if k in index:
                out[index[k]] = apply_merge(out[index[k]], item, items)
            else:
                out.append(json.loads(json.dumps(item)))
        return out
    if info.list_type == "set":
        out = list(live)
        for i in applied:
            if i not in out:
                out.append(i)
        return out
    return json.loads(json.dumps(applied))


def _remove_path(obj: Any, path: Path, node: SchemaNode) -> None:
    """Delete one owned path from an object (a field, a keyed list item or a set value)."""
    if not path:
        return
    parent_path, last = path[:-1], path[-1]
    cur: Any = obj
    cur_node = node
    trail: list[tuple[Any, str]] = []
    for p in parent_path:
        if isinstance(cur, dict) and p.startswith("f:"):
            trail.append((cur, p[2:]))
            cur_node = cur_node.child(p[2:])
            cur = cur.get(p[2:])
        elif isinstance(cur, list) and p.startswith("k:"):
            keys = tuple(json.loads(p[2:]).keys())
            cur = next((i for i in cur if isinstance(i, dict) and _item_key(i, keys) == p), None)
            cur_node = cur_node.items()
        else:
            return
        if cur is None:
            return
    if last.startswith("f:") and isinstance(cur, dict):
        cur.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(cur, list):
        keys = tuple(json.loads(last[2:]).keys())
        cur[:] = [i for i in cur if not (isinstance(i, dict) and _item_key(i, keys) == last)]
    elif last.startswith("v:") and isinstance(cur, list):
        value = json.loads(last[2:])
        cur[:] = [i for i in cur if i != value]
    # Drop containers the removal left empty, as apply does for maps it no longer has fields in.
    for container, key in reversed(trail):
        if isinstance(container, dict) and container.get(key) in ({}, []):
            container.pop(key, None)
        else:
            break


def server_side_apply(
    live: Obj | None,
    applied: Obj,
    node: SchemaNode,
    manager: str,
    api_version: str,
    *,
    force: bool,
    subresource: str = "",
) -> Obj:
    """Return the new object; raise 409 on conflicts. ``live`` None means create."""
    applied_flat = _flatten_status(applied, node) if subresource == "status" else flatten(applied, node)
    live = live or {}
    live_flat = (_flatten_status if subresource == "status" else flatten)(live, node) if live else {}
    entries = read_entries(live) if live else []
    conflicts: list[tuple[Entry, Path]] = []
    for e in entries:
        if e.manager == manager and e.operation == "Apply":
            continue
        for p in e.fields & set(applied_flat):
            if p in live_flat and not _values_equal(live_flat[p], applied_flat[p]):
                conflicts.append((e, p))
    if conflicts and not force:
        causes = [
            {
                "type": "FieldManagerConflict",
                "message": f'conflict with "{e.manager}"'
                + (f" using {e.api_version}" if e.operation == "Update" or e.api_version else ""),
                "field": _path_text(p),
            }
            for e, p in sorted(conflicts, key=lambda c: (c[0].manager, c[1]))
        ]
        if len(causes) == 1:
            msg = f"Apply failed with 1 conflict: {causes[0]['message']}: {causes[0]['field']}"
        else:
            msg = f"Apply failed with {len(causes)} conflicts: " + "\n".join(
                f"{c['message']}: {c['field']}" for c in causes
            )
        raise ApiError(409, "Conflict", msg, {"causes": causes})
    mine = next(
        (e for e in entries if e.manager == manager and e.operation == "Apply" and e.subresource == subresource), None
    )
    previously = mine.fields if mine else set()
    others: set[Path] = set()
    for e in entries:
        if e is not mine:
            others |= e.fields
    stale = previously - set(applied_flat) - others
    result = apply_merge(live, applied, node) if live else json.loads(json.dumps(applied))
    for p in sorted(stale, key=len, reverse=True):
        if any(o[: len(p)] == p for o in others):
            continue
        target = result if p[0] != "f:metadata" else result
        _remove_path(target, p, node)
    now = now_rfc3339()
    if force:
        taken = {p for _, p in conflicts}
        for e in entries:
            if e is not mine:
                e.fields -= taken
    if mine is None:
        mine = Entry(manager, "Apply", api_version, now, subresource=subresource)
        entries.append(mine)
    if mine.fields != set(applied_flat):
        mine.time = now
    mine.fields = set(applied_flat)
    mine.api_version = api_version
    write_entries(result, entries)
    return result
