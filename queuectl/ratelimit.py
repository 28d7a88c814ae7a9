"""Rate limits, pure: a rate as people write it (`10/m`, `2/s`, `5/10s`, `100/hour`), and
the sliding window that says whether another job may start now, or when one may.

The rule: no window of PERIOD seconds holds more than N starts. A start is the moment a
job's shell was spawned, as its worker reports it (the attempt's `started_at`); a job
handed to a worker and not started yet holds a place in the window too, until it starts
(then its real start time counts) or is handed back. So a job may start at `now` when
fewer than N starts lie in (now - PERIOD, now], counting those still on their way.

No I/O and no clock of its own: the daemon (queuectl/daemon/rates.py) gives it times.
See docs/lifecycle.md, "Rate limits".
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from queuectl.validation import ValidationError

MAX_COUNT = 100_000  # starts per period (the window keeps that many times in memory)
MAX_PERIOD = 7 * 86400.0  # a week
NONE = "none"  # no limit (`--rate none`, `config set rate_limit none`)

UNITS = {
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}  # fmt: skip
HINT = "N/PERIOD, e.g. 10/m, 2/s, 5/10s, 100/hour (or none)"
_RATE = re.compile(r"\s*(\S+?)\s*/\s*(\d*\.?\d*)\s*([a-z]+)\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Rate:
    """At most `count` starts in any `period` seconds."""

    count: int
    period: float

    def __str__(self) -> str:
        return format_rate(self.count, self.period)


def format_rate(count: int, period: float) -> str:
    """The short form: 10/m, 2/s, 5/10s, 3/90m, 1/1.5s."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if period >= size and (period / size) == int(period / size):
            n = int(period / size)
            return f"{count}/{unit}" if n == 1 else f"{count}/{n}{unit}"
    return f"{count}/{period:g}s"


def parse_rate(text: object, field: str = "rate") -> Rate | None:
    """`N/PERIOD` -> Rate; `none` (or an empty string) -> None (no limit). N is a whole
    number from 1 to 100,000; PERIOD a unit (s, m, h, d, or second, minute, hour, day,
    singular or plural), optionally after a number (`10s`, `1.5h`), from a millisecond to a
    week. Anything else (0, a negative, a fraction of a start, no unit) is ValidationError."""
    if not isinstance(text, str):
        raise ValidationError(f"{field} must be a string: {HINT}", field)
    if text.strip().lower() in (NONE, ""):
        return None
    m = _RATE.fullmatch(text)
    if m is None or m.group(3).lower() not in UNITS:
        raise ValidationError(f"{field} {text[:80]!r} is not a rate: use {HINT}", field)
    count_text, number, unit = m.group(1), m.group(2), m.group(3).lower()
    try:
        count = int(count_text)
    except ValueError:
        raise ValidationError(f"{field} {text[:80]!r}: the number of starts must be a whole number "
                              f"(use {HINT})", field) from None  # fmt: skip
    if not 1 <= count <= MAX_COUNT:
        raise ValidationError(f"{field} {text[:80]!r}: the number of starts must be from 1 to "
                              f"{MAX_COUNT:,} (none: no limit)", field)  # fmt: skip
    try:
        size = float(number) if number else 1.0
    except ValueError:
        raise ValidationError(f"{field} {text[:80]!r} is not a rate: use {HINT}", field) from None
    period = size * UNITS[unit]
    if not 0.001 <= period <= MAX_PERIOD:
        raise ValidationError(f"{field} {text[:80]!r}: the period must be from 1ms to a week", field)
    return Rate(count, period)


def rate_text(rate: Rate | None) -> str | None:
    return None if rate is None else str(rate)


class SlidingWindow:
    """The starts of one scope (a queue, or the whole pool) within the last period: the
    `count` most recent start times, oldest first (more are never needed). Times later
    than `now` (the wall clock stepped back) count as `now`, so a step back holds starts
    for one period at most."""

    __slots__ = ("rate", "starts")

    def __init__(self, rate: Rate):
        self.rate = rate
        self.starts: deque[float] = deque()

    def add(self, at: float) -> float | None:
        """Record a start; returns the start it pushed out (None: none), for `undo_add`."""
        if self.starts and at < self.starts[-1]:
            # (reports of two workers may come in out of order: keep the window sorted)
            self.starts = deque(sorted([*self.starts, at]))
        else:
            self.starts.append(at)
        return self.starts.popleft() if len(self.starts) > self.rate.count else None

    def undo_add(self, at: float, evicted: float | None) -> None:
        if evicted is not None:
            self.starts.appendleft(evicted)
        self.starts.remove(at)

    def in_window(self, now: float) -> int:
        """Starts in (now - period, now]."""
        edge = now - self.rate.period
        n = 0
        for at in reversed(self.starts):
            if at <= edge:
                break
            n += 1
        return n

    def room(self, now: float, on_the_way: int = 0) -> int:
        """How many more may start at `now`; `on_the_way`: jobs handed out, not started yet."""
        return max(self.rate.count - on_the_way - self.in_window(now), 0)

    def free_at(self, now: float, on_the_way: int = 0) -> float | None:
        """When the next start may happen (`now` if at once). None: not before one of the
        jobs on the way starts or is handed back (all N places are theirs)."""
        need = self.rate.count - on_the_way  # starts that may lie in the window
        if need <= 0:
            return None
        if len(self.starts) < need:
            return now
        # The window must lose its oldest starts until only need - 1 are left in it.
        oldest_kept = self.starts[len(self.starts) - need]
        return max(min(oldest_kept, now) + self.rate.period, now)
