"""The lineage picture of a snapshot, rendered on the server as SVG.

A pure function from plain values to an SVG string (no ORM, no request): the source environment
and service on the left, the snapshot (policy and version, sanitized or raw) in the middle, and
every restore on the right, one box per target with an arrow from the snapshot. All text that
came from data is escaped, so the result can be inlined as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

STATE_COLOURS = {
    "pending": "#2f5bea",
    "capturing": "#2f5bea",
    "running": "#2f5bea",
    "ready": "#12b76a",
    "succeeded": "#12b76a",
    "failed": "#f04438",
    "deleted": "#98a2b3",
}
_UNKNOWN = "#98a2b3"
BOX_WIDTH, BOX_HEIGHT = 220, 62
GAP = 70
ROW = 74
TOP = 8


@dataclass(frozen=True, slots=True)
class Node:
    """One box: a title line, a detail line, a state (its colour) and an id for data attributes."""

    id: str
    title: str
    detail: str
    state: str


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _named(node: Node) -> str:
    return node.title if node.title == node.id else f"{node.title} ({node.id})"


def _box(node: Node, x: float, y: float, kind: str) -> list[str]:
    colour = STATE_COLOURS.get(node.state, _UNKNOWN)
    return [
        f'<g class="{kind}" data-id={quoteattr(node.id)} data-state={quoteattr(node.state)}>',
        f"<title>{escape(f'{_named(node)}: {node.detail}, {node.state}')}</title>",
        f'<rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="6" fill="#fff" '
        f'stroke="{colour}" stroke-width="2"/>',
        f'<rect x="{x}" y="{y}" width="6" height="{BOX_HEIGHT}" rx="3" fill="{colour}"/>',
        f'<text x="{x + 14}" y="{y + 20}" font-weight="600" fill="#1d2330">{escape(_clip(node.title, 28))}</text>',
        f'<text x="{x + 14}" y="{y + 37}" fill="#667085">{escape(_clip(node.detail, 32))}</text>',
        f'<text x="{x + 14}" y="{y + 54}" fill="{colour}">{escape(node.state)}</text>',
        "</g>",
    ]


def _arrow(x1: float, y1: float, x2: float, y2: float) -> str:
    return (
        f'<path d="M{x1} {y1} C{x1 + GAP / 2} {y1} {x2 - GAP / 2} {y2} {x2 - 6} {y2}" fill="none" '
        f'stroke="#98a2b3" stroke-width="1.5"/><path d="M{x2 - 2} {y2} l-8 -4 v8 z" fill="#98a2b3"/>'
    )


def snapshot_lineage_svg(source: Node, snapshot: Node, restores: Sequence[Node]) -> str:
    """Source → snapshot → each restore (newest first), as one SVG."""
    rows = max(len(restores), 1)
    width = 3 * BOX_WIDTH + 2 * GAP + 16
    height = TOP * 2 + max(rows * ROW - (ROW - BOX_HEIGHT), BOX_HEIGHT)
    middle = TOP + (height - 2 * TOP) / 2 - BOX_HEIGHT / 2
    x_source, x_snapshot, x_restores = 8, 8 + BOX_WIDTH + GAP, 8 + 2 * (BOX_WIDTH + GAP)
    times = f"{len(restores)} time{'' if len(restores) == 1 else 's'}"
    label = f"Lineage of {snapshot.id}: from {source.title}, restored {times}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage snapshot-lineage" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label={quoteattr(label)} font-size="12">'
    ]
    parts += _box(source, x_source, middle, "source")
    parts.append(_arrow(x_source + BOX_WIDTH + 2, middle + BOX_HEIGHT / 2, x_snapshot, middle + BOX_HEIGHT / 2))
    parts += _box(snapshot, x_snapshot, middle, "snapshot")
    if not restores:
        parts.append(
            f'<text x="{x_restores}" y="{middle + BOX_HEIGHT / 2 + 4}" fill="#667085">Not restored anywhere yet.</text>'
        )
    for index, restore in enumerate(restores):
        y = TOP + index * ROW
        parts.append(_arrow(x_snapshot + BOX_WIDTH + 2, middle + BOX_HEIGHT / 2, x_restores, y + BOX_HEIGHT / 2))
        parts += _box(restore, x_restores, y, "restore")
    parts.append("</svg>")
    return "".join(parts)
