"""The PostgreSQL store's writes of jobs and attempts: enqueue and every state change.
Each knows the state it leaves, and moves the counts in memory with it (base.PgBase).
The statements are the SQLite store's (store/sqlite.py), in PostgreSQL's dialect:
RETURNING instead of lastrowid, typed parameters where a NULL could be of any type."""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg.errors

from queuectl import jobs as J
from queuectl import queues as Q
from queuectl.daemon.store.interface import ClaimLost, PoolFull, QueueFull, Runnable
from queuectl.daemon.store.keys import RELEASED_AT_START
from queuectl.daemon.store.newjobs import INSERTED, give_ids, new_rows
from queuectl.daemon.store.postgres.base import storable_only
from queuectl.daemon.store.postgres.keys import PgKeys
from queuectl.daemon.store.postgres.reads import PgReads
from queuectl.jobs import JobSpec
from queuectl.ratelimit import Rate

# The columns a new job is given (newjobs.INSERTED), and their types (a batch goes as one array per column).
_TYPES = (
    "text", "text", "text", "bigint", "bigint", "float8", "float8", "bigint", "text", "text", "float8", "float8",
    "text", "bigint", "text", "text", "text", "text", "text", "text", "text", "text", "bigint", "bytea", "bigint",
    "text",
)  # fmt: skip
_INSERTED = tuple(zip(INSERTED, _TYPES, strict=True))
_COLUMNS = ", ".join(INSERTED)
INSERT_ONE = f"INSERT INTO jobs({_COLUMNS}) VALUES ({', '.join(['%s'] * len(_INSERTED))}) RETURNING id, seq"
# A batch: one statement of 26 parameters however many rows (a VALUES list of 10,000 rows
# would be 260,000 placeholders for psycopg to parse, over PostgreSQL's limit of 65,535).
INSERT_MANY = (f"INSERT INTO jobs({_COLUMNS}) SELECT * FROM unnest("
               f"{', '.join(f'%s::{kind}[]' for _, kind in _INSERTED)}) RETURNING id, seq")  # fmt: skip


# A claim that can lose: several daemons share the database. The CTE locks the row once
# (FOR UPDATE, materialized) and SKIP LOCKED passes over a row another daemon is claiming
# right now instead of waiting for its commit; then the row must still be pending, and
# not pinned to another daemon (`enqueue --on`; the window never loads those either).
_CLAIM = (
    "WITH c AS (SELECT seq FROM jobs WHERE seq = %s AND state = 'pending' "
    "AND (on_daemon IS NULL OR on_daemon = %s) FOR UPDATE SKIP LOCKED) "
    "UPDATE jobs SET state = 'assigned', attempts = jobs.attempts + 1, updated_at = %s FROM c "
    "WHERE jobs.seq = c.seq RETURNING jobs.attempts, jobs.charged"
)
# A batch of the jobs dispatch may start, locked in one statement (dispatch.reserve_batch).
_RESERVE = (
    "SELECT seq FROM jobs WHERE seq = ANY(%s::bigint[]) AND state = 'pending' "
    "AND (on_daemon IS NULL OR on_daemon = %s) ORDER BY seq FOR UPDATE SKIP LOCKED"
)
# A limited queue's room: its concurrency less the slots every daemon's held jobs of it take.
_QUEUE_ROOM = (
    "SELECT q.concurrency - coalesce((SELECT sum(j.slots) FROM jobs j WHERE j.queue = q.name "
    "AND j.state IN ('assigned', 'processing')), 0) FROM queues q WHERE q.name = %s FOR UPDATE"
)
# A rate-limited queue's starts in its window, by every daemon: an attempt counts from its
# start, or from its claim until it starts (index attempts_queue_start).
_CLAIMED_SINCE = "SELECT count(*) FROM attempts WHERE queue = %s AND coalesce(started_at, assigned_at) > %s"
# config rate_limit over every daemon: claims under it take one transaction-long lock in
# turn (only while a limit is set), then count every queue's starts (index attempts_start).
_POOL_LOCK = "SELECT pg_advisory_xact_lock(%s)"
POOL_LOCK_KEY = 0x71637470  # "qctp": the pool's rate limit
_ALL_CLAIMED_SINCE = "SELECT count(*) FROM attempts WHERE coalesce(started_at, assigned_at) > %s"
_MAKE_RUNNABLE = (
    "WITH t AS (SELECT seq, state FROM jobs WHERE seq = %s AND state IN ('scheduled', 'failed') FOR UPDATE SKIP LOCKED) "
    "UPDATE jobs SET state = 'pending', run_at = NULL, updated_at = %s FROM t WHERE jobs.seq = t.seq "
    "RETURNING t.state, jobs.queue"
)


class PgWrites(PgReads, PgKeys):
    def ids_taken(self, ids: list[str]) -> set[str]:
        rows = self.db.execute("SELECT id FROM jobs WHERE id = ANY(%s::text[])", (storable_only(ids),))
        return {r[0] for r in rows}

    def insert_jobs(
        self, specs: list[JobSpec], now: float, max_retries: int, default_timeout: float | None
    ) -> list[Runnable]:
        """Insert validated jobs (all or none); returns each as dispatch sees it.

        Raises DuplicateIdError naming the first id that exists already or twice, and
        KeyHeldError for a unique key the index refused."""
        give_ids(specs, self.ids_taken)
        rows, out = new_rows(specs, now, max_retries, default_timeout)
        with self.transaction():
            seqs = self._insert_rows(rows, specs)
            for job in out:
                job.seq = seqs[job.id]
            self._count_new(out)
        return out

    def _insert_rows(self, rows: list[tuple[Any, ...]], specs: list[JobSpec]) -> dict[str, int]:
        """id -> seq of the rows inserted. A unique key may be refused by the index: that
        is tried under a savepoint of its own, so the transaction stays usable to say who
        holds the key (PostgreSQL refuses every statement after an error until then)."""
        keyed = any(s.unique_key is not None for s in specs)
        if keyed:
            self.db.execute("SAVEPOINT insert_jobs")
        seqs: dict[str, int] = {}
        try:
            if len(rows) == 1:
                seqs.update(self.db.execute(INSERT_ONE, rows[0]))
            else:
                seqs.update(self.db.execute(INSERT_MANY, _columns(rows)))
        except psycopg.errors.UniqueViolation:
            if not keyed:
                raise
            self.db.execute("ROLLBACK TO SAVEPOINT insert_jobs")
            self.db.execute("RELEASE SAVEPOINT insert_jobs")
            raise self._key_held(specs) from None
        if keyed:
            self.db.execute("RELEASE SAVEPOINT insert_jobs")
        assert len(seqs) == len(rows)
        return seqs

    def _check_room(self, job: Runnable, limits: Q.QueueConfig, now: float) -> None:
        """A limited queue (concurrency below the default, or a rate limit): every daemon's
        jobs of it count. The queue's row is locked until this turn commits, so the other
        daemons' claims of it wait for that (milliseconds), not longer; an unlimited queue
        takes no lock."""
        limited = limits.concurrency < Q.DEFAULT_CONCURRENCY
        if not (limited or limits.rate):
            return
        room = self.db.execute(_QUEUE_ROOM, (job.queue,)).fetchone()
        if room is None:
            return  # (removed meanwhile: nothing to count against)
        if limited and room[0] < job.slots:
            raise QueueFull(job.seq)
        if limits.rate and self._window_full(limits.rate, now, job.queue):
            raise QueueFull(job.seq)

    def _check_pool_rate(self, job: Runnable, rate: Rate, now: float) -> None:
        """config rate_limit, counting every daemon's starts (and claims not started yet)
        in its window; the lock holds until this turn commits, so two daemons cannot both
        take the last place."""
        self.db.execute(_POOL_LOCK, (POOL_LOCK_KEY,))
        if self._window_full(rate, now):
            raise PoolFull(job.seq)

    def _window_full(self, rate: Rate, now: float, queue: str | None = None) -> bool:
        """Every daemon's starts in rate's window (of `queue`, or of every queue) fill it. A
        job handed out and not started yet holds a place from its claim, as rates.py says."""
        since = now - rate.period
        row = self.db.execute(_CLAIMED_SINCE, (queue, since)) if queue is not None else \
            self.db.execute(_ALL_CLAIMED_SINCE, (since,))
        started = row.fetchone()
        return started is not None and started[0] >= rate.count

    def make_runnable(self, seq: int, now: float) -> bool:
        """A scheduled or backing-off job whose time has come -> pending. False if it is not
        timed (any more: another daemon sharing the database may have got there first)."""
        row = self.db.execute(_MAKE_RUNNABLE, (seq, now)).fetchone()
        if row is None:
            return False
        self._move(row[0], J.PENDING, row[1])
        return True

    def reserve(self, seqs: list[int]) -> set[int]:
        """Lock, for this turn, the ones of these jobs that are still pending and this
        daemon's to run, in one statement: those another daemon is claiming right now are
        skipped (SKIP LOCKED), never waited for. The claims that follow then cannot lose."""
        if not seqs:
            return set()
        return {r[0] for r in self.db.execute(_RESERVE, (seqs, self.daemon_name))}

    def claim(self, job: Runnable, child: int, now: float, slot: str = "0", max_output: int | None = None,
              limits: Q.QueueConfig | None = None, pool_rate: Rate | None = None) -> int:  # fmt: skip
        """pending -> assigned to `child`; records a new attempt row and returns its number.

        Raises ClaimLost if the job is not pending any more, is pinned to another daemon, or
        another daemon is claiming it right now (SKIP LOCKED: never waits for it); QueueFull
        if its limited queue has no room, counting every daemon's jobs of it. The job's
        attempts and charged retries are read from the row: another daemon may have run it
        since it was read."""
        if limits is not None and job.hook is None:
            self._check_room(job, limits, now)
        if pool_rate is not None and job.hook is None:
            self._check_pool_rate(job, pool_rate, now)
        row = self.db.execute(_CLAIM, (job.seq, self.daemon_name, now)).fetchone()
        if row is None:
            raise ClaimLost(job.seq)
        attempt, job.charged = int(row[0]), int(row[1])
        self.db.execute(
            "INSERT INTO attempts(job_seq, n, child, assigned_at, queue, slots, slot, max_output, daemon) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::bigint, %s)",
            (job.seq, attempt, child, now, job.queue, job.slots, slot, max_output, self.daemon_name),
        )
        self._move(J.PENDING, J.ASSIGNED, job.queue)
        job.attempts = attempt
        return attempt

    def mark_started(
        self, seq: int, attempt: int, t: float, pid: int, segment: str, out_off: int, err_off: int,
        queue: str = "default",
    ) -> None:
        """assigned -> processing. Held until write_starts(), or written with the finish."""
        self._starts[seq] = (t, pid, segment, out_off, err_off, seq, attempt)
        self._move(J.ASSIGNED, J.PROCESSING, queue)

    def write_starts(self) -> None:
        """Write the starts still held (two pipelined statements, however many)."""
        if not self._starts:
            return
        starts, self._starts = list(self._starts.values()), {}
        with self.db.cursor() as cur:
            cur.executemany("UPDATE attempts SET started_at = %s, pid = %s, segment = %s, out_off = %s, "
                            "err_off = %s WHERE job_seq = %s AND n = %s AND finished_at IS NULL", starts)  # fmt: skip
            cur.executemany(  # (only if it is still this attempt's: see _CLAIM)
                "UPDATE jobs SET state = 'processing', started_at = %s, finished_at = NULL, updated_at = %s, "
                f"unique_hold = {RELEASED_AT_START} WHERE seq = %s AND attempts = %s AND state = 'assigned'",
                [(t, t, seq, attempt) for t, _, _, _, _, seq, attempt in starts],
            )

    def return_unstarted(self, seq: int, attempt: int, now: float, queue: str = "default") -> None:
        """An assigned job that never started (its child stopped): back to pending, no trace."""
        cur = self.db.execute("UPDATE jobs SET state = 'pending', attempts = attempts - 1, updated_at = %s "
                              "WHERE seq = %s AND attempts = %s AND state = 'assigned'", (now, seq, attempt))  # fmt: skip
        if cur.rowcount:  # (else another daemon rescued it: the attempt is closed, kept)
            self.db.execute("DELETE FROM attempts WHERE job_seq = %s AND n = %s", (seq, attempt))
            self._move(J.ASSIGNED, J.PENDING, queue)


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """The rows as one list per column. psycopg refuses a list mixing ints and floats (a
    timeout of 7 beside one of 7.5): a float column's values are all floats."""
    columns = [list(column) for column in zip(*rows, strict=True)]
    for values, (_, kind) in zip(columns, _INSERTED, strict=True):
        if kind == "float8":
            values[:] = [None if v is None else float(v) for v in values]
    return columns
