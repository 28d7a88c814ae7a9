"""Dispatch: workers get the best runnable jobs, and the rule users rely on holds.

The rule: a free worker always takes the highest-priority runnable job, and no job
waits behind a running one while a worker is idle.

- Every idle child gets the best runnable job.
- Only while every worker is busy (nothing idle is left and jobs are still
  runnable), each busy child is handed its next job ahead, to start the moment
  its running one ends without a round trip to the daemon (most of the drain rate
  on a deep backlog). A job waits behind a running one only then.
- Such a job is asked back (Revoke) as soon as keeping it would break the rule: a
  worker falls idle while it waits, or a better job becomes runnable. It comes
  back, unless its child started it in the meantime (the moment the two messages
  cross), and is dispatched again.
"""

from __future__ import annotations

from queuectl import jobs as J
from queuectl.daemon.inflight import InFlightTable
from queuectl.daemon.lifecycle import Lifecycle
from queuectl.daemon.store.interface import Storage
from queuectl.daemon.windows import RunnableWindow
from queuectl.daemon.workers import Workers


def dispatch(store: Storage, runnable: RunnableWindow, workers: Workers, lifecycle: Lifecycle,
             inflight: InFlightTable, now: float) -> None:  # fmt: skip
    if store.counts[J.PENDING]:
        assign(runnable, workers, lifecycle, now)
    revoke_waiting(runnable, workers, lifecycle, inflight)


def assign(runnable: RunnableWindow, workers: Workers, lifecycle: Lifecycle, now: float) -> None:
    for child in workers.idle():
        job = runnable.pop()
        if job is None:
            return
        lifecycle.claim(job, child.id, now)
    for child in workers.with_room_behind():  # every worker is busy, and more is runnable
        job = runnable.pop()
        if job is None:
            return
        lifecycle.claim(job, child.id, now, queued=True)


def revoke_waiting(runnable: RunnableWindow, workers: Workers, lifecycle: Lifecycle,
                   inflight: InFlightTable) -> None:  # fmt: skip
    waiting = [f for f in inflight if f.queued and not f.started and not f.revoking]
    if not waiting:
        return
    someone_idle = bool(workers.idle())
    best = runnable.peek()
    for flight in waiting:
        if someone_idle or (best is not None and best.key < flight.job.key):
            lifecycle.revoke(flight)
