"""Server-rendered pictures for the environment pages.

Pure functions from data to an SVG string: no ORM, no request. Every piece of text that came from
data (step, environment and service names, states, routing keys) is escaped, so the result can be
inlined into a page as it is: the operation timeline (:func:`timeline_svg`) and the lineage of a
baseline or overlay (:func:`lineage_svg`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from xml.sax.saxutils import escape, quoteattr

# Bar colour per step outcome (StepOutcome values); anything else is drawn grey.
OUTCOME_COLOURS = {
    "ok": "#12b76a",
    "failed": "#f04438",
    "running": "#2f5bea",
    "skipped": "#98a2b3",
}
_UNKNOWN_COLOUR = "#98a2b3"

LABEL_WIDTH = 170
ROW_HEIGHT = 24
BAR_HEIGHT = 16
TOP = 8
AXIS_HEIGHT = 26
RIGHT_PAD = 16
MIN_BAR = 2.0


class StepLike(Protocol):
    """What a timeline needs of a step: ``OperationStep`` fits, so does any plain object."""

    name: str
    outcome: str
    started_at: datetime
    finished_at: datetime | None


def _tick_step(total: float, wanted_ticks: int = 6) -> float:
    """A "nice" tick spacing (1, 2 or 5 × 10ⁿ seconds) giving about ``wanted_ticks`` ticks."""
    if total <= 0:
        return 1.0
    raw = total / wanted_ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _seconds_label(value: float) -> str:
    if value >= 120:
        minutes, seconds = divmod(value, 60)
        return f"{int(minutes)}m{int(seconds):02d}s" if seconds else f"{int(minutes)}m"
    # Ticks are 1, 2 or 5 × 10ⁿ: round away float noise, then print as few digits as needed.
    return f"{round(value, 6):g}s"


def _duration_label(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def timeline_svg(steps: Sequence[StepLike], *, now: datetime | None = None, width: int = 760) -> str:
    """A Gantt chart of an operation's steps: one bar per step, in the given order.

    Each bar starts at the step's offset from the first start and is as wide as its duration,
    coloured by outcome, with the step name to its left and its duration in a tooltip. A step
    still running (no ``finished_at``) extends to ``now`` — by default the latest time any step
    mentions, which keeps the function pure and its output stable for the same input.
    """
    height_rows = max(len(steps), 1) * ROW_HEIGHT
    height = TOP + height_rows + AXIS_HEIGHT
    chart_width = max(width - LABEL_WIDTH - RIGHT_PAD, 50)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Provisioning timeline, {len(steps)} steps">'
    ]
    if not steps:
        parts.append(f'<text x="{LABEL_WIDTH}" y="{TOP + 16}" class="empty" fill="#667085">No steps recorded.</text>')
        parts.append("</svg>")
        return "".join(parts)

    origin = min(s.started_at for s in steps)
    known_ends = [s.finished_at for s in steps if s.finished_at is not None]
    end_of_time = now or max([*known_ends, *(s.started_at for s in steps)])
    spans = []
    for step in steps:
        start = (step.started_at - origin).total_seconds()
        end = ((step.finished_at or end_of_time) - origin).total_seconds()
        spans.append((step, start, max(end, start)))
    total = max(end for _, _, end in spans) or 1.0
    tick = _tick_step(total)
    axis_end = math.ceil(total / tick) * tick
    scale = chart_width / axis_end

    # Grid lines and axis labels first, so bars are drawn over them.
    axis_y = TOP + height_rows
    parts.append('<g class="axis" font-size="11" fill="#667085">')
    ticks = int(round(axis_end / tick))
    for i in range(ticks + 1):
        value = i * tick
        x = LABEL_WIDTH + value * scale
        parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{axis_y}" stroke="#e3e6eb"/>')
        parts.append(f'<text x="{x:.1f}" y="{axis_y + 16}" text-anchor="middle">{_seconds_label(value)}</text>')
    parts.append(
        f'<line x1="{LABEL_WIDTH}" y1="{axis_y}" x2="{LABEL_WIDTH + chart_width}" y2="{axis_y}" stroke="#98a2b3"/>'
    )
    parts.append("</g>")

    parts.append('<g class="steps" font-size="12">')
    for row, (step, start, end) in enumerate(spans):
        y = TOP + row * ROW_HEIGHT
        x = LABEL_WIDTH + start * scale
        bar = max((end - start) * scale, MIN_BAR)
        outcome = str(step.outcome)
        colour = OUTCOME_COLOURS.get(outcome, _UNKNOWN_COLOUR)
        tooltip = escape(f"{step.name}: {outcome}, {_duration_label(end - start)} (from +{start:.2f} s)")
        parts.append(f'<g class="step" data-step={quoteattr(step.name)} data-outcome={quoteattr(outcome)}>')
        parts.append(f"<title>{tooltip}</title>")
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + BAR_HEIGHT - 3}" text-anchor="end" fill="#1d2330">'
            f"{escape(step.name)}</text>"
        )
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y + (ROW_HEIGHT - BAR_HEIGHT) / 2 - 2:.1f}" width="{bar:.1f}" '
            f'height="{BAR_HEIGHT}" rx="3" fill="{colour}"/>'
        )
        parts.append("</g>")
    parts.append("</g></svg>")
    return "".join(parts)


# --- lineage ---------------------------------------------------------------------------------------

# Box colour per environment state; anything else is drawn grey.
STATE_COLOURS = {
    "pending": "#2f5bea",
    "provisioning": "#2f5bea",
    "resuming": "#2f5bea",
    "ready": "#12b76a",
    "degraded": "#f79009",
    "failed": "#f04438",
    "stopping": "#667085",
    "stopped": "#667085",
    "deleting": "#98a2b3",
    "deleted": "#98a2b3",
}
# Dot colour per service status: the plan's statuses, plus local/inherited for non-overlays.
SERVICE_COLOURS = {
    "added": "#12b76a",
    "changed": "#2f5bea",
    "promoted": "#7a5af8",
    "removed": "#f04438",
    "unchanged": "#98a2b3",
    "inherited": "#98a2b3",
    "local": "#475467",
}
#: Statuses that run in the overlay because of what it changes: drawn highlighted and labelled.
HIGHLIGHTED = frozenset({"added", "changed", "promoted"})

LINEAGE_LABEL = 150
COLUMN_WIDTH = 200
COLUMN_GAP = 40
BOX_HEIGHT = 64
SERVICE_ROW = 22
SERVICES_TOP = TOP + BOX_HEIGHT + 22


class LayerLike(Protocol):
    """One environment of a chain: ``Environment`` fits."""

    public_id: str
    name: str
    mode: str
    state: str
    routing_key: str


class ServiceLike(Protocol):
    """One service row: its name, the public id of the environment providing it, and its status."""

    name: str
    provider: str
    status: str


@dataclass(frozen=True)
class LineageRow:
    """A :class:`ServiceLike` for callers that assemble rows from a plan or from service records."""

    name: str
    provider: str
    status: str


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _column_centre(index: int) -> float:
    return LINEAGE_LABEL + index * (COLUMN_WIDTH + COLUMN_GAP) + COLUMN_WIDTH / 2


def lineage_svg(chain: Sequence[LayerLike], services: Sequence[ServiceLike]) -> str:
    """The provider chain left to right (baseline first) and, below it, who provides each service.

    Each environment is a box (name, mode, routing key, state colour) in its own column; each
    service is a row with a dot in its provider's column and a thin bar reaching the last column
    (the environment the picture is about), which reaches it through a bridge. Services an overlay
    adds, changes or promotes are drawn larger and labelled with their status; removed ones are
    struck out with a cross in the last column. A provider outside the chain is drawn in the last
    column. All data text is escaped.
    """
    columns = max(len(chain), 1)
    width = LINEAGE_LABEL + columns * COLUMN_WIDTH + (columns - 1) * COLUMN_GAP + 90
    height = SERVICES_TOP + max(len(services), 1) * SERVICE_ROW + 8
    column_of = {layer.public_id: index for index, layer in enumerate(chain)}
    last = columns - 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Lineage: {len(chain)} environment{"" if len(chain) == 1 else "s"}, {len(services)} services">'
    ]

    parts.append('<g class="chain" font-size="12">')
    for index, layer in enumerate(chain):
        x = LINEAGE_LABEL + index * (COLUMN_WIDTH + COLUMN_GAP)
        state, mode, key = str(layer.state), str(layer.mode), layer.routing_key or ""
        colour = STATE_COLOURS.get(state, _UNKNOWN_COLOUR)
        second = f"{mode} · key {key}" if key else mode
        parts.append(
            f'<g class="layer" data-env={quoteattr(layer.public_id)} data-mode={quoteattr(mode)} '
            f"data-state={quoteattr(state)} data-column={quoteattr(str(index))}>"
        )
        parts.append(f"<title>{escape(f'{layer.name} ({layer.public_id}): {second}, {state}')}</title>")
        parts.append(
            f'<rect x="{x}" y="{TOP}" width="{COLUMN_WIDTH}" height="{BOX_HEIGHT}" rx="6" fill="#fff" '
            f'stroke="{colour}" stroke-width="2"/>'
        )
        parts.append(f'<rect x="{x}" y="{TOP}" width="6" height="{BOX_HEIGHT}" rx="3" fill="{colour}"/>')
        parts.append(
            f'<text x="{x + 14}" y="{TOP + 20}" font-weight="600" fill="#1d2330">{escape(_clip(layer.name, 25))}</text>'
        )
        parts.append(f'<text x="{x + 14}" y="{TOP + 38}" fill="#667085">{escape(_clip(second, 30))}</text>')
        parts.append(f'<text x="{x + 14}" y="{TOP + 55}" fill="{colour}">{escape(state)}</text>')
        parts.append("</g>")
        if index < last:  # an arrow to the next, derived environment
            x1, x2, y = x + COLUMN_WIDTH, x + COLUMN_WIDTH + COLUMN_GAP, TOP + BOX_HEIGHT / 2
            parts.append(
                f'<line x1="{x1 + 4}" y1="{y}" x2="{x2 - 6}" y2="{y}" stroke="#98a2b3" stroke-width="1.5"/>'
                f'<path d="M{x2 - 2} {y} l-8 -4 v8 z" fill="#98a2b3"/>'
            )
        centre = _column_centre(index)
        parts.append(
            f'<line class="guide" x1="{centre}" y1="{TOP + BOX_HEIGHT}" x2="{centre}" y2="{height - 6}" '
            f'stroke="#e3e6eb" stroke-dasharray="3 3"/>'
        )
    parts.append("</g>")

    parts.append('<g class="services" font-size="12">')
    if not services:
        parts.append(f'<text x="{LINEAGE_LABEL}" y="{SERVICES_TOP + 14}" fill="#667085">No services.</text>')
    for row, service in enumerate(services):
        y = SERVICES_TOP + row * SERVICE_ROW + SERVICE_ROW / 2
        status = str(service.status)
        colour = SERVICE_COLOURS.get(status, _UNKNOWN_COLOUR)
        provider = service.provider or ""
        removed = status == "removed"
        column = last if removed else column_of.get(provider, last)
        provider_name = chain[column].name if chain and provider in column_of else provider or "nobody"
        tooltip = f"{service.name}: {status}" + ("" if removed else f", provided by {provider_name}")
        parts.append(
            f'<g class="service{" removed" if removed else ""}" data-service={quoteattr(service.name)} '
            f"data-status={quoteattr(status)} data-provider={quoteattr(provider)} data-column={quoteattr(str(column))}>"
        )
        parts.append(f"<title>{escape(tooltip)}</title>")
        struck = ' text-decoration="line-through"' if removed else ""
        parts.append(
            f'<text x="{LINEAGE_LABEL - 10}" y="{y + 4}" text-anchor="end" fill="{"#98a2b3" if removed else "#1d2330"}"'
            f"{struck}>{escape(_clip(service.name, 20))}</text>"
        )
        x = _column_centre(column)
        if removed:
            parts.append(
                f'<path class="cross" d="M{x - 5} {y - 5} l10 10 M{x + 5} {y - 5} l-10 10" '
                f'stroke="{colour}" stroke-width="2"/>'
            )
        else:
            if column < last:  # reached from the last environment through a bridge
                parts.append(
                    f'<line class="bar" x1="{x}" y1="{y}" x2="{_column_centre(last)}" y2="{y}" '
                    f'stroke="{colour}" stroke-opacity=".45" stroke-width="3"/>'
                )
            highlighted = status in HIGHLIGHTED
            radius = 7 if highlighted else 5
            ring = ' stroke="#fff" stroke-width="2"' if highlighted else ""
            parts.append(f'<circle class="dot" cx="{x}" cy="{y}" r="{radius}" fill="{colour}"{ring}/>')
        if removed or status in HIGHLIGHTED:
            parts.append(
                f'<text class="status" x="{x + 12}" y="{y + 4}" fill="{colour}" font-weight="600">'
                f"{escape(status)}</text>"
            )
        parts.append("</g>")
    parts.append("</g></svg>")
    return "".join(parts)


# --- fleet -----------------------------------------------------------------------------------------

FLEET_LABEL = 140
BAR_ROW = 22
SERIES_HEIGHT = 160


def state_bars_svg(rows: Sequence[tuple[str, dict[str, int]]], *, width: int = 760) -> str:
    """Environments by state per team: one stacked bar per ``(team, {state: count})`` row.

    Segments follow ``STATE_COLOURS``' order and carry a tooltip; the count is printed at the end.
    """
    height = TOP + max(len(rows), 1) * BAR_ROW + 8
    chart = max(width - FLEET_LABEL - 60, 50)
    biggest = max((sum(counts.values()) for _, counts in rows), default=0) or 1
    scale = chart / biggest
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fleet-states" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Environments by state and team">'
    ]
    if not rows:
        parts.append(f'<text x="{FLEET_LABEL}" y="{TOP + 14}" fill="#667085">No environments.</text></svg>')
        return "".join(parts)
    order = list(STATE_COLOURS)
    for row, (team, counts) in enumerate(rows):
        y = TOP + row * BAR_ROW
        parts.append(f'<g class="team" data-team={quoteattr(team)} font-size="12">')
        parts.append(f'<text x="{FLEET_LABEL - 8}" y="{y + 14}" text-anchor="end" fill="#1d2330">{escape(team)}</text>')
        x = float(FLEET_LABEL)
        for state in sorted(counts, key=lambda s: order.index(s) if s in order else len(order)):
            n = counts[state]
            if not n:
                continue
            w = n * scale
            colour = STATE_COLOURS.get(state, _UNKNOWN_COLOUR)
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{BAR_ROW - 6}" fill="{colour}" '
                f"data-state={quoteattr(state)}><title>{escape(f'{team}: {n} {state}')}</title></rect>"
            )
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 14}" fill="#667085">{sum(counts.values())}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def daily_series_svg(
    labels: Sequence[str],
    live: Sequence[int],
    created: Sequence[int],
    deleted: Sequence[int],
    *,
    width: int = 760,
) -> str:
    """Namespaces over time: live namespaces at the end of each day as a line, with the day's
    creations (up, green) and deletions (down, grey) as thin bars around the baseline."""
    days = len(labels)
    left, bottom = 40, 22
    plot_h = SERIES_HEIGHT - TOP - bottom
    chart = max(width - left - RIGHT_PAD, 50)
    step = chart / max(days, 1)
    top_value = max([*live, *created, *deleted, 1])
    scale = plot_h / top_value
    base_y = TOP + plot_h
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fleet-series" width="{width}" height="{SERIES_HEIGHT}" '
        f'viewBox="0 0 {width} {SERIES_HEIGHT}" role="img" aria-label="Namespaces over the last {days} days">',
        '<g class="axis" font-size="11" fill="#667085">',
        f'<line x1="{left}" y1="{base_y}" x2="{left + chart:.1f}" y2="{base_y}" stroke="#98a2b3"/>',
        f'<text x="{left - 6}" y="{TOP + 10}" text-anchor="end">{top_value}</text>',
        f'<text x="{left - 6}" y="{base_y}" text-anchor="end">0</text>',
    ]
    for i in range(0, days, max(days // 6, 1)):
        x = left + (i + 0.5) * step
        parts.append(f'<text x="{x:.1f}" y="{base_y + 16}" text-anchor="middle">{escape(labels[i])}</text>')
    parts.append("</g>")
    bar = max(step / 3, 1.0)
    for i in range(days):
        x = left + (i + 0.5) * step
        tip = escape(f"{labels[i]}: {live[i]} live, {created[i]} created, {deleted[i]} deleted")
        parts.append(f'<g class="day" data-day={quoteattr(labels[i])}><title>{tip}</title>')
        if created[i]:
            h = created[i] * scale
            parts.append(
                f'<rect x="{x - bar:.1f}" y="{base_y - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                'fill="#12b76a" opacity="0.5" class="created"/>'
            )
        if deleted[i]:
            h = deleted[i] * scale
            parts.append(
                f'<rect x="{x:.1f}" y="{base_y - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                'fill="#98a2b3" opacity="0.7" class="deleted"/>'
            )
        parts.append("</g>")
    points = " ".join(f"{left + (i + 0.5) * step:.1f},{base_y - live[i] * scale:.1f}" for i in range(days))
    parts.append(f'<polyline class="live" points="{points}" fill="none" stroke="#2f5bea" stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)
