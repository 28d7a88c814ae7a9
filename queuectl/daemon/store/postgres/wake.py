"""Waking the other daemons: a transaction that made a job runnable (or due later) says
so with one NOTIFY on the `queuectl_jobs` channel, sent at commit; every daemon LISTENs
on its store connection and, told, reloads what it keeps of the queue in memory.

The payload is the sender's name only: NOTIFY payloads are limited to 8,000 bytes, and
a NOTIFY takes a lock at commit that serializes the committing transactions that
notify, so it is one short notification per transaction, never one per job. A lost
notification (a reconnect in between) is covered by the poll (config `cluster_poll`).
"""

from __future__ import annotations

import psycopg

from queuectl import jobs as J
from queuectl.daemon.store.postgres.base import PgBase

CHANNEL = "queuectl_jobs"
# A job entering one of these may be for any daemon to start (now, or at its run_at).
_WAKING = frozenset({J.PENDING, J.SCHEDULED, J.FAILED})


class PgWake(PgBase):
    _wake_others: bool  # this transaction made a job runnable or timed: notify at commit
    _woken: bool  # another daemon notified since take_wakes() last asked
    _listening: bool  # this connection LISTENs and its socket is worth waiting on

    def _move(self, old: str, new: str, queue: str, n: int = 1) -> None:
        super()._move(old, new, queue, n)
        if new in _WAKING:
            self._wake_others = True

    def _count_new(self, jobs: list) -> None:  # type: ignore[type-arg]
        super()._count_new(jobs)
        self._wake_others = True

    def listen(self) -> None:
        """Subscribe this connection (again after a reconnect)."""
        self._woken = True  # (what was sent while it was not listening: reload once)
        self.db.add_notify_handler(self._notified)
        self.db.execute(f"LISTEN {CHANNEL}")
        self._listening = True

    def _notified(self, note: psycopg.Notify) -> None:
        if note.payload != self.daemon_name:
            self._woken = True

    def notify_at_commit(self) -> None:
        """Inside the transaction, just before COMMIT: delivered when (and if) it commits."""
        if self._wake_others:
            self._wake_others = False
            self.db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, self.daemon_name))

    def wake_fd(self) -> int | None:
        """The connection's socket, to wait on beside the daemon's own (None: no connection)."""
        if not self._listening or self.db.closed or self.db.broken:
            return None
        return self.db.pgconn.socket

    def take_wakes(self) -> bool:
        """Read what arrived on the socket, between transactions; True if another daemon
        notified (since the last call). A connection found lost says True: reload."""
        if self._listening and not (self.db.closed or self.db.broken):
            pgconn = self.db.pgconn
            try:
                pgconn.consume_input()
            except psycopg.OperationalError:
                # (the server went away: stop waiting on a socket that is readable for
                # ever; the next transaction connects again, and listens again)
                self._listening = False
                self._woken = True
            else:
                while (note := pgconn.notifies()) is not None:
                    if note.extra.decode(errors="replace") != self.daemon_name:
                        self._woken = True
        woken, self._woken = self._woken, False
        return woken
