"""The SQLite store: the embedded implementation of interface.Storage. All its SQL
lives here (the schema in schema.py)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from queuectl import jobs as J
from queuectl.daemon.store.checkpoint import Checkpointer
from queuectl.daemon.store.counts import COUNT_QUERY, Counts
from queuectl.daemon.store.deps import StoreDeps
from queuectl.daemon.store.interface import ClaimLost, Runnable, UnusableDatabase
from queuectl.daemon.store.keys import RELEASED_AT_START, RELEASED_WHEN_FINAL, KeyRows
from queuectl.daemon.store.newjobs import give_ids, new_rows, without_null_columns
from queuectl.daemon.store.prune import StorePrune
from queuectl.daemon.store.queues import QueueRows
from queuectl.daemon.store.reads import StoreReads
from queuectl.daemon.store.schedules import StoreSchedules
from queuectl.daemon.store.schema import DAMAGE_CODES, damaged_message, migrate
from queuectl.jobs import JobSpec
from queuectl.queues import QueueConfig
from queuectl.ratelimit import Rate

# sqlite3 binds a None (unlike an int, float or str) through its adapter registry, and a
# miss there raises and formats two AttributeErrors: about 1 µs per NULL parameter, and
# finishing an attempt binds several. A registered adapter is a dictionary hit.
sqlite3.register_adapter(type(None), lambda value: value)


class Store(Counts, StoreReads, QueueRows, StoreDeps, StoreSchedules, KeyRows, StorePrune):
    """The embedded store: one SQLite file in WAL mode, one connection, owned by the
    daemon (implements interface.Storage)."""

    shared = False  # (the daemon holds the home's lock: it is the only writer)

    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, path: Path, synchronous: str = "NORMAL"):
        """Open (or create) the database, check it, migrate it forward.

        Raises UnusableDatabase, with one line naming the file, when it is damaged
        (`PRAGMA quick_check` finds a fault, or SQLite says it is corrupt or not a
        database), has a newer schema, or cannot be opened.
        """
        self.path, self.daemon_name = path, ""  # (daemon_name: set by the daemon, see interface)
        self._in_tx = False
        self.checkpointer: Checkpointer | None = None
        self.counts: dict[str, int] = {}
        self.queue_counts: dict[str, dict[str, int]] = {}
        # Starts reported this turn, written with their attempt's finish when that came in
        # the same turn (a short job: one write instead of two), else by write_starts().
        self._starts: dict[int, tuple[Any, ...]] = {}
        try:
            self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise UnusableDatabase(f"cannot open the database {path}: {exc}") from None
        try:
            self._open(synchronous)
        except sqlite3.Error as exc:
            self.db.close()
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF in DAMAGE_CODES:
                raise UnusableDatabase(damaged_message(path, str(exc)), damaged=True) from None
            raise UnusableDatabase(f"cannot use the database {path}: {exc}") from None
        except UnusableDatabase:
            self.db.close()
            raise

    def _open(self, synchronous: str) -> None:
        self.db.execute("PRAGMA busy_timeout=5000")
        self.check()
        self.db.execute("PRAGMA journal_mode=WAL")
        self.set_synchronous(synchronous)
        self.db.execute("PRAGMA temp_store=MEMORY")
        self.db.execute("PRAGMA cache_size=-32000")  # 32 MB: the hot index pages of 1M jobs
        self.db.execute("PRAGMA journal_size_limit=67108864")
        migrate(self.db, self.path)
        self.reload_counts()

    def check(self) -> None:
        """PRAGMA quick_check: every page and b-tree is sound (what integrity_check does,
        less matching each index entry to its row). For a million jobs (224 MB) 0.5 s
        with the file in the page cache, 2 s cold (benchmarks/quick_check.py): cheap
        enough to run at every start, where a damaged page found later would fail
        requests mid-run instead."""
        rows = self.db.execute("PRAGMA quick_check(5)").fetchall()
        if [r[0] for r in rows] != ["ok"]:
            detail = "; ".join(str(r[0]) for r in rows)
            raise UnusableDatabase(damaged_message(self.path, detail), damaged=True)

    def start_checkpointer(self) -> None:
        """Move WAL checkpoints off the event loop (see Checkpointer)."""
        self.db.execute("PRAGMA wal_autocheckpoint=0")
        self.checkpointer = Checkpointer(self.path)
        self.checkpointer.start()

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        with suppress(sqlite3.Error):
            self.db.execute("PRAGMA optimize")
        self.db.close()

    def set_synchronous(self, mode: str) -> None:
        if mode not in ("NORMAL", "FULL"):
            raise ValueError(mode)
        self.db.execute(f"PRAGMA synchronous={mode}")

    # --- schema and transactions ------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction; nested use joins the outer one."""
        if self._in_tx:
            yield
            return
        self.db.execute("BEGIN IMMEDIATE")
        self._in_tx = True
        try:
            yield
        except BaseException:
            self._in_tx = False
            self._rollback()
            raise
        self._in_tx = False
        try:
            self.write_starts()  # (never lost: what the caller did not write yet goes in now)
            self.db.execute("COMMIT")
        except sqlite3.Error:
            self._rollback()
            raise

    def _rollback(self) -> None:
        self._starts.clear()
        # SQLite may have rolled the transaction back itself already (SQLITE_FULL can).
        if self.db.in_transaction:
            with suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
        self.reload_counts()  # the in-memory counts followed the rolled-back writes

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """One request inside the turn's transaction: undone alone if it fails."""
        self.db.execute("SAVEPOINT request")
        counts = dict(self.counts)  # (a handful of numbers: cheaper than recounting)
        per_queue = {q: dict(c) for q, c in self.queue_counts.items()}
        try:
            yield
        except BaseException:
            if self.db.in_transaction:  # (SQLite rolls the whole transaction back on some errors)
                try:
                    self.db.execute("ROLLBACK TO request")
                    self.db.execute("RELEASE request")
                except sqlite3.Error:
                    pass  # the transaction is gone: the caller's transaction() fails it all
            self.counts = counts
            self.queue_counts = per_queue
            raise
        self.db.execute("RELEASE request")

    def reload_counts(self) -> None:
        self.set_counts(self.db.execute(COUNT_QUERY))

    def next_epoch(self) -> int:
        """A number that is new at every daemon start (names this run's log segments)."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO meta(key, value) VALUES('epoch', 1) "
                "ON CONFLICT(key) DO UPDATE SET value = value + 1"
            )
            epoch: int = self.db.execute("SELECT value FROM meta WHERE key='epoch'").fetchone()[0]
            return epoch

    # --- config ---------------------------------------------------------------------------

    def config_load(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM config")}

    def config_save(self, key: str, value: Any) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO config(key, value) VALUES(?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    # --- enqueue ---------------------------------------------------------------------------

    def ids_taken(self, ids: list[str]) -> set[str]:
        taken: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            taken.update(r[0] for r in self.db.execute(f"SELECT id FROM jobs WHERE id IN ({marks})", chunk))
        return taken

    def insert_jobs(
        self, specs: list[JobSpec], now: float, max_retries: int, default_timeout: float | None
    ) -> list[Runnable]:
        """Insert validated jobs (all or none); returns each as dispatch sees it.

        Raises DuplicateIdError naming the first id that exists already or twice.
        """
        give_ids(specs, self.ids_taken)
        rows, out = new_rows(specs, now, max_retries, default_timeout)
        insert, rows = without_null_columns(rows)
        with self.transaction():
            try:
                if len(rows) == 1:  # (the common single enqueue: its seq without another query)
                    cur = self.db.execute(insert, rows[0])
                    last = cur.lastrowid
                else:
                    cur = self.db.executemany(insert, rows)
                    last = self.db.execute("SELECT last_insert_rowid()").fetchone()[0]
            except sqlite3.IntegrityError:
                raise self._key_held(specs) from None
            # One writer, rowid = max + 1: the rows got consecutive seqs, in order.
            assert last is not None
            first = last - len(rows) + 1
            for seq, job in enumerate(out, first):
                job.seq = seq
            self._count_new(out)
            assert cur.rowcount == len(rows)
        return out

    # --- state changes (each knows the state it leaves, for the counts) ------------------

    def make_runnable(self, seq: int, now: float) -> bool:
        """A scheduled or backing-off job whose time has come -> pending."""
        row = self.db.execute("SELECT state, queue FROM jobs WHERE seq = ?", (seq,)).fetchone()
        if not row or row[0] not in J.TIMED_STATES:
            return False
        self.db.execute(
            "UPDATE jobs SET state = 'pending', run_at = NULL, updated_at = ? WHERE seq = ?",
            (now, seq),
        )
        self._move(row[0], J.PENDING, row[1])
        return True

    def claim(self, job: Runnable, child: int, now: float, slot: str = "0", max_output: int | None = None,
              limits: QueueConfig | None = None, pool_rate: Rate | None = None) -> int:  # fmt: skip
        """pending -> assigned to `child`; records a new attempt row (with the queue, the
        slots and the slot indices it holds, its output limit) and returns its number.
        (limits, pool_rate: dispatch has checked them; this daemon is the only one.)"""
        attempt = job.attempts + 1
        cur = self.db.execute(
            "UPDATE jobs SET state = 'assigned', attempts = ?, updated_at = ? WHERE seq = ? "
            "AND (on_daemon IS NULL OR on_daemon = ?)", (attempt, now, job.seq, self.daemon_name),
        )  # (a job pinned to another name is never claimed: enqueue --on)
        if not cur.rowcount:
            raise ClaimLost(job.seq)
        self.db.execute(
            "INSERT INTO attempts(job_seq, n, child, assigned_at, queue, slots, slot, max_output, daemon) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (job.seq, attempt, child, now, job.queue, job.slots, slot, max_output, self.daemon_name),
        )
        self._move(J.PENDING, J.ASSIGNED, job.queue)
        job.attempts = attempt
        return attempt

    def mark_started(
        self, seq: int, attempt: int, t: float, pid: int, segment: str, out_off: int, err_off: int,
        queue: str = "default",
    ) -> None:
        """assigned -> processing. Held until write_starts() (the caller's duty before the
        turn reads or commits), or written together with the attempt's finish."""
        self._starts[seq] = (t, pid, segment, out_off, err_off, seq, attempt)
        self._move(J.ASSIGNED, J.PROCESSING, queue)

    def write_starts(self) -> None:
        """Write the starts still held (in two statements, however many)."""
        if not self._starts:
            return
        starts, self._starts = list(self._starts.values()), {}
        self.db.executemany(
            "UPDATE attempts SET started_at = ?, pid = ?, segment = ?, out_off = ?, err_off = ? "
            "WHERE job_seq = ? AND n = ?",
            starts,
        )
        self.db.executemany(
            "UPDATE jobs SET state = 'processing', started_at = ?, finished_at = NULL, updated_at = ?, "
            f"unique_hold = {RELEASED_AT_START} WHERE seq = ?",
            [(t, t, seq) for t, _, _, _, _, seq, _ in starts],
        )

    def return_unstarted(self, seq: int, attempt: int, now: float, queue: str = "default") -> None:
        """An assigned job that never started (its child stopped): back to pending, no trace."""
        self.db.execute("DELETE FROM attempts WHERE job_seq = ? AND n = ?", (seq, attempt))
        self.db.execute(
            "UPDATE jobs SET state = 'pending', attempts = attempts - 1, updated_at = ? "
            "WHERE seq = ? AND state = 'assigned'",
            (now, seq),
        )
        self._move(J.ASSIGNED, J.PENDING, queue)

    def finish_attempt(
        self,
        seq: int,
        attempt: int,
        now: float,
        *,
        exit_code: int | None,
        signal: int | None,
        timed_out: bool,
        error: str | None,
        out_len: int | None,
        err_len: int | None,
        charged: bool,
        new_state: str,
        run_at: float | None,
        last_error: str | None,
        started: bool = True,
        queue: str = "default",
        dropped: int = 0,
    ) -> bool:
        """Close an attempt and move its job to `new_state` (decided by the caller's policy);
        `started`: it ran (processing), or never confirmed its start (assigned). True: this
        daemon is the database's only writer, so the attempt is always still the job's."""
        start = self._starts.pop(seq, None)
        if start is not None and start[-1] != attempt:
            self._starts[seq] = start  # (another attempt's: cannot be, but never lose it)
            start = None
        started_at, pid, segment, out_off, err_off = start[:5] if start else (None,) * 5
        # An attempt that wrote nothing points into no segment: it must not keep one alive.
        # (Its start, when reported in this same turn, is written here too.)
        self.db.execute(
            "UPDATE attempts SET finished_at = ?, exit_code = ?, signal = ?, timed_out = ?, "
            "charged = ?, error = ?, out_len = ?, err_len = ?, dropped = ?, "
            "started_at = coalesce(?, started_at), pid = coalesce(?, pid), "
            "out_off = coalesce(?, out_off), err_off = coalesce(?, err_off), "
            "segment = CASE WHEN ? = 0 AND ? = 0 THEN NULL ELSE coalesce(?, segment) END "
            "WHERE job_seq = ? AND n = ?",
            (now, exit_code, signal, int(timed_out), int(charged), error, out_len, err_len, dropped,
             started_at, pid, out_off, err_off, out_len, err_len, segment, seq, attempt),
        )  # fmt: skip
        final = new_state in J.FINAL_STATES or new_state == J.FAILED
        self.db.execute(
            "UPDATE jobs SET state = ?, run_at = ?, run_at_relative = 1, exit_code = ?, last_error = ?, "
            "charged = charged + ?, started_at = coalesce(?, started_at), "
            f"unique_hold = CASE WHEN ? THEN {RELEASED_WHEN_FINAL} "
            f"WHEN ? IS NOT NULL THEN {RELEASED_AT_START} ELSE unique_hold END, "
            "finished_at = CASE WHEN ? THEN ? ELSE finished_at END, updated_at = ? WHERE seq = ?",
            (new_state, run_at, exit_code, last_error, int(charged), started_at,
             int(new_state in J.FINAL_STATES), started_at, int(final), now, now, seq),
        )  # fmt: skip
        self._move(J.PROCESSING if started else J.ASSIGNED, new_state, queue)
        return True

    def requeue_interrupted(self, now: float) -> list[tuple[int, str, int]]:
        """After a crash: every `assigned` or `processing` job back to pending, its attempt recorded as
        interrupted and not charged. Returns (seq, id, attempt) of each.

        An attempt whose start was never confirmed may still have run (its worker had
        spawned it, then died with the daemon before reporting): it is kept too, saying so."""
        rows = self.db.execute(
            "SELECT seq, id, attempts, state, queue FROM jobs WHERE state IN ('assigned', 'processing')"
        ).fetchall()
        with self.transaction():
            for seq, _id, attempt, state, queue in rows:
                self.db.execute(
                    "UPDATE attempts SET finished_at = ?, charged = 0, "
                    "error = CASE WHEN started_at IS NULL THEN ? ELSE ? END "
                    "WHERE job_seq = ? AND n = ? AND finished_at IS NULL",
                    (now, J.INTERRUPTED_UNCONFIRMED, J.INTERRUPTED, seq, attempt),
                )
                self.db.execute(
                    "UPDATE jobs SET state = 'pending', updated_at = ? WHERE seq = ?", (now, seq)
                )
                self._move(state, J.PENDING, queue)
        return [(seq, job_id, attempt) for seq, job_id, attempt, _, _ in rows]

    def shift_relative_waits(self, step: float) -> int:
        """The wall clock stepped by `step` seconds: move every wait that was given as a
        duration along with it (absolute times of day stay). Returns how many moved."""
        cur = self.db.execute(
            "UPDATE jobs SET run_at = run_at + ? "
            "WHERE state IN ('scheduled', 'failed') AND run_at_relative = 1",
            (step,),
        )
        return cur.rowcount

    def retry(self, seq: int, state: str, now: float, queue: str = "default") -> None:
        """failed/dead -> pending now, with a fresh set of retries."""
        self.db.execute(
            "UPDATE jobs SET state = 'pending', run_at = NULL, charged = 0, updated_at = ? "
            "WHERE seq = ?",
            (now, seq),
        )
        self._move(state, J.PENDING, queue)

    def cancel(self, seq: int, state: str, now: float, queue: str = "default") -> None:
        self.db.execute(
            "UPDATE jobs SET state = 'cancelled', run_at = NULL, last_error = 'cancelled', "
            f"unique_hold = {RELEASED_WHEN_FINAL}, finished_at = ?, updated_at = ? WHERE seq = ?",
            (now, now, seq),
        )
        self._move(state, J.CANCELLED, queue)

    def delete(self, seq: int, state: str, queue: str = "default") -> set[str]:
        """Remove a job and its attempts; returns the log segments they pointed into."""
        segments = {
            r[0]
            for r in self.db.execute(
                "SELECT DISTINCT segment FROM attempts WHERE job_seq = ? AND segment IS NOT NULL",
                (seq,),
            )
        }
        self.db.execute("DELETE FROM attempts WHERE job_seq = ?", (seq,))
        self.db.execute("DELETE FROM jobs WHERE seq = ?", (seq,))
        self.db.execute("UPDATE jobs SET hook_of = NULL WHERE hook_of = ?", (seq,))  # (its hooks stay)
        self.counts[state] -= 1
        self._queue_counts(queue)[state] -= 1
        return segments
