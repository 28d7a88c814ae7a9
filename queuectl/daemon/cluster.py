"""Sharing a database with other daemons (PostgreSQL; docs/postgres.md, "Several daemons").

- The lease: this daemon renews its row every `lease_renew` seconds for `lease` seconds.
  Every renew also rescues the daemons whose lease lapsed: their held jobs go back to
  pending, so a dead daemon's jobs run again within lease + one renew interval.
- Fencing: when no renew has succeeded for `lease - FENCE_MARGIN_S` seconds (counted
  from when the last good renew was sent, so before the server's lease can lapse), this
  daemon starts nothing and kills its running jobs at once (SIGKILL, no grace). A job
  rescued elsewhere is then no longer running here. It starts jobs again once a renew
  succeeds and every killed job has reported.
- Following the others: their writes that make a job runnable NOTIFY; told (or every
  `cluster_poll` seconds, for a notification lost), the next turn reloads the counts and
  the windows from the database.

LeaseClock is the timing alone (pure); Cluster does the I/O through the store.
"""

from __future__ import annotations

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

    def register(self) -> None:
        self.store.register(self.clock.lease, self.d.workers.target)

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
        if self.refresh_due:
            return 0.0
        soonest: float = min(self.next_renew, self.next_poll)
        return soonest if self.fenced else min(soonest, self.clock.fence_at())

    def woken(self, mono: float) -> None:
        """After each poll: told by another daemon, or the poll's time came."""
        if self.store.take_wakes() or mono >= self.next_poll:
            self.refresh_due = True
            self.next_poll = mono + self.poll

    def take_refresh(self) -> bool:
        """In a turn: reload the counts if the others changed the queue (True: the windows
        must be reloaded too)."""
        if not self.refresh_due:
            return False
        self.refresh_due = False
        self.store.reload_counts()
        return True

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

    def lapsed(self, sent: float) -> None:
        """The renew found the lease lapsed (this daemon was stopped, or cut off, longer than
        the lease): whatever it still runs may be running elsewhere too. Kill it, put back
        what nobody rescued yet, and take a new lease."""
        self.fence("the lease lapsed")
        taken = self.store.take_back_own(self.d.clock.wall())
        self.store.register(self.clock.lease, self.d.workers.target)
        log.warning("daemon.lease_lapsed", name=self.d.name, requeued=len(taken))
        self.refresh_due = True

    def fence(self, why: str) -> None:
        """Start nothing, and kill every job this daemon's children run, now."""
        d = self.d
        if self.fenced is None:
            log.error("daemon.fenced", name=d.name, why=why, running=len(d.inflight))
        self.fenced = why
        for flight in d.inflight:
            d.out.send(flight.child, wire.Abort(flight.job.seq, wire.FENCED))
        d.out.flush(d.channels)

    def view(self) -> dict[str, Any]:
        """daemon.status's `cluster`: this daemon's lease, and every daemon of the database."""
        try:
            daemons = self.store.daemons()
        except self.store.errors:
            daemons = None
        return {"fenced": self.fenced, "lease_s": self.clock.lease, "renew_s": self.clock.interval,
                "daemons": daemons}  # fmt: skip
