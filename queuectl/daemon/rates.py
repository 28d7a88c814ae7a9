"""Rate limits as the daemon holds them: a sliding window of start times for each queue
with a rate, and one for the whole pool (config `rate_limit`), journaled. Dispatch
(dispatch.py) asks them whether a queue's head may start; the loop sleeps until the
soonest moment a held start may happen (`wake_at`), so nothing polls.

The windows hold the real start times the workers report (Started), so the rule is kept
for what `show` says: no PERIOD holds more than N attempt starts (hook jobs are not
counted). A job handed to a worker but not started yet holds a place too (dispatch counts
those from the jobs in flight). When a limit is set, and at start-up, the window is filled
from the attempts the database has, so a restart does not open a fresh window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from queuectl.daemon.inflight import InFlightTable
from queuectl.daemon.journal import Journal
from queuectl.daemon.store.interface import Storage
from queuectl.queues import QueueConfig
from queuectl.ratelimit import Rate, SlidingWindow


class RateLimits:
    def __init__(self, journal: Journal):
        self.journal = journal
        self.queues: dict[str, SlidingWindow] = {}
        self.pool: SlidingWindow | None = None  # config rate_limit: every queue's starts
        self.wake_at: float | None = None  # the soonest a start held by a limit may happen

    def load(self, store: Storage, queues: Iterable[QueueConfig], pool: Rate | None, now: float) -> None:
        """Every limit, each window filled with the starts of its last period."""
        self.queues = {q.name: SlidingWindow(q.rate) for q in queues if q.rate is not None}
        self.pool = SlidingWindow(pool) if pool is not None else None
        self._fill(store, now, None)

    def _fill(self, store: Storage, now: float, only: str | None) -> None:
        """Starts the store has, into the windows (all, or only queue `only`; "" the pool's)."""
        windows = [w for name, w in self.queues.items() if only is None or name == only]
        if self.pool is not None and only in (None, ""):
            windows.append(self.pool)
        if not windows:
            return
        longest = max(w.rate.period for w in windows)
        for queue, at in store.starts_since(now - longest):
            window = self.queues.get(queue)
            if window is not None and (only is None or only == queue):
                window.add(at)
            if self.pool is not None and only in (None, ""):
                self.pool.add(at)

    # --- changes (journaled) ----------------------------------------------------------------

    def set_queue(self, name: str, rate: Rate | None, store: Storage, now: float) -> None:
        old = self.queues.get(name)
        if (old.rate if old else None) == rate:
            return
        if rate is None:
            self.queues.pop(name, None)
        else:
            self.queues[name] = SlidingWindow(rate)
            self._fill(store, now, name)
        self.journal.record(lambda: self._put_back(name, old))

    def _put_back(self, name: str, old: SlidingWindow | None) -> None:
        if old is None:
            self.queues.pop(name, None)
        else:
            self.queues[name] = old

    def set_pool(self, rate: Rate | None, store: Storage, now: float) -> None:
        """config rate_limit (applied once its change committed)."""
        if (self.pool.rate if self.pool else None) == rate:
            return
        old = self.pool
        self.pool = None if rate is None else SlidingWindow(rate)
        if self.pool is not None:
            self._fill(store, now, "")

        def undo() -> None:
            self.pool = old

        self.journal.record(undo)

    def started(self, queue: str, at: float) -> None:
        """A job of `queue` (not a hook) started at `at` (its worker's report)."""
        for window in (self.queues.get(queue), self.pool):
            if window is not None:
                self.journal.record(_undo_add(window, at, window.add(at)))

    # --- questions --------------------------------------------------------------------------

    def held(self, queue: str, now: float, on_way: int, pool_on_way: int) -> bool:
        """A job of `queue` (not a hook) may not start at `now`: its queue's window or the
        pool's is full. on_way, pool_on_way: jobs handed out and not started yet, of the
        queue and of every queue."""
        window = self.queues.get(queue)
        if window is not None and window.room(now, on_way) <= 0:
            return True
        return self.pool is not None and self.pool.room(now, pool_on_way) <= 0

    def free_at(self, queue: str | None, now: float, on_way: int, pool_on_way: int) -> float | None:
        """When a held start of `queue` (None: any queue, the pool's limit only) may happen;
        None: not before a job on its way starts or comes back (a report wakes the loop)."""
        times: list[float | None] = []
        window = self.queues.get(queue) if queue is not None else None
        if window is not None and window.room(now, on_way) <= 0:
            times.append(window.free_at(now, on_way))
        if self.pool is not None and self.pool.room(now, pool_on_way) <= 0:
            times.append(self.pool.free_at(now, pool_on_way))
        if not times or any(t is None for t in times):
            return None
        return max(t for t in times if t is not None)


def _undo_add(window: SlidingWindow, at: float, evicted: float | None) -> Callable[[], None]:
    return lambda: window.undo_add(at, evicted)


def on_the_way(inflight: InFlightTable) -> tuple[dict[str, int], int]:
    """Jobs handed out and not started yet (hooks left out), per queue and in all: each
    holds a place in its windows until it starts (or is handed back)."""
    per_queue: dict[str, int] = {}
    total = 0
    for flight in inflight:
        if not flight.started and flight.job.hook is None:
            per_queue[flight.job.queue] = per_queue.get(flight.job.queue, 0) + 1
            total += 1
    return per_queue, total
