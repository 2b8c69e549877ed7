"""Reading input files for commands (``-`` is standard input)."""

from __future__ import annotations

import sys
from pathlib import Path

from microstax.cli.context import CLIError

MAX_INPUT_BYTES = 8 * 1024 * 1024


def read_text(path: str) -> str:
    """The UTF-8 text of a file (a leading BOM is dropped); CLIError when it cannot be read."""
    try:
        if path == "-":
            raw = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with Path(path).open("rb") as handle:
                raw = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_INPUT_BYTES:
        raise CLIError(f"{path} is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CLIError(f"{path} is not UTF-8 text (invalid byte at offset {exc.start})") from None


def display_name(path: str) -> str:
    return "<stdin>" if path == "-" else path
