"""Safe YAML parsing that remembers where every value came from.

:func:`parse_yaml` turns text into plain Python data (dicts, lists, str, int, float, bool, None)
plus a :class:`PositionIndex` that answers "on which line and column is ``services[2].image``?".

It is built on PyYAML's event stream (libyaml when available) with an explicit stack instead of
PyYAML's recursive composer, so that hostile input is rejected quickly with a clear problem
instead of a hang, a memory blow-up or a crash:

* documents over :data:`MAX_DOCUMENT_BYTES` are refused before parsing;
* alias expansion is counted without being performed ("billion laughs" stops at the first alias
  that would push the expanded document past :data:`MAX_NODES`);
* nesting deeper than :data:`MAX_DEPTH`, more than :data:`MAX_ALIASES` aliases and recursive
  aliases are refused;
* more than one document is refused (a blueprint is one document).

Scalars follow the YAML 1.2 core schema rather than PyYAML's YAML 1.1 defaults: only
``true``/``false`` are booleans (``yes``, ``on`` stay strings), ``"8080:80"`` is never a base-60
number, and timestamps stay strings. Numbers remember the text they were written as
(:class:`YamlInt`/:class:`YamlFloat`), so ``VERSION: 1.10`` can be passed on as ``"1.10"``.
Duplicate keys and custom tags are reported as problems, not silently accepted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from blueprints.problems import Problem

MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_NODES = 500_000
MAX_ALIASES = 1_000
MAX_DEPTH = 64

Position = tuple[int, int]
PathPart = str | int
Path = tuple[PathPart, ...]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_INT = re.compile(r"[-+]?[0-9]+\Z")
_OCT = re.compile(r"0o[0-7]+\Z")
_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)\Z")
_NUMBER_START = frozenset("0123456789+-.")

_TAG = "tag:yaml.org,2002:"
_TEXT_TAGS = frozenset({_TAG + "str", _TAG + "binary", _TAG + "timestamp"})
_KEY_TAGS = frozenset({_TAG + "str", _TAG + "int", _TAG + "float", _TAG + "bool", _TAG + "null"})
_MAP_TAGS = frozenset({_TAG + "map"})
_SEQ_TAGS = frozenset({_TAG + "seq"})


class YamlInt(int):
    """An integer that remembers how it was written (``007`` stays ``"007"`` as text)."""

    source: str

    def __new__(cls, value: int, source: str) -> YamlInt:
        obj = super().__new__(cls, value)
        obj.source = source
        return obj


class YamlFloat(float):
    """A float that remembers how it was written (``1.10`` stays ``"1.10"`` as text)."""

    source: str

    def __new__(cls, value: float, source: str) -> YamlFloat:
        obj = super().__new__(cls, value)
        obj.source = source
        return obj


def scalar_text(value: object) -> str:
    """The text of a scalar as the author wrote it (numbers keep their spelling)."""
    source = getattr(value, "source", None)
    if isinstance(source, str):
        return source
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def format_path(path: Iterable[PathPart]) -> str:
    """``("services", 2, "ports", 0)`` → ``services[2].ports[0]``; odd keys are quoted."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part and re.fullmatch(r"[A-Za-z0-9_\-/]+", part):
            out.append(f".{part}" if out else part)
        else:
            out.append(f'["{part}"]')
    return "".join(out)


# Positions are packed into one int while parsing, (line << 21) | column, both 0-based: a
# document is at most 1 MiB, so neither exceeds 21 bits. One small int per node instead of a
# tuple keeps the parser fast and the garbage collector quiet on big blueprints.
_COLUMN_BITS = 21
_COLUMN_MASK = (1 << _COLUMN_BITS) - 1


def _unpack(mark: int) -> Position:
    return ((mark >> _COLUMN_BITS) + 1, (mark & _COLUMN_MASK) + 1)


def _mark(mark: Any) -> int:
    return (mark.line << _COLUMN_BITS) | mark.column


class PositionIndex:
    """Where each value of a parsed document was written.

    For every dict and list built by the parser it keeps, per key or index, the position of the
    key and of the value. Containers shared through YAML aliases report the anchor's positions.
    """

    def __init__(self) -> None:
        self._entries: dict[int, dict[PathPart, tuple[int, int]]] = {}
        self._keepalive: list[object] = []
        self.root: object = None
        self.root_mark = 0

    @property
    def root_position(self) -> Position:
        return _unpack(self.root_mark)

    def register(self, container: object, entries: dict[PathPart, tuple[int, int]]) -> None:
        self._entries[id(container)] = entries
        # Containers only reachable through a merge key (``<<``) would otherwise be freed and
        # their ids reused by unrelated containers.
        self._keepalive.append(container)

    def entries(self, container: object) -> dict[PathPart, tuple[int, int]]:
        return self._entries.get(id(container), {})

    def locate(self, path: Iterable[PathPart], *, at_key: bool = False) -> Position:
        """Position (1-based line, column) of the node at ``path``.

        With ``at_key`` the position of its key is given instead (for "unknown field"). When the
        path does not exist (a missing field), the position of the deepest existing ancestor's key
        is returned, which is where an editor should put the cursor.
        """
        node = self.root
        key_mark = value_mark = self.root_mark
        for part in path:
            if not isinstance(node, dict | list):
                return _unpack(key_mark)
            entry = self._entries.get(id(node), {}).get(part)
            if entry is None:
                return _unpack(key_mark)
            key_mark, value_mark = entry
            try:
                node = node[part]  # type: ignore[index]
            except (KeyError, IndexError, TypeError):
                return _unpack(key_mark)
        return _unpack(key_mark if at_key else value_mark)


@dataclass
class ParsedDocument:
    """The result of :func:`parse_yaml`: data (``None`` on a fatal problem) and problems."""

    data: Any = None
    positions: PositionIndex = field(default_factory=PositionIndex)
    problems: list[Problem] = field(default_factory=list)
    ok: bool = True


class _Fatal(Exception):
    """Stops parsing: the document cannot be used at all."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass(slots=True)
class _Frame:
    """A mapping or sequence being built."""

    container: dict[str, Any] | list[Any]
    is_map: bool
    mark: int
    anchor: str | None
    path: Path = ()
    entries: dict[PathPart, tuple[int, int]] = field(default_factory=dict)
    size: int = 1
    pending_key: str | None = None
    pending_key_mark: int = 0
    pending_is_merge: bool = False
    merges: list[tuple[Any, int]] = field(default_factory=list)


def _syntax_problem(exc: yaml.YAMLError, text: str) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        line, column = _unpack(_mark(exc.problem_mark))
        what = exc.problem or "invalid YAML"
        lines = text.splitlines()
        if 0 < line <= len(lines) and "\t" in lines[line - 1][: column + 1]:
            what += " (YAML does not allow tab characters for indentation; use spaces)"
        context = ""
        if exc.context and exc.context_mark is not None:
            context = f" ({exc.context} started on line {exc.context_mark.line + 1})"
        message = f"YAML syntax error on line {line}, column {column}: {what}{context}"
        return Problem.make("MSX-E001", message, position=(line, column))
    if isinstance(exc, yaml.reader.ReaderError):
        # libyaml reports a byte offset into the UTF-8 encoded text.
        offset = exc.position if isinstance(exc.position, int) else 0
        before = text.encode("utf-8", "surrogatepass")[:offset].decode("utf-8", "replace")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        character = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
        message = f"YAML syntax error on line {line}: character U+{character:04X} is not allowed in YAML"
        return Problem.make("MSX-E001", message, position=(line, column))
    return Problem.make("MSX-E001", f"YAML syntax error: {exc}")


def _construct_plain(value: str) -> Any:
    """Resolve a plain (unquoted) scalar with the YAML 1.2 core schema."""
    if value in _NULLS:
        return None
    first = value[0]
    if first in "tTfF":
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        return value
    if first not in _NUMBER_START:
        return value
    if _INT.match(value):
        return YamlInt(int(value), value)
    if _FLOAT.match(value):
        return YamlFloat(float(value), value)
    if _OCT.match(value):
        return YamlInt(int(value[2:], 8), value)
    if _HEX.match(value):
        return YamlInt(int(value[2:], 16), value)
    if _INF.match(value):
        return YamlFloat(-math.inf if value[0] == "-" else math.inf, value)
    if _NAN.match(value):
        return YamlFloat(math.nan, value)
    return value


class _Builder:
    """Turns a stream of YAML events into data and positions, one event at a time."""

    def __init__(self) -> None:
        self.index = PositionIndex()
        self.problems: list[Problem] = []
        self.anchors: dict[str, tuple[Any, int, int]] = {}
        self.open_anchors: set[str] = set()
        self.stack: list[_Frame] = []
        self.nodes = 0
        self.aliases = 0
        self.root: Any = None

    # -- reporting ---------------------------------------------------------------------------
    def _too_many(self, mark: int) -> _Fatal:
        return _Fatal(
            Problem.make(
                "MSX-E002",
                f"the document expands to more than {MAX_NODES:,} values (too many aliases or "
                "entries); blueprints this large are refused",
                position=_unpack(mark),
            )
        )

    def _problem(self, code: str, message: str, mark: int, path: Path) -> None:
        self.problems.append(Problem.make(code, message, path=format_path(path), position=_unpack(mark)))

    def _check_tag(self, tag: str | None, allowed: frozenset[str], mark: int, path: Path) -> None:
        if tag is None or tag == "!" or tag in allowed:
            return
        self._problem("MSX-E029", f"YAML tag {tag!r} is not supported in a blueprint", mark, path)

    def _child_path(self) -> Path:
        """The path of the value about to be added to the open collection."""
        if not self.stack:
            return ()
        frame = self.stack[-1]
        if not frame.is_map:
            return (*frame.path, len(frame.container))
        if frame.pending_key is not None:
            return (*frame.path, frame.pending_key)
        return frame.path

    @staticmethod
    def _complex_key(mark: int) -> _Fatal:
        return _Fatal(
            Problem.make(
                "MSX-E029",
                "mapping keys must be plain strings (a list or mapping was used as a key)",
                position=_unpack(mark),
            )
        )

    # -- events ------------------------------------------------------------------------------
    def handle(self, event: Any, kind: type) -> None:
        if kind is yaml.ScalarEvent:
            self._scalar_event(event)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            self._open(event, kind is yaml.MappingStartEvent)
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            self._close()
        elif kind is yaml.AliasEvent:
            self._alias(event)

    def _scalar_event(self, event: Any) -> None:
        # The hot path of the parser: kept flat on purpose.
        start = event.start_mark
        mark = (start.line << _COLUMN_BITS) | start.column
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self._too_many(mark)
        frame = self.stack[-1] if self.stack else None
        if frame is not None and frame.is_map and frame.pending_key is None:
            key = event.value
            if event.tag is not None:
                self._check_tag(event.tag, _KEY_TAGS, mark, (*frame.path, key))
            if event.anchor:
                self.anchors[event.anchor] = (key, 1, mark)
            frame.size += 1
            frame.pending_key = key
            frame.pending_key_mark = mark
            frame.pending_is_merge = key == "<<" and event.tag is None and not event.style and event.implicit[0]
            return
        if event.tag is None:
            value = _construct_plain(event.value) if not event.style and event.implicit[0] else event.value
        else:
            value = self._tagged_scalar(event, mark)
        if event.anchor:
            self.anchors[event.anchor] = (value, 1, mark)
        self._add(value, 1, mark)

    def _tagged_scalar(self, event: Any, mark: int) -> Any:
        value: str = event.value
        tag = event.tag
        if tag == "!" or tag in _TEXT_TAGS:
            return value
        if tag == _TAG + "int":
            if _INT.match(value) or _OCT.match(value) or _HEX.match(value):
                return _construct_plain(value)
        elif tag == _TAG + "float":
            constructed = _construct_plain(value)
            if isinstance(constructed, int | float) and not isinstance(constructed, bool):
                return YamlFloat(float(constructed), value)
        elif tag == _TAG + "bool":
            if value in _TRUE or value in _FALSE:
                return value in _TRUE
        elif tag == _TAG + "null":
            if value in _NULLS:
                return None
        else:
            self._problem("MSX-E029", f"YAML tag {tag!r} is not supported in a blueprint", mark, self._child_path())
            return value
        self._problem("MSX-E008", f"{value!r} is not a valid {tag.rsplit(':', 1)[-1]}", mark, self._child_path())
        return value

    def _add(self, value: Any, size: int, mark: int) -> None:
        """Attach a finished value to the open collection (or make it the root)."""
        if not self.stack:
            self.root = value
            self.index.root_mark = mark
            return
        frame = self.stack[-1]
        frame.size += size
        container = frame.container
        if not frame.is_map:
            frame.entries[len(container)] = (mark, mark)
            container.append(value)  # type: ignore[union-attr]
            return
        key = frame.pending_key
        if key is None:
            # Scalars and aliases in key position were taken as keys already; anything else
            # arriving here is a collection used as a key.
            raise self._complex_key(mark)
        key_mark = frame.pending_key_mark
        frame.pending_key = None
        if frame.pending_is_merge:
            frame.pending_is_merge = False
            frame.merges.append((value, mark))
            return
        if key in frame.entries:
            first_line = _unpack(frame.entries[key][0])[0]
            self._problem(
                "MSX-E009",
                f"key {key!r} appears twice in the same mapping (first on line {first_line}); remove one of them",
                key_mark,
                (*frame.path, key),
            )
        frame.entries[key] = (key_mark, mark)
        container[key] = value  # type: ignore[call-overload]

    def _open(self, event: Any, is_map: bool) -> None:
        mark = _mark(event.start_mark)
        parent = self.stack[-1] if self.stack else None
        if parent is not None and parent.is_map and parent.pending_key is None:
            raise self._complex_key(mark)
        if len(self.stack) >= MAX_DEPTH:
            raise _Fatal(
                Problem.make(
                    "MSX-E002", f"the document is nested more than {MAX_DEPTH} levels deep", position=_unpack(mark)
                )
            )
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self._too_many(mark)
        path = self._child_path()
        if event.tag is not None:
            self._check_tag(event.tag, _MAP_TAGS if is_map else _SEQ_TAGS, mark, path)
        if event.anchor:
            self.open_anchors.add(event.anchor)
        container: dict[str, Any] | list[Any] = {} if is_map else []
        self.stack.append(_Frame(container, is_map, mark, event.anchor, path))

    def _close(self) -> None:
        frame = self.stack.pop()
        if frame.merges:
            self._apply_merges(frame)
        self.index.register(frame.container, frame.entries)
        if frame.anchor:
            self.open_anchors.discard(frame.anchor)
            self.anchors[frame.anchor] = (frame.container, frame.size, frame.mark)
        self._add(frame.container, frame.size, frame.mark)

    def _apply_merges(self, frame: _Frame) -> None:
        container = frame.container
        assert isinstance(container, dict)
        sources: list[dict[str, Any]] = []
        for value, mark in frame.merges:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    sources.append(item)
                else:
                    self._problem(
                        "MSX-E029",
                        "the merge key '<<' takes a mapping or a list of mappings",
                        mark,
                        (*frame.path, "<<"),
                    )
        # Explicit keys win over merged ones, and earlier merged mappings over later ones.
        for source in sources:
            source_entries = self.index.entries(source)
            for key, value in source.items():
                if key not in container:
                    container[key] = value
                    frame.entries[key] = source_entries.get(key, (frame.mark, frame.mark))

    def _alias(self, event: Any) -> None:
        mark = _mark(event.start_mark)
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            raise _Fatal(
                Problem.make(
                    "MSX-E002",
                    f"the document uses more than {MAX_ALIASES} aliases; blueprints this complex are refused",
                    position=_unpack(mark),
                )
            )
        name = event.anchor
        if name in self.open_anchors:
            raise _Fatal(
                Problem.make(
                    "MSX-E029",
                    f"alias *{name} refers to a value that contains itself (recursive alias)",
                    position=_unpack(mark),
                )
            )
        if name not in self.anchors:
            raise _Fatal(
                Problem.make(
                    "MSX-E001", f"alias *{name} is used before its anchor &{name} is defined", position=_unpack(mark)
                )
            )
        value, size, _anchor_mark = self.anchors[name]
        frame = self.stack[-1] if self.stack else None
        if frame is not None and frame.is_map and frame.pending_key is None:
            if isinstance(value, dict | list):
                raise self._complex_key(mark)
            self.nodes += 1
            frame.size += 1
            frame.pending_key = scalar_text(value)
            frame.pending_key_mark = mark
            frame.pending_is_merge = False
            return
        self.nodes += size
        if self.nodes > MAX_NODES:
            raise self._too_many(mark)
        self._add(value, size, mark)


def parse_yaml(text: str) -> ParsedDocument:
    """Parse one YAML document safely, keeping positions; never raises.

    A fatal problem (syntax error, oversized or multi-document input) leaves ``ok`` False and
    ``data`` None. Non-fatal problems (duplicate keys, unsupported tags) are listed while the
    data is still returned.
    """
    doc = ParsedDocument()
    try:
        _parse_into(text, doc)
    except _Fatal as fatal:
        doc.ok = False
        doc.data = None
        doc.problems.append(fatal.problem)
    except yaml.YAMLError as exc:
        doc.ok = False
        doc.data = None
        doc.problems.append(_syntax_problem(exc, text))
    except RecursionError:
        doc.ok = False
        doc.data = None
        doc.problems.append(Problem.make("MSX-E002", "the document is nested too deeply to read"))
    return doc


def _parse_into(text: str, doc: ParsedDocument) -> None:
    if not isinstance(text, str):
        raise _Fatal(Problem.make("MSX-E001", "the blueprint must be text"))
    if len(text) > MAX_DOCUMENT_BYTES:
        raise _Fatal(_too_large())
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        before = text[: exc.start]
        position = (before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1)
        raise _Fatal(
            Problem.make("MSX-E001", "the text is not valid Unicode (it contains a lone surrogate)", position=position)
        ) from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise _Fatal(_too_large())

    builder = _Builder()
    loader = _Loader(raw)
    get_event = loader.get_event
    handle = builder.handle
    documents = 0
    try:
        while True:
            event = get_event()
            kind = type(event)
            if event is None or kind is yaml.StreamEndEvent:
                break
            if kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _Fatal(
                        Problem.make(
                            "MSX-E003",
                            "the file contains more than one YAML document (a second '---' on line "
                            f"{event.start_mark.line + 1}); a blueprint is a single document",
                            position=_unpack(_mark(event.start_mark)),
                        )
                    )
            elif kind is not yaml.StreamStartEvent and kind is not yaml.DocumentEndEvent:
                handle(event, kind)
    finally:
        dispose = getattr(loader, "dispose", None)
        if dispose is not None:
            dispose()
    doc.data = builder.root
    doc.positions = builder.index
    doc.positions.root = builder.root
    doc.problems.extend(builder.problems)


def _too_large() -> Problem:
    return Problem.make(
        "MSX-E002",
        f"the document is larger than {MAX_DOCUMENT_BYTES // 1024} KiB; blueprints this large are refused",
    )
