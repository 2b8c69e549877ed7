"""``--wait``: follow an operation to its end by polling the environment, showing its steps live.

Each step is printed when it starts (``→ apply data``) and when it finishes (``✓ apply data
(0.42s)``). On a terminal the running step is one line redrawn in place with its elapsed time
instead. The poll reads ``environment(id)`` with its newest operations; when the operation being
followed is superseded by a newer one, the newer one is followed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from microstax.cli.commands._env_api import (
    BAD_ENVIRONMENT_STATES,
    PROGRESS_QUERY,
    TERMINAL_OPERATION_STATES,
    can_encode,
    fetch_environment,
    parse_time,
    seconds,
)
from microstax.cli.context import CLIError, Context

POLL_INTERVAL = 0.5
DEFAULT_TIMEOUT = 600.0
_sleep = time.sleep  # tests replace it
_clock = time.monotonic


@dataclass
class Outcome:
    """How a wait ended: the environment and operation as last seen."""

    environment: dict[str, Any]
    operation: dict[str, Any] | None
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        if self.timed_out or self.environment["state"] in BAD_ENVIRONMENT_STATES:
            return False
        return self.operation is None or self.operation["state"] != "failed"


@dataclass
class StepPrinter:
    """Prints each step once when it starts and once when it finishes."""

    stream: TextIO
    tty: bool
    started: set[int] = field(default_factory=set)
    finished: set[int] = field(default_factory=set)
    _live: bool = False

    def __post_init__(self) -> None:
        fancy = can_encode(self.stream, "✓✗→…")
        self.marks = (
            {"ok": "✓", "failed": "✗", "skipped": "-", "start": "→"}
            if fancy
            else {
                "ok": "ok",
                "failed": "FAILED",
                "skipped": "-",
                "start": "->",
            }
        )

    def line(self, text: str) -> None:
        self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def update(self, operation: dict[str, Any]) -> None:
        running: dict[str, Any] | None = None
        for step in sorted(operation.get("steps") or [], key=lambda s: s["position"]):
            position = step["position"]
            if step.get("finishedAt"):
                if position not in self.finished:
                    self.finished.add(position)
                    self.line(self._finished_text(step))
            else:
                running = step
                if position not in self.started and not self.tty:
                    self.line(f"{self.marks['start']} {step['name']}")
            self.started.add(position)
        if self.tty and running is not None:
            began = parse_time(running.get("startedAt"))
            elapsed = (datetime.now(UTC) - began).total_seconds() if began else None
            self._clear()
            self.stream.write(f"  {running['name']} … {seconds(elapsed) if elapsed is not None else ''}")
            self.stream.flush()
            self._live = True

    def close(self) -> None:
        self._clear()

    def _finished_text(self, step: dict[str, Any]) -> str:
        mark = self.marks.get(step["outcome"], step["outcome"])
        text = f"{mark} {step['name']} ({seconds(step.get('durationSeconds'))})"
        error = (step.get("details") or {}).get("error") if isinstance(step.get("details"), dict) else None
        return f"{text}: {error}" if error else text

    def _clear(self) -> None:
        if self._live:
            self.stream.write("\r\x1b[K")
            self._live = False


def wait_for_operation(
    ctx: Context, env_id: str, operation_id: str | None, *, timeout: float, stream: TextIO
) -> Outcome:
    """Poll until the operation ends (or ``timeout`` seconds pass), printing its steps to ``stream``."""
    printer = StepPrinter(stream, tty=stream.isatty())
    deadline = _clock() + timeout
    announced: str | None = None
    try:
        while True:
            env = fetch_environment(ctx, env_id, query=PROGRESS_QUERY)
            operation = _pick(env.get("operations") or [], operation_id)
            if operation is not None and operation["state"] == "superseded":
                newer = (env.get("operations") or [None])[0]
                if newer is not None and newer["id"] != operation["id"]:
                    printer.line(f"operation {operation['id']} was superseded by {newer['id']} ({newer['kind']})")
                    operation_id, operation = newer["id"], newer
                    printer.started.clear()
                    printer.finished.clear()
            if operation is None:
                return Outcome(env, None)
            if announced != operation["id"]:
                announced = operation["id"]
                printer.line(f"{operation['kind']} {operation['id']}: {operation['state']}")
            printer.update(operation)
            if operation["state"] in TERMINAL_OPERATION_STATES:
                return Outcome(env, operation)
            if _clock() >= deadline:
                return Outcome(env, operation, timed_out=True)
            _sleep(POLL_INTERVAL)
    except KeyboardInterrupt:
        raise CLIError(
            f"interrupted; the operation continues on the server (microstax env status {env_id})", exit_code=130
        ) from None
    finally:
        printer.close()


def _pick(operations: list[dict[str, Any]], operation_id: str | None) -> dict[str, Any] | None:
    if operation_id:
        for operation in operations:
            if operation["id"] == operation_id:
                return operation
    return operations[0] if operations else None
