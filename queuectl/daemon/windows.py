"""The windows: the head of the runnable backlog and the soonest timed jobs, in memory.

A million pending jobs never sit in RAM and dispatch never scans: the runnable
window holds the first WINDOW jobs in dispatch order (priority, then enqueue
order) from the index that serves it, and is refilled from the database when it
runs dry. A new job joins it only if it sorts before the window's last entry;
otherwise a later refill finds it. The timer window does the same for jobs that
wait for a time (scheduled, or failed and backing off), soonest first.

Both are heaps with lazy deletion: a dict holds the live entries, and a heap entry
whose dict entry is gone (or changed) is skipped when it comes up. Every change
is journaled, so a rolled-back request or turn leaves them as they were.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Protocol

from queuectl import jobs as J
from queuectl.daemon.journal import Journal
from queuectl.daemon.store.interface import Runnable

WINDOW = 1000  # runnable jobs kept in memory
TIMER_WINDOW = 1000  # timed jobs kept in memory


class WindowSource(Protocol):
    counts: dict[str, int]
    queue_counts: dict[str, dict[str, int]]

    def runnable_window(self, limit: int, queue: str = "default") -> list[Runnable]: ...
    def timed_window(self, limit: int) -> list[tuple[float, int]]: ...


class RunnableWindow:
    """The head of one queue's runnable backlog (see Runnables: one per queue)."""

    def __init__(self, store: WindowSource, journal: Journal, size: int = WINDOW, queue: str = "default"):
        self.store = store
        self.queue = queue
        self.journal = journal
        self.size = size
        self.heap: list[tuple[tuple[int, int], int]] = []
        self.jobs: dict[int, Runnable] = {}
        self.complete = False  # the whole backlog is in memory
        self.bound: tuple[int, int] | None = None  # key of the last job loaded

    def __len__(self) -> int:
        return len(self.jobs)

    def __contains__(self, seq: int) -> bool:
        return seq in self.jobs

    def _snapshot(self) -> None:
        saved = (self.heap.copy(), self.jobs.copy(), self.complete, self.bound)

        def restore() -> None:
            self.heap, self.jobs, self.complete, self.bound = saved

        self.journal.record(restore)

    def reload(self) -> None:
        """Start over from the database (the backlog outgrew the window, or after a
        failed commit)."""
        self._snapshot()
        self.heap, self.jobs = [], {}
        self._load()

    def _load(self) -> None:
        rows = self.store.runnable_window(self.size, self.queue)
        for job in rows:
            if job.seq not in self.jobs:
                self.jobs[job.seq] = job
                heapq.heappush(self.heap, (job.key, job.seq))
        self.complete = len(rows) < self.size
        self.bound = rows[-1].key if rows else None

    def add(self, job: Runnable) -> None:
        """A job became pending (enqueued, due, retried, handed back)."""
        if job.seq in self.jobs:
            return
        if not (self.complete or (self.bound is not None and job.key < self.bound)):
            return  # it waits in the database, behind the window, for a later refill
        self._put(job)
        if len(self.jobs) > 2 * self.size:
            # A backlog that outgrew the window: keep only its head in memory again
            # (the database, same transaction, has every one of them).
            self.reload()

    def _put(self, job: Runnable) -> None:
        self.jobs[job.seq] = job
        heapq.heappush(self.heap, (job.key, job.seq))
        self.journal.record(lambda: self._forget(job.seq))

    def _forget(self, seq: int) -> None:
        self.jobs.pop(seq, None)

    def pop(self) -> Runnable | None:
        """The best runnable job, out of the window (None: nothing is runnable)."""
        job = self.peek()
        if job is None:
            return None
        heapq.heappop(self.heap)
        del self.jobs[job.seq]
        self.journal.record(self._undo_pop(job))
        return job

    def peek(self) -> Runnable | None:
        """The best runnable job, left in the window."""
        while True:
            if not self.heap:
                if self.complete or not self.pending():
                    return None
                self._snapshot()
                self._load()
                if not self.heap:
                    return None
            seq = self.heap[0][1]
            job = self.jobs.get(seq)
            if job is not None and job.key == self.heap[0][0]:
                return job
            heapq.heappop(self.heap)  # stale: dropped, or taken and put back since

    def first(self, n: int) -> list[Runnable]:
        """The best `n` runnable jobs in the window, in dispatch order, left in it."""
        if self.peek() is None:  # (loads the window if it ran dry)
            return []
        found: list[Runnable] = []
        for key, seq in heapq.nsmallest(n + len(self.heap) - len(self.jobs), self.heap):
            job = self.jobs.get(seq)
            if job is not None and job.key == key and job not in found:  # (not a stale entry)
                found.append(job)
        return found[:n]

    def pending(self) -> int:
        """The queue's pending jobs, in the window or not (the store's count)."""
        counts = self.store.queue_counts.get(self.queue)
        return counts[J.PENDING] if counts else 0

    def _undo_pop(self, job: Runnable) -> Callable[[], None]:
        return lambda: self._restore(job)

    def _restore(self, job: Runnable) -> None:
        self.jobs[job.seq] = job
        heapq.heappush(self.heap, (job.key, job.seq))

    def drop(self, seq: int) -> None:
        """The job is no longer runnable (cancelled, deleted): its heap entry is skipped."""
        job = self.jobs.pop(seq, None)
        if job is not None:
            self.journal.record(lambda: self._restore(job))


class Runnables:
    """One runnable window per queue, each bounded and refilled from that queue's part of
    the index, so a queue with 100,000 pending jobs never stands in front of another's."""

    def __init__(self, store: WindowSource, journal: Journal, size: int = WINDOW):
        self.store = store
        self.journal = journal
        self.size = size
        self.windows: dict[str, RunnableWindow] = {}

    def window(self, queue: str) -> RunnableWindow:
        """The queue's window (made on first use: it loads when first looked into)."""
        found = self.windows.get(queue)
        if found is None:
            found = self.windows[queue] = RunnableWindow(self.store, self.journal, self.size, queue)
        return found

    @property
    def jobs(self) -> dict[int, Runnable]:
        """Every job in a window (for tests and views)."""
        return {seq: job for w in self.windows.values() for seq, job in w.jobs.items()}

    def reload(self) -> None:
        for window in self.windows.values():
            window.reload()

    def add(self, job: Runnable) -> None:
        self.window(job.queue).add(job)

    def drop(self, seq: int, queue: str | None = None) -> None:
        for window in [self.windows[queue]] if queue in self.windows else self.windows.values():
            window.drop(seq)

    def forget(self, queue: str) -> None:
        """A removed queue (it held no runnable job)."""
        self.windows.pop(queue, None)


class TimerWindow:
    def __init__(self, store: WindowSource, journal: Journal, size: int = TIMER_WINDOW):
        self.store = store
        self.journal = journal
        self.size = size
        self.heap: list[tuple[float, int]] = []
        self.at: dict[int, float] = {}  # seq -> run_at, the live entries
        self.complete = False
        self.bound: float | None = None

    def __len__(self) -> int:
        return len(self.at)

    def reload(self) -> None:
        saved = (self.heap.copy(), self.at.copy(), self.complete, self.bound)

        def restore() -> None:
            self.heap, self.at, self.complete, self.bound = saved

        self.journal.record(restore)
        self.heap, self.at = [], {}
        self._load()

    def _load(self) -> None:
        rows = self.store.timed_window(self.size)
        for run_at, seq in rows:
            if self.at.get(seq) != run_at:
                self.at[seq] = run_at
                heapq.heappush(self.heap, (run_at, seq))
        self.complete = len(rows) < self.size
        self.bound = rows[-1][0] if rows else None

    def add(self, seq: int, run_at: float) -> None:
        if self.complete or (self.bound is not None and run_at < self.bound):
            previous = self.at.get(seq)
            self.at[seq] = run_at
            heapq.heappush(self.heap, (run_at, seq))
            self.journal.record(lambda: self._set(seq, previous))

    def _undo_set(self, seq: int, run_at: float) -> Callable[[], None]:
        return lambda: self._set(seq, run_at)

    def _set(self, seq: int, run_at: float | None) -> None:
        if run_at is None:
            self.at.pop(seq, None)
        else:
            self.at[seq] = run_at
            heapq.heappush(self.heap, (run_at, seq))

    def drop(self, seq: int) -> None:
        previous = self.at.pop(seq, None)
        if previous is not None:
            self.journal.record(lambda: self._set(seq, previous))

    def next_due(self) -> float | None:
        """When the soonest timed job is due (None: no job waits for a time)."""
        while self.heap:
            run_at, seq = self.heap[0]
            if self.at.get(seq) == run_at:
                return run_at
            heapq.heappop(self.heap)  # stale
        if not self.complete:
            self._load()
            return self.heap[0][0] if self.heap else None
        return None

    def pop_due(self, now: float) -> list[int]:
        """The jobs whose time has come, soonest first."""
        due = []
        while (run_at := self.next_due()) is not None and run_at <= now:
            _, seq = heapq.heappop(self.heap)
            del self.at[seq]
            self.journal.record(self._undo_set(seq, run_at))
            due.append(seq)
        return due
