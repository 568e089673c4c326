"""Simulated time: the wall clock plus an offset that the control API can only move forward."""

from __future__ import annotations

import time
from collections.abc import Callable


class SimClock:
    def __init__(self, offset_s: float = 0.0, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self.offset_s = offset_s

    def now(self) -> float:
        return self._wall() + self.offset_s

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the simulated clock only moves forward")
        self.offset_s += seconds
        return self.now()
