"""The simulated container runtime: which container instances ran, when, and what they printed.

The kubelet controller starts and stops ``ContainerRun``s; pod logs are rendered from them, so
``kubectl logs`` and ``--previous`` behave like a node's log files do.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

MAX_HEARTBEATS = 1000


@dataclass
class ContainerRun:
    """One instance of a container (a restart starts a new one)."""

    container: str
    image: str
    ports: list[int] = field(default_factory=list)
    start: float = field(default_factory=time.time)
    end: float | None = None
    exit_code: int | None = None
    outcome: str = "running"  # running | completed | crashed | failed
    output: list[str] | None = None  # what a registered executor printed, instead of the simulated lines

    def lines(self, interval: float, until: float) -> list[tuple[float, str]]:
        """Log lines with their wall-clock times, up to ``until``."""
        name, t0 = self.container, self.start
        out = [
            (t0, f"kubesim: pulled image {self.image!r}"),
            (t0, f"kubesim: started container {name!r} (image {self.image})"),
            (t0, f"{name}: starting up, pid 1"),
        ]
        out += [(t0, f"{name}: listening on 0.0.0.0:{p}") for p in self.ports]
        stop = until if self.end is None else min(until, self.end)
        if interval > 0 and stop > t0:
            count = int((stop - t0) / interval)
            first = max(1, count - MAX_HEARTBEATS + 1)
            out += [(t0 + k * interval, f"{name}: heartbeat {k}: ok") for k in range(first, count + 1)]
        if self.end is not None and self.end <= until:
            if self.output is not None:
                out += [(self.end, line) for line in self.output]
                out.append((self.end, f"{name}: exited with status {self.exit_code}"))
            elif self.outcome == "crashed":
                out.append((self.end, f"{name}: panic: simulated crash ({self.image!r} asks for crashloop)"))
            elif self.outcome == "failed":
                out.append((self.end, f"{name}: error: simulated failure ({self.image!r} asks for fail), exit 1"))
            else:
                out.append((self.end, f"{name}: work finished, exiting with status 0"))
        return out


class Runtime:
    """Container runs keyed by (pod uid, container name); the last two instances are kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, str], list[ContainerRun]] = {}

    def start(self, pod_uid: str, run: ContainerRun) -> None:
        with self._lock:
            runs = self._runs.setdefault((pod_uid, run.container), [])
            runs.append(run)
            del runs[:-2]

    def stop(
        self, pod_uid: str, container: str, *, exit_code: int, outcome: str, output: list[str] | None = None
    ) -> ContainerRun | None:
        with self._lock:
            runs = self._runs.get((pod_uid, container))
            if not runs or runs[-1].end is not None:
                return None
            runs[-1].end = time.time()
            runs[-1].exit_code = exit_code
            runs[-1].outcome = outcome
            runs[-1].output = output
            return runs[-1]

    def current(self, pod_uid: str, container: str) -> ContainerRun | None:
        with self._lock:
            runs = self._runs.get((pod_uid, container))
            return runs[-1] if runs else None

    def previous(self, pod_uid: str, container: str) -> ContainerRun | None:
        with self._lock:
            runs = self._runs.get((pod_uid, container))
            return runs[-2] if runs and len(runs) > 1 else None

    def forget(self, pod_uid: str) -> None:
        with self._lock:
            for key in [k for k in self._runs if k[0] == pod_uid]:
                del self._runs[key]

    def clear(self) -> None:
        with self._lock:
            self._runs.clear()
