"""Server-rendered pictures for the environment pages.

Pure functions from data to an SVG string: no ORM, no request. Every piece of text that came from
data (step names, outcomes) is escaped, so the result can be inlined into a page as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
