"""The daemon's one clock, injected, so the core can be run on a clock a test moves.

Three readings: the wall clock (what run_at and timestamps are in), the monotonic
clock (durations: timeouts, deadlines, silence), and the boot clock (monotonic, but
counting suspend too: set against the wall clock, it shows a step of the latter).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def wall(self) -> float: ...

    def mono(self) -> float: ...

    def boot(self) -> float: ...


class SystemClock:
    def wall(self) -> float:
        return time.time()

    def mono(self) -> float:
        return time.monotonic()

    def boot(self) -> float:
        return time.clock_gettime(time.CLOCK_BOOTTIME)
