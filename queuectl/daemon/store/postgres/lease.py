"""Leases: how daemons sharing one database know each other is alive, and take back the
jobs of one that is not (docs/postgres.md, "Several daemons").

Each daemon has a row in `daemons` and renews its lease every few seconds. Every time
is the server's clock, so daemons on hosts whose clocks disagree still agree on who
lapsed. A daemon whose lease lapsed has its held jobs (assigned or processing, found
through their open attempt) put back to pending by another daemon, exactly as a daemon
does with its own after a crash: the attempt is closed as interrupted and not charged.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from queuectl import jobs as J
from queuectl.daemon.store.postgres.base import PgBase

NOW = "extract(epoch FROM clock_timestamp())::double precision"

_REGISTER = (
    "INSERT INTO daemons(name, host, pid, started_at, renewed_at, lease_until, workers) "
    f"VALUES (%s, %s, %s, {NOW}, {NOW}, {NOW} + %s, %s) ON CONFLICT (name) DO UPDATE SET "
    "host = excluded.host, pid = excluded.pid, started_at = excluded.started_at, renewed_at = excluded.renewed_at, "
    "lease_until = excluded.lease_until, rescued_at = NULL, rescued_by = NULL, workers = excluded.workers, running = 0"
)
_RENEW = (
    f"UPDATE daemons SET renewed_at = {NOW}, lease_until = {NOW} + %s, workers = %s, running = %s "
    f"WHERE name = %s AND lease_until > {NOW} AND rescued_at IS NULL RETURNING lease_until"
)
# A daemon's held jobs: assigned or processing, their current attempt open and its.
# `NOT EXISTS`: held in the name of a daemon with no row (a database from before leases),
# which no live daemon can be: each registers before it claims.
_HELD = (
    "SELECT j.seq, j.id, j.attempts, j.state, j.queue FROM attempts a "
    "JOIN jobs j ON j.seq = a.job_seq AND j.attempts = a.n "
    "WHERE a.finished_at IS NULL AND j.state IN ('assigned', 'processing') AND ({who}) "
    "ORDER BY j.seq FOR UPDATE OF j"
)
_OF_DAEMON = "a.daemon = %s"
_OF_NO_DAEMON = "a.daemon IS NULL OR NOT EXISTS (SELECT 1 FROM daemons d WHERE d.name = a.daemon)"


class PgLease(PgBase):
    def register(self, lease: float, workers: int) -> None:
        """This daemon's row, with a fresh lease (a row of an earlier run of the same name is
        taken over: its jobs were requeued at start)."""
        with self.transaction():
            self.db.execute(_REGISTER, (self.daemon_name, socket.gethostname(), os.getpid(), lease, workers))

    def renew(self, lease: float, workers: int, running: int) -> bool:
        """Extend this daemon's lease; False if it had lapsed (or been rescued) already: its
        jobs may be running elsewhere now, and the caller must treat them as lost."""
        with self.transaction():
            row = self.db.execute(_RENEW, (lease, workers, running, self.daemon_name)).fetchone()
        return row is not None

    def resign(self) -> None:
        """A clean stop: the lease ends now (nothing is held: every job was settled)."""
        with self.transaction():
            self.db.execute(f"UPDATE daemons SET lease_until = {NOW}, rescued_at = {NOW}, rescued_by = name, "
                            "running = 0 WHERE name = %s", (self.daemon_name,))  # fmt: skip

    def requeue_interrupted(self, now: float) -> list[tuple[int, str, int]]:
        """At start: the jobs held in this daemon's name (it crashed), and those of no known
        daemon, back to pending."""
        with self.transaction():
            return self._requeue(now, f"{_OF_DAEMON} OR {_OF_NO_DAEMON}", (self.daemon_name,))

    def take_back_own(self, now: float) -> list[tuple[int, str, int]]:
        """This daemon's lease lapsed: what is still held in its name goes back to pending
        (another daemon may have done it already: then nothing is left)."""
        with self.transaction():
            return self._requeue(now, _OF_DAEMON, (self.daemon_name,))

    def held_here(self) -> dict[int, int]:
        """seq -> attempt of every job the database says this daemon holds now."""
        rows = self.db.execute("SELECT j.seq, j.attempts FROM attempts a JOIN jobs j ON j.seq = a.job_seq "
                               "AND j.attempts = a.n WHERE a.finished_at IS NULL AND a.daemon = %s "
                               "AND j.state IN ('assigned', 'processing')", (self.daemon_name,))  # fmt: skip
        return {seq: attempt for seq, attempt in rows}

    def take_back(self, now: float, seqs: list[int]) -> list[tuple[int, str, int]]:
        """These jobs, held in this daemon's name, back to pending (it holds them no more)."""
        return self._requeue(now, f"{_OF_DAEMON} AND j.seq = ANY(%s::bigint[])", (self.daemon_name, seqs))

    def rescue_lapsed(self, now: float) -> dict[str, list[tuple[int, str, int]]]:
        """The daemons (not this one) whose lease lapsed and that nobody rescued yet: their
        held jobs back to pending. One daemon rescues each (the row is locked, and others
        skip it)."""
        rescued: dict[str, list[tuple[int, str, int]]] = {}
        with self.transaction():
            names = [r[0] for r in self.db.execute(
                f"SELECT name FROM daemons WHERE lease_until < {NOW} AND rescued_at IS NULL AND name <> %s "
                "ORDER BY name FOR UPDATE SKIP LOCKED", (self.daemon_name,))]  # fmt: skip
            for name in names:
                rescued[name] = self._requeue(now, _OF_DAEMON, (name,))
                self.db.execute(f"UPDATE daemons SET rescued_at = {NOW}, rescued_by = %s, running = 0 "
                                "WHERE name = %s", (self.daemon_name, name))  # fmt: skip
        return rescued

    def _requeue(self, now: float, who: str, args: tuple[Any, ...]) -> list[tuple[int, str, int]]:
        rows = self.db.execute(_HELD.format(who=who), args).fetchall()
        for seq, _id, attempt, state, queue in rows:
            self.db.execute(
                "UPDATE attempts SET finished_at = %s, charged = 0, "
                "error = CASE WHEN started_at IS NULL THEN %s ELSE %s END "
                "WHERE job_seq = %s AND n = %s AND finished_at IS NULL",
                (now, J.INTERRUPTED_UNCONFIRMED, J.INTERRUPTED, seq, attempt),
            )
            self.db.execute("UPDATE jobs SET state = 'pending', updated_at = %s WHERE seq = %s", (now, seq))
            self._move(state, J.PENDING, queue)
        return [(seq, job_id, attempt) for seq, job_id, attempt, _, _ in rows]

    def daemons(self) -> list[dict[str, Any]]:
        """Every daemon that has used the database, with its lease (server times) and
        whether it is live now."""
        cur = self.db.execute(
            "SELECT name, host, pid, started_at, renewed_at, lease_until, rescued_at, rescued_by, workers, running, "
            f"lease_until > {NOW} AND rescued_at IS NULL FROM daemons ORDER BY name"
        )
        keys = ("name", "host", "pid", "started_at", "renewed_at", "lease_until", "rescued_at", "rescued_by",
                "workers", "running", "live")  # fmt: skip
        return [dict(zip(keys, row, strict=True)) for row in cur]

    def pinned(self) -> dict[str, int]:
        """Pending jobs per daemon name they are pinned to (`enqueue --on`; index jobs_pinned),
        whether a daemon of that name runs or not."""
        cur = self.db.execute("SELECT on_daemon, count(*) FROM jobs WHERE state = 'pending' AND "
                              "on_daemon IS NOT NULL GROUP BY on_daemon ORDER BY on_daemon")  # fmt: skip
        return {name: int(n) for name, n in cur}
