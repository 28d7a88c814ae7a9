"""Sharing a database with other daemons (PostgreSQL; docs/postgres.md, "Several daemons").

- The lease: this daemon renews its row every `lease_renew` seconds for `lease` seconds.
  Every renew also rescues the daemons whose lease lapsed: their held jobs go back to
  pending, so a dead daemon's jobs run again within lease + one renew interval.
- Fencing: when no renew has succeeded for `lease - FENCE_MARGIN_S` seconds (counted
  from when the last good renew was sent, so before the server's lease can lapse), this
  daemon starts nothing and kills its running jobs at once (SIGKILL, no grace). A job
  rescued elsewhere is then no longer running here. It starts jobs again once a renew
  succeeds and every killed job has reported. The loop fences itself; a watchdog thread
  (FenceWatchdog) SIGKILLs the jobs' process groups at the same moment should the loop
  be stuck then (in a call to a database that does not answer).
- Following the others: their writes that make a job runnable NOTIFY; told (or every
  `cluster_poll` seconds, for a notification lost), the next turn reloads the counts and
  the windows from the database.

LeaseClock is the timing alone (pure); Cluster does the I/O through the store.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
import zmq

from queuectl.daemon import wire

if TYPE_CHECKING:
    from queuectl.daemon.daemon import Daemon
    from queuectl.daemon.store.interface import SharedStorage

log = structlog.get_logger()

# Seconds before the lease could lapse at which a daemon that could not renew fences
# itself: the time to notice (the loop wakes for it) and to SIGKILL its jobs.
FENCE_MARGIN_S = 1.0
LOST_CLAIMS_RETRY_S = 0.01


@dataclass(slots=True)
class LeaseClock:
    """When to renew, and when to fence, on the monotonic clock."""

    lease: float
    renew: float
    good_sent: float  # when the last renew that succeeded was sent

    @property
    def interval(self) -> float:
        """The renew interval, at most a third of the lease (two renews may fail in a row)."""
        return min(self.renew, self.lease / 3)

    def fence_at(self) -> float:
        return self.good_sent + max(self.lease - FENCE_MARGIN_S, self.lease / 2)

    def renewed(self, sent: float) -> None:
        self.good_sent = sent


class FenceWatchdog:
    """Kills the running jobs at the fence moment even while the loop is stuck. It only
    reads what the loop publishes (two plain attributes, replaced whole) and sends
    signals; the loop then settles the jobs as fenced (Cluster.take_refresh)."""

    def __init__(self, clock: LeaseClock):
        self.clock = clock
        self.job_groups: tuple[int, ...] = ()  # the started jobs' process groups (the loop's)
        # The worker children: SIGTERM makes one kill its job's process group and exit (as
        # when the daemon dies), which covers a job the loop had not seen start yet.
        self.children: tuple[int, ...] = ()
        self.fired = False  # it killed them: the loop has not taken that in yet
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fence-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            left = self.clock.fence_at() - time.monotonic()
            if left > 0:
                self._stop.wait(left)  # (a renew meanwhile moved fence_at on: look again)
                continue
            if not self.fired and (self.job_groups or self.children):
                for pgid in self.job_groups:
                    with contextlib.suppress(OSError):
                        os.killpg(pgid, signal.SIGKILL)
                for pid in self.children:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGTERM)
                self.fired = True
            self._stop.wait(FENCE_MARGIN_S / 4)


class Cluster:
    def __init__(self, daemon: Daemon, store: SharedStorage, mono: float):
        self.d = daemon
        self.store = store
        config = daemon.config
        self.clock = LeaseClock(config["lease"], config["lease_renew"], mono)
        self.poll = config["cluster_poll"]
        self.next_renew = mono + self.clock.interval
        self.next_poll = mono + self.poll
        self.fenced: str | None = None  # why, while fenced
        self.refresh_due = False  # the next turn reloads counts and windows
        self.watched: int | None = None  # the store's socket, in the loop's poller
        self.watchdog = FenceWatchdog(self.clock)

    def register(self) -> None:
        self.store.register(self.clock.lease, self.d.workers.target)
        self.watchdog.start()
        self.d.events.sharing = self.store  # (every event and settled job, for the others)
        self.store.logs_dir = self.d.paths.logs_dir  # (ended attempts' output, for `logs` through the others)

    def apply_config(self, config: dict[str, Any]) -> None:
        """A shorter lease or interval applies from the last good renew, not the next one
        planned under the old (which could come after the new lease's fence)."""
        self.clock.lease, self.clock.renew = config["lease"], config["lease_renew"]
        self.poll = config["cluster_poll"]
        self.next_renew = min(self.next_renew, self.clock.good_sent + self.clock.interval)
        self.next_poll = min(self.next_poll, self.clock.good_sent + self.poll)

    def may_start(self) -> bool:
        return self.fenced is None

    def wake_at(self) -> float:
        """The soonest moment the loop must come round for the lease or the poll; at once
        when a refresh is due. (Just before the loop waits: a notification that came while
        a transaction of this daemon ran was read off the socket with the replies, as
        PostgreSQL sends it just before a ReadyForQuery, so the socket will not wake the
        wait for it. Taken here, it is not left until the next poll.)"""
        if self.store.take_wakes():
            self.refresh_due = True
        if self.refresh_due and self.d.store_failing is None:  # (failing: it waits for the retry)
            return 0.0
        soonest: float = min(self.next_renew, self.next_poll)
        return soonest if self.fenced else min(soonest, self.clock.fence_at())

    def woken(self, mono: float) -> None:
        """After each poll: told by another daemon, or the poll's time came."""
        if self.store.take_wakes() or mono >= self.next_poll:
            self.refresh_due = True
            self.next_poll = mono + self.poll

    @property
    def busy(self) -> bool:
        """The next turn has something of the others' to take in (not a quiet one)."""
        return self.refresh_due or any(self.store.inbox.values())

    def take_refresh(self) -> bool:
        """In a turn: what the others told. Their events go to this daemon's subscribers,
        their settled jobs end the waits on them here; the counts are reloaded if they
        changed the queue (True: the windows must be reloaded too)."""
        d, inbox = self.d, self.store.take_inbox()
        if self.store.reconnected:
            self.reconcile()
        if self.watchdog.fired:  # (the loop was stuck at the fence moment: the watchdog killed them)
            self.fence("the lease could not be renewed and was about to lapse (the loop was stuck)", flush=False)
        if d.events.subscriptions:
            for event in inbox["e"]:
                d.out.event(event)
        for seq in inbox["r"]:
            d.waits.release(seq, d.out.later)
        if inbox["q"]:  # (another daemon added, changed or removed a queue)
            d.queues.reload()
        for name in set(inbox["s"]):  # (... or a schedule)
            d.scheduler.follow(name)
        for key in sorted(set(inbox["k"])):  # (... or a setting: config set)
            d.follow_setting(key)
        for seq in inbox["c"]:  # (asked through another daemon: the one that runs it kills it)
            flight = d.inflight.get(seq)
            if flight is not None:
                d.lifecycle.abort_flight(flight, "cancel")
        if not self.refresh_due:
            return False
        self.refresh_due = False
        self.store.reload_counts()
        return True

    def reconcile(self) -> None:
        """Connected again (a restart, a failover): what this daemon holds and what the
        database says it holds must agree. A server that lost its last commits (a failover
        to a standby behind) may have lost a claim (the job may be another daemon's now:
        it is killed here) or an end (the job is put back to pending: it runs again)."""
        d, store = self.d, self.store
        store.reconnected = False
        d.journal.record(lambda: setattr(store, "reconnected", True))  # (a failed turn: again)
        held = store.held_here()
        ours = {f.job.seq: f.attempt for f in d.inflight}
        lost_ends = [seq for seq, attempt in held.items() if ours.get(seq) != attempt]
        if lost_ends:
            taken = store.take_back(d.clock.wall(), lost_ends)
            log.warning("daemon.reconciled", requeued=[job_id for _, job_id, _ in taken][:100])
            self.refresh_due = True
        for flight in list(d.inflight):
            if held.get(flight.job.seq) != flight.attempt and flight.abort != wire.FENCED:
                log.warning("daemon.reconciled", killed=flight.job.id, attempt=flight.attempt)
                d.lifecycle.abort_flight(flight, wire.FENCED)

    def claims_lost(self, mono: float) -> None:
        """Dispatch gave up after losing claims to other daemons: look again very soon."""
        self.next_poll = min(self.next_poll, mono + LOST_CLAIMS_RETRY_S)

    def tick(self, mono: float, poller: Any) -> None:
        """After each turn, outside it: fence if the lease is about to lapse, renew when due;
        wait on the store connection's socket (a new one after a reconnect)."""
        if mono >= self.next_renew:
            self.renew(mono)
        if self.fenced is None and mono >= self.clock.fence_at():
            self.fence("the lease could not be renewed and is about to lapse")
        self.watchdog.job_groups = tuple(f.pgid for f in self.d.inflight if f.pgid and f.abort is None)
        self.watchdog.children = tuple(c.pid for c in self.d.pool.children.values()) if self.d.inflight else ()
        fd = self.store.wake_fd()
        if fd != self.watched:
            if self.watched is not None:
                poller.unregister(self.watched)
            if fd is not None:
                poller.register(fd, zmq.POLLIN)
            self.watched = fd

    def renew(self, sent: float) -> None:
        d, store = self.d, self.store
        self.next_renew = sent + self.clock.interval
        try:
            running = len(d.inflight)
            if not store.renew(self.clock.lease, d.workers.target, running):
                self.lapsed(sent)
            self.clock.renewed(sent)
            rescued = store.rescue_lapsed(d.clock.wall())
        except store.errors as exc:
            log.error("store.error", error=str(exc), during="lease renew")
            d.store_failed(exc)
            self.next_renew = sent + min(self.clock.interval, 0.5)  # (try again soon)
            return
        for name, jobs in rescued.items():
            log.warning("daemon.rescued", daemon=name, jobs=len(jobs), job_ids=[j for _, j, _ in jobs][:100])
        if rescued:
            self.refresh_due = True
        if self.fenced is not None and not d.inflight:
            log.warning("daemon.unfenced", name=d.name)
            self.fenced = None
            self.watchdog.fired = False

    def lapsed(self, sent: float) -> None:
        """The renew found the lease lapsed (this daemon was stopped, or cut off, longer than
        the lease): whatever it still runs may be running elsewhere too. Kill it, put back
        what nobody rescued yet, and take a new lease."""
        self.fence("the lease lapsed")
        taken = self.store.take_back_own(self.d.clock.wall())
        self.store.register(self.clock.lease, self.d.workers.target)
        log.warning("daemon.lease_lapsed", name=self.d.name, requeued=len(taken))
        self.refresh_due = True

    def fence(self, why: str, flush: bool = True) -> None:
        """Start nothing, and kill every job this daemon's children run, now (each settles
        as interrupted, not counted, unless another daemon rescued it meanwhile).
        `flush`: send the kills now (outside a turn)."""
        d = self.d
        if self.fenced is None:
            log.error("daemon.fenced", name=d.name, why=why, running=len(d.inflight))
        self.fenced = why
        for flight in list(d.inflight):
            if flight.abort != wire.FENCED:
                d.lifecycle.abort_flight(flight, wire.FENCED)
        if flush:
            d.out.flush(d.channels)

    def view(self) -> dict[str, Any]:
        """daemon.status's `cluster`: this daemon's lease, every daemon of the database, and
        the pending jobs pinned to each name (`enqueue --on`)."""
        daemons: list[dict[str, Any]] | None = None
        pinned: dict[str, int] | None = None
        with contextlib.suppress(*self.store.errors):  # (None: the database is away)
            daemons, pinned = self.store.daemons(), self.store.pinned()
        return {"fenced": self.fenced, "lease_s": self.clock.lease, "renew_s": self.clock.interval,
                "daemons": daemons, "pinned": pinned}  # fmt: skip
