"""Named queues: names, limits, tags and slots, and the pure parts of sharing the pool
between queues (fair order, slot indices). No I/O: the daemon and the CLI both use it.

See docs/lifecycle.md, "Queues".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from queuectl.ratelimit import Rate
from queuectl.validation import ValidationError as ValidationError

DEFAULT = "default"
NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
MAX_CONCURRENCY = 10_000
MAX_WEIGHT = 1000
DEFAULT_CONCURRENCY = MAX_CONCURRENCY  # a new queue is limited by the pool alone
MAX_TAGS = 32
MAX_TAG_VALUE = 256

# The error of an attempt stopped by `queue pause --kill` (not counted against retries).
PAUSED_KILL = "interrupted: its queue was paused with --kill"


def validate_name(value: Any, field: str = "queue") -> str:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise ValidationError(
            f"{field} must be a name of 1 to 64 characters from A-Z a-z 0-9 . _ - (got {str(value)[:80]!r})",
            field,
        )  # fmt: skip
    return value


def validate_concurrency(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_CONCURRENCY:
        raise ValidationError(f"concurrency must be an integer from 0 to {MAX_CONCURRENCY:,}", "concurrency")
    return value


def validate_weight(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_WEIGHT:
        raise ValidationError(f"weight must be an integer from 1 to {MAX_WEIGHT}", "weight")
    return value


def validate_slots(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_CONCURRENCY:
        raise ValidationError(f"slots must be an integer from 1 to {MAX_CONCURRENCY:,}", "slots")
    return value


def validate_tags(value: Any) -> dict[str, str]:
    """Tags: an object of KEY -> VALUE strings (keys as queue names, values up to 256
    characters without control characters), at most 32."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError("tags must be an object of KEY: VALUE strings", "tags")
    if len(value) > MAX_TAGS:
        raise ValidationError(f"a job has at most {MAX_TAGS} tags", "tags")
    for key, val in value.items():
        if not isinstance(key, str) or not NAME_PATTERN.fullmatch(key):
            raise ValidationError(f"tag name {str(key)[:80]!r} must be 1 to 64 characters from "
                                  "A-Z a-z 0-9 . _ -", "tags")  # fmt: skip
        if not isinstance(val, str) or len(val) > MAX_TAG_VALUE or any(ord(c) < 32 for c in val):
            raise ValidationError(f"tag {key!r} must have a string value of at most {MAX_TAG_VALUE} "
                                  "characters, without control characters", "tags")  # fmt: skip
    return dict(value)


def parse_tag(text: str) -> tuple[str, str]:
    """KEY=VALUE (the CLI's --tag) -> (key, value), checked."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ValidationError(f"a tag is KEY=VALUE, not {text!r}", "tags")
    validate_tags({key: value})
    return key, value


@dataclass(slots=True)
class QueueConfig:
    """A queue as stored: its name, limit, share, whether it is paused, and its rate limit."""

    name: str
    concurrency: int = DEFAULT_CONCURRENCY
    weight: int = 1
    paused: bool = False
    created_at: float = 0.0
    rate: Rate | None = None  # at most rate.count starts in any rate.period seconds


def allocate_slots(in_use: Iterable[int], n: int) -> tuple[int, ...]:
    """The n lowest slot indices not in use (0-based): what QUEUECTL_SLOT shows. While a
    queue holds at most `concurrency` slots, every index given is below it."""
    taken = set(in_use)
    found: list[int] = []
    i = 0
    while len(found) < n:
        if i not in taken:
            found.append(i)
        i += 1
    return tuple(found)


def format_slots(indices: Iterable[int]) -> str:
    return ",".join(str(i) for i in indices)


class FairShare:
    """Which queue goes next: stride scheduling. Each queue has a pass; the queue with
    the lowest pass among those that may start a job goes next, and a job of `slots`
    advances its queue's pass by slots / weight. So over time each backlogged queue gets
    pool slots in proportion to its weight, whatever its backlog. A queue that had
    nothing to run comes back at the lowest pass of the others (it keeps no credit for
    the time it was idle, and is not behind either): its next job goes first or second.
    """

    def __init__(self) -> None:
        self.passes: dict[str, float] = {}
        self.order: dict[str, int] = {}  # tie-break: the queue served longest ago first
        self.ticks = 0

    def snapshot(self) -> tuple[dict[str, float], dict[str, int], int]:
        return dict(self.passes), dict(self.order), self.ticks

    def restore(self, saved: tuple[dict[str, float], dict[str, int], int]) -> None:
        self.passes, self.order, self.ticks = dict(saved[0]), dict(saved[1]), saved[2]

    def rank(self, backlogged: Iterable[str]) -> list[str]:
        """The backlogged queues, the one to serve first first. Queues without a pass
        (new, or idle since) join at the lowest pass of the others."""
        names = list(backlogged)
        known = [self.passes[q] for q in names if q in self.passes]
        floor = min(known) if known else 0.0
        for q in names:
            if q not in self.passes or self.passes[q] < floor:
                self.passes[q] = floor
        return sorted(names, key=lambda q: (self.passes[q], self.order.get(q, -1), q))

    def first(self, backlogged: Iterable[str]) -> str | None:
        """rank(backlogged)[0] without sorting them all (dispatch asks this once per job)."""
        names = list(backlogged)
        if not names:
            return None
        if any(q not in self.passes for q in names):
            return self.rank(names)[0]
        return min(names, key=lambda q: (self.passes[q], self.order.get(q, -1), q))

    def served(self, queue: str, slots: int, weight: int) -> None:
        self.passes[queue] = self.passes.get(queue, 0.0) + slots / max(weight, 1)
        self.ticks += 1
        self.order[queue] = self.ticks

    def forget_idle(self, backlogged: Iterable[str]) -> None:
        """Queues with nothing runnable lose their pass (no credit kept while idle)."""
        keep = set(backlogged)
        for q in [q for q in self.passes if q not in keep]:
            del self.passes[q]


def free_slots(config: QueueConfig, held: int) -> int:
    """Slots of `config`'s concurrency not held by its jobs (never below 0)."""
    return max(config.concurrency - held, 0)


def counts_view(counts: Mapping[str, int]) -> dict[str, int]:
    return dict(counts)
