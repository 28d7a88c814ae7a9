"""Clients waiting for a job to reach a final state (`job.wait`, a `job.cancel` of a
running job), and the deadlines of those waits.

Each waiter is answered exactly once: when its job settles (or is deleted), when
its deadline passes, or when the daemon stops first. Registrations are journaled:
a wait registered by a request that rolls back (or in a turn whose commit fails)
is gone with it, so a request run again after a failed commit registers once.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

from queuectl.daemon.journal import Journal

JobLookup = Callable[[int], "dict[str, Any] | None"]


class Waiter:
    """Exactly one of its callbacks runs, once."""

    __slots__ = ("_settled", "_abandoned", "_timed_out", "done")

    def __init__(
        self,
        settled: Callable[[dict[str, Any] | None], None],
        abandoned: Callable[[dict[str, Any] | None], None],
        timed_out: Callable[[dict[str, Any] | None], None] | None = None,
    ):
        self._settled = settled
        self._abandoned = abandoned
        self._timed_out = timed_out
        self.done = False

    def _once(self, fn: Callable[[dict[str, Any] | None], None] | None, job: dict[str, Any] | None) -> None:
        if not self.done and fn is not None:
            self.done = True
            fn(job)

    def settled(self, job: dict[str, Any] | None) -> None:
        """The job is final (or deleted: None)."""
        self._once(self._settled, job)

    def abandoned(self, job: dict[str, Any] | None) -> None:
        """The daemon stops before the job is final."""
        self._once(self._abandoned, job)

    def timed_out(self, job: dict[str, Any] | None) -> None:
        self._once(self._timed_out, job)


class Waits:
    def __init__(self, journal: Journal, lookup: JobLookup):
        self.journal = journal
        self.lookup = lookup  # seq -> the job as stored now
        self.by_seq: dict[int, list[Waiter]] = {}
        self.deadlines: list[tuple[float, int, int, Waiter]] = []  # (mono, token, seq, waiter)
        self._tokens = itertools.count()

    def __len__(self) -> int:
        return sum(len(w) for w in self.by_seq.values())

    def add(self, seq: int, waiter: Waiter, deadline: float | None = None) -> None:
        self.by_seq.setdefault(seq, []).append(waiter)
        self.journal.record(lambda: self._forget(seq, waiter))
        if deadline is not None:
            # A rolled-back registration leaves this entry behind; expire() skips a
            # waiter that is no longer registered.
            heapq.heappush(self.deadlines, (deadline, next(self._tokens), seq, waiter))

    def _forget(self, seq: int, waiter: Waiter) -> None:
        waiters = self.by_seq.get(seq)
        if waiters and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self.by_seq[seq]

    def release(self, seq: int, later: Callable[[Callable[[], None]], None]) -> None:
        """The job settled (or was deleted): answer its waiters once the change commits."""
        waiters = self.by_seq.pop(seq, None)
        if not waiters:
            return
        self.journal.record(lambda: self.by_seq.setdefault(seq, []).extend(waiters))

        def notify() -> None:
            job = self.lookup(seq)
            for waiter in waiters:
                waiter.settled(job)

        later(notify)

    def next_deadline(self) -> float | None:
        return self.deadlines[0][0] if self.deadlines else None

    def expire(self, mono: float) -> None:
        """Answer the waits whose deadline has passed (outside any transaction)."""
        while self.deadlines and self.deadlines[0][0] <= mono:
            _, _, seq, waiter = heapq.heappop(self.deadlines)
            if waiter.done or waiter not in self.by_seq.get(seq, ()):
                continue
            self._forget(seq, waiter)
            waiter.timed_out(self.lookup(seq))

    def abandon_all(self) -> None:
        """The daemon stops: answer every wait still open."""
        by_seq, self.by_seq = self.by_seq, {}
        self.deadlines.clear()
        for seq, waiters in by_seq.items():
            job = self.lookup(seq)
            for waiter in waiters:
                waiter.abandoned(job)
