"""Turn a path into the model's terms into a path and position in the author's own terms.

Models see services as a list; the author may have written a map keyed by name. The locator
translates ``("services", 2, "image")`` to ``services.api.image`` for a map-style blueprint (or
``services[2].image`` for a list), and finds the line and column through the parse positions.
"""

from __future__ import annotations

from typing import Any

from blueprints.parsing import ParsedDocument, Path, Position, format_path
from blueprints.problems import Problem


class Locator:
    """Paths and positions for problems about one parsed document."""

    def __init__(self, doc: ParsedDocument) -> None:
        self.positions = doc.positions
        self.data: Any = doc.data
        services = self.data.get("services") if isinstance(self.data, dict) else None
        self.service_keys: list[str] | None = list(services) if isinstance(services, dict) else None

    def raw_path(self, path: Path) -> Path:
        """The path in the document as written (service index → service key for the map style)."""
        keys = self.service_keys
        if keys is not None and len(path) >= 2 and path[0] == "services" and isinstance(path[1], int):
            if 0 <= path[1] < len(keys):
                return ("services", keys[path[1]], *path[2:])
        return path

    def where(self, path: Path, *, at_key: bool = False) -> tuple[str, Position]:
        raw = self.raw_path(path)
        return format_path(raw), self.positions.locate(raw, at_key=at_key)

    def problem(self, code: str, message: str, path: Path, *, at_key: bool = False) -> Problem:
        shown, position = self.where(path, at_key=at_key)
        return Problem.make(code, message, path=shown, position=position)

    def service_label(self, index: int, fallback: str | None = None) -> str:
        """How to name a service in a message: its name, else its position."""
        if fallback:
            return f"service {fallback!r}"
        if self.service_keys is not None and 0 <= index < len(self.service_keys):
            return f"service {self.service_keys[index]!r}"
        return f"service #{index + 1}"
