"""Relay-style cursor pagination over querysets, capped at MICROSTAX_PAGE_SIZE_MAX.

Nodes keep their prefixed public ids (``team_…``) as ``id``; cursors are opaque offsets.
"""

from __future__ import annotations

import base64
from typing import Generic, TypeVar

import strawberry
from django.conf import settings
from django.db.models import QuerySet

from microstax.graphql.errors import bad_input

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _offset(cursor: str) -> int:
    try:
        kind, value = base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)
        offset = int(value)
    except (ValueError, UnicodeDecodeError):
        offset = -1
        kind = ""
    if kind != "o" or offset < 0:
        raise bad_input("after is not a cursor returned by this API", field="after")
    return offset


def paginate(queryset: QuerySet, *, first: int | None, after: str | None) -> Connection:
    maximum = settings.MICROSTAX_PAGE_SIZE_MAX
    limit = maximum if first is None else first
    if not 1 <= limit <= maximum:
        raise bad_input(f"first must be between 1 and {maximum}", field="first")
    start = _offset(after) + 1 if after else 0
    rows = list(queryset[start : start + limit + 1])
    has_next = len(rows) > limit
    rows = rows[:limit]
    # Counting is only needed when the page does not already tell the total.
    total = queryset.count() if has_next or (start > 0 and not rows) else start + len(rows)
    edges = [Edge(cursor=_cursor(start + i), node=row) for i, row in enumerate(rows)]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=start > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=total,
    )
