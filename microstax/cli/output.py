"""Output for every command in one place: tables for people, JSON and YAML for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import yaml

from blueprints.problems import Problem


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def to_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


def render(data: Any, output: str, table: Callable[[Any], str] | None = None) -> str:
    """``data`` as JSON, YAML, or (``table``) through the command's own table renderer."""
    if output == "json":
        return to_json(data)
    if output == "yaml":
        return to_yaml(data)
    if table is not None:
        return table(data)
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        columns = list(dict.fromkeys(key for row in data for key in row))
        return format_table(data, [(c, c.upper()) for c in columns])
    if isinstance(data, dict):
        return format_table([data], [(c, c.upper()) for c in data])
    return str(data)


def format_table(rows: Iterable[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """Left-aligned columns under upper-case headers; missing values print as '-'."""
    cells = [[header for _, header in columns]]
    for row in rows:
        cells.append([_cell(row.get(key)) for key, _ in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in cells)


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def format_problems(problems: Iterable[Problem], filename: str) -> list[str]:
    """One ``file:line:col: CODE message [path]`` line per problem."""
    return [problem.format(filename) for problem in problems]


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
