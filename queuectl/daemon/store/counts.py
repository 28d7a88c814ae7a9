"""Jobs per state, in all and per queue, kept in memory by a store that is the only
writer of its database (both stores today): read once at open and after a rollback,
then moved by each write, so `status` scans nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from operator import attrgetter

from queuectl import jobs as J
from queuectl.daemon.store.interface import Runnable

COUNT_QUERY = "SELECT queue, state, count(*) FROM jobs GROUP BY queue, state"


class Counts:
    counts: dict[str, int]
    queue_counts: dict[str, dict[str, int]]

    def set_counts(self, rows: Iterable[tuple[str, str, int]]) -> None:
        """From COUNT_QUERY's rows: (queue, state, jobs)."""
        counts = dict.fromkeys(J.STATES, 0)
        per_queue: dict[str, dict[str, int]] = {}
        for name, state, n in rows:
            counts[state] += n
            per_queue.setdefault(name, dict.fromkeys(J.STATES, 0))[state] = n
        self.counts = counts
        self.queue_counts = per_queue

    def _queue_counts(self, queue: str) -> dict[str, int]:
        of_queue = self.queue_counts.get(queue)
        if of_queue is None:
            of_queue = self.queue_counts[queue] = dict.fromkeys(J.STATES, 0)
        return of_queue

    def _move(self, old: str, new: str, queue: str, n: int = 1) -> None:
        self.counts[old] -= n
        self.counts[new] += n
        of_queue = self._queue_counts(queue)
        of_queue[old] -= n
        of_queue[new] += n

    def _count_new(self, jobs: list[Runnable]) -> None:
        """Jobs just inserted, counted by (queue, state): a batch is mostly one or two."""
        for (queue, state), n in Counter(map(attrgetter("queue", "state"), jobs)).items():
            self.counts[state] += n
            self._queue_counts(queue)[state] += n
