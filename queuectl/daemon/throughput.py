"""Finished-job counts per minute over the last hour, for the dashboard's chart (pure code).

Kept in memory by the daemon: it starts empty when the daemon starts.
"""

from __future__ import annotations

from collections import deque

KINDS = ("completed", "failed", "dead")


class Throughput:
    def __init__(self, minutes: int = 60):
        self.minutes = minutes
        self.buckets: deque[tuple[int, dict[str, int]]] = deque()
        self.totals = dict.fromkeys(KINDS, 0)

    def record(self, kind: str, now: float) -> None:
        minute = int(now // 60)
        if not self.buckets or self.buckets[-1][0] != minute:
            self.buckets.append((minute, dict.fromkeys(KINDS, 0)))
            while self.buckets and self.buckets[0][0] <= minute - self.minutes:
                self.buckets.popleft()
        self.buckets[-1][1][kind] += 1
        self.totals[kind] += 1

    def series(self, now: float) -> list[tuple[int, dict[str, int]]]:
        """One entry per minute of the last hour, oldest first, zeros included."""
        current = int(now // 60)
        have = dict(self.buckets)
        return [
            (m, dict(have.get(m, dict.fromkeys(KINDS, 0))))
            for m in range(current - self.minutes + 1, current + 1)
        ]
