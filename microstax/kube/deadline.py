"""A monotonic deadline that several waits (the waves of one apply) can share."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Deadline:
    """An absolute point on the ``time.monotonic()`` clock (wall-clock jumps cannot move it)."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    @classmethod
    def of(cls, value: DeadlineLike) -> Deadline:
        """A ``Deadline`` as is, or a number of seconds from now."""
        return value if isinstance(value, Deadline) else cls.after(float(value))

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.at


DeadlineLike = Deadline | float | int
