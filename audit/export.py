"""Streamed exports of the trail (CSV and JSON Lines) in bounded memory.

Rows are read with ``.iterator(chunk_size=…)`` (a server-side cursor on PostgreSQL) and written one
at a time, so an export of any range holds one chunk of events in memory, never the whole range.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

from django.db.models import QuerySet

from audit.actions import EXPORT_FIELDS, export_line, export_rows
from audit.models import AuditEvent

CHUNK_SIZE = 2000
# A reviewer's spreadsheet: every stored column but the internal ids and the previous hash.
CSV_COLUMNS = tuple(f for f in EXPORT_FIELDS if f not in ("actor_id", "team_id", "prev_hash"))


class _Line:
    """A write-only file for csv.writer that hands back what it was given."""

    def write(self, value: str) -> str:
        return value


def _cell(value) -> object:
    """Spreadsheets run cells that start like a formula; reviewers open these files in one."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def batched(lines: Iterator[str], size: int = 64 * 1024) -> Iterator[str]:
    """Join lines into pieces of about ``size`` characters: one write per piece, not per event."""
    buffer: list[str] = []
    length = 0
    for line in lines:
        buffer.append(line)
        length += len(line)
        if length >= size:
            yield "".join(buffer)
            buffer, length = [], 0
    if buffer:
        yield "".join(buffer)


def csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_COLUMNS)
    for row in export_rows(events, chunk_size=CHUNK_SIZE):
        for key in ("before", "after"):
            row[key] = "" if row[key] is None else json.dumps(row[key], sort_keys=True, ensure_ascii=False)
        yield writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])


def jsonl_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    for row in export_rows(events, chunk_size=CHUNK_SIZE):
        yield export_line(row)
