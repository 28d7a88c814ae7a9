"""The SQLite store: one class, one connection, owned by the daemon. All SQL lives here.

Writes happen inside `transaction()`; the supervisor opens one per event-loop
turn, so everything that arrived together is committed together (group commit).
Counts per state are kept in memory (the daemon is the only writer), so
`status` never scans the table.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from queuectl import jobs as J
from queuectl.jobs import JobSpec

SCHEMA_VERSION = 2

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE jobs (
        seq INTEGER PRIMARY KEY,          -- enqueue order; the internal key
        id TEXT NOT NULL UNIQUE,          -- the user's id
        command TEXT NOT NULL,
        state TEXT NOT NULL,
        priority INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,   -- attempts recorded (numbers 1..attempts)
        charged INTEGER NOT NULL DEFAULT 0,    -- attempts counted against max_retries
        max_retries INTEGER NOT NULL,
        timeout REAL,                     -- seconds; NULL: none
        run_at REAL,                      -- unix seconds (scheduled, or end of backoff)
        cwd TEXT,
        env TEXT,                         -- JSON object or NULL
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        exit_code INTEGER,
        last_error TEXT
    );
    -- The dispatch query: runnable jobs, priority DESC then enqueue order.
    CREATE INDEX jobs_runnable ON jobs(priority DESC, seq) WHERE state = 'pending';
    -- Jobs waiting for a time (scheduled, or failed and backing off).
    CREATE INDEX jobs_timed ON jobs(run_at) WHERE state IN ('scheduled', 'failed');
    -- Per-state listings, newest or oldest first.
    CREATE INDEX jobs_state ON jobs(state, seq);
    CREATE TABLE attempts (
        job_seq INTEGER NOT NULL,
        n INTEGER NOT NULL,               -- 1-based attempt number
        child INTEGER,
        pid INTEGER,
        assigned_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        exit_code INTEGER,
        signal INTEGER,
        timed_out INTEGER NOT NULL DEFAULT 0,
        charged INTEGER NOT NULL DEFAULT 1,    -- 0: interrupted by a shutdown or crash
        error TEXT,
        segment TEXT,                     -- log segment name (digits and dashes only)
        out_off INTEGER, out_len INTEGER,
        err_off INTEGER, err_len INTEGER,
        PRIMARY KEY (job_seq, n)
    ) WITHOUT ROWID;
    CREATE INDEX attempts_segment ON attempts(segment);
    CREATE TABLE config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    """,
    2: """
    -- 1: run_at is "now + a wait" (a delay, a backoff), which a step of the wall clock
    -- must not lengthen or shorten; 0: a time of day the user gave.
    ALTER TABLE jobs ADD COLUMN run_at_relative INTEGER NOT NULL DEFAULT 0;
    UPDATE jobs SET run_at_relative = 1 WHERE state = 'failed';
    """,
}

JOB_COLUMNS = (
    "seq, id, command, state, priority, attempts, charged, max_retries, timeout, run_at, cwd, "
    "env, created_at, updated_at, started_at, finished_at, exit_code, last_error"
)
ATTEMPT_COLUMNS = (
    "n, child, pid, assigned_at, started_at, finished_at, exit_code, signal, timed_out, "
    "charged, error, segment, out_off, out_len, err_off, err_len"
)


class UnusableDatabase(Exception):
    """The database file cannot be used: damaged, not a database, from a newer queuectl,
    or not openable. The message is one line for the operator, naming the file."""

    def __init__(self, message: str, damaged: bool = False):
        super().__init__(message)
        self.damaged = damaged


# SQLite's primary result codes for a file that is not (or no longer) a sound database.
_DAMAGE_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def damaged_message(path: Path, detail: str) -> str:
    return (
        f"the database {path} is damaged ({_one_line(detail)}); the daemon will not use it. "
        "Stop here: keep the file, then restore a backup or recover what is readable with "
        "`sqlite3 queue.db .recover` (see 'A damaged database' in docs/operations.md)"
    )


class DuplicateIdError(Exception):
    def __init__(self, job_id: str, index: int):
        super().__init__(job_id)
        self.job_id = job_id
        self.index = index


@dataclass(slots=True)
class Runnable:
    """What dispatch needs of a pending job, kept in the in-memory window."""

    seq: int
    id: str
    command: str
    priority: int
    timeout: float | None
    cwd: str | None
    env: dict[str, str] | None
    max_retries: int
    attempts: int
    charged: int
    state: str = J.PENDING  # as inserted (scheduled or pending)

    @property
    def key(self) -> tuple[int, int]:
        return (-self.priority, self.seq)


def _runnable(row: tuple) -> Runnable:
    seq, id_, command, priority, timeout, cwd, env, max_retries, attempts, charged = row
    return Runnable(
        seq, id_, command, priority, timeout, cwd, json.loads(env) if env else None,
        max_retries, attempts, charged,
    )  # fmt: skip


_RUNNABLE_COLUMNS = "seq, id, command, priority, timeout, cwd, env, max_retries, attempts, charged"


class Store:
    def __init__(self, path: Path, synchronous: str = "NORMAL"):
        """Open (or create) the database, check it, migrate it forward.

        Raises UnusableDatabase, with one line naming the file, when it is damaged
        (`PRAGMA quick_check` finds a fault, or SQLite says it is corrupt or not a
        database), has a newer schema, or cannot be opened.
        """
        self.path = path
        self._in_tx = False
        self.checkpointer: Checkpointer | None = None
        self.counts: dict[str, int] = {}
        try:
            self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise UnusableDatabase(f"cannot open the database {path}: {exc}") from None
        try:
            self._open(synchronous)
        except sqlite3.Error as exc:
            self.db.close()
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _DAMAGE_CODES:
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
        self.migrate()
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

    def migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise UnusableDatabase(
                f"the database {self.path} has schema version {version}, newer than this "
                f"queuectl's ({SCHEMA_VERSION}): run the queuectl that wrote it, or restore a "
                "backup made before the upgrade"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                script = "\n".join(line.split("--")[0] for line in _MIGRATIONS[target].splitlines())
                for statement in script.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={target}")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

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
            self.db.execute("ROLLBACK")
            self.reload_counts()  # the in-memory counts followed the rolled-back writes
            raise
        self._in_tx = False
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            self.reload_counts()
            raise

    def reload_counts(self) -> None:
        counts = dict.fromkeys(J.STATES, 0)
        for state, n in self.db.execute("SELECT state, count(*) FROM jobs GROUP BY state"):
            counts[state] = n
        self.counts = counts

    def _move(self, old: str, new: str, n: int = 1) -> None:
        self.counts[old] -= n
        self.counts[new] += n

    def next_epoch(self) -> int:
        """A number that is new at every daemon start (names this run's log segments)."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO meta(key, value) VALUES('epoch', 1) "
                "ON CONFLICT(key) DO UPDATE SET value = value + 1"
            )
            return self.db.execute("SELECT value FROM meta WHERE key='epoch'").fetchone()[0]

    def integrity_check(self) -> str:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]

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
        seen: dict[str, int] = {}
        for index, spec in enumerate(specs):
            if spec.id is None:
                spec.id = J.new_job_id()
            if spec.id in seen:
                raise DuplicateIdError(spec.id, index)
            seen[spec.id] = index
        taken = self.ids_taken(list(seen))
        if taken:
            first = min(taken, key=seen.__getitem__)
            raise DuplicateIdError(first, seen[first])
        rows = []
        out = []
        for spec in specs:
            state = J.initial_state(spec.run_at, now)
            timeout = (spec.timeout if spec.timeout is not None else default_timeout) or None
            retries = spec.max_retries if spec.max_retries is not None else max_retries
            rows.append((
                spec.id, spec.command, state, spec.priority, retries, timeout,
                spec.run_at if state == J.SCHEDULED else None, int(spec.relative),
                spec.cwd, json.dumps(spec.env) if spec.env else None, now, now,
            ))  # fmt: skip
            out.append(Runnable(0, spec.id, spec.command, spec.priority, timeout, spec.cwd,
                                spec.env or None, retries, 0, 0, state))  # fmt: skip
        with self.transaction():
            cur = self.db.executemany(
                "INSERT INTO jobs(id, command, state, priority, max_retries, timeout, run_at, "
                "run_at_relative, cwd, env, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            # One writer, rowid = max + 1: the rows got consecutive seqs, in order.
            last = self.db.execute("SELECT last_insert_rowid()").fetchone()[0]
            first = last - len(rows) + 1
            for i, job in enumerate(out):
                job.seq = first + i
                self.counts[job.state] += 1
            assert cur.rowcount == len(rows)
        return out

    # --- reads ------------------------------------------------------------------------------

    def get(self, job_id: str) -> dict[str, Any] | None:
        row = self.db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job_dict(row) if row else None

    def get_by_seq(self, seq: int) -> dict[str, Any] | None:
        row = self.db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE seq = ?", (seq,)).fetchone()
        return _job_dict(row) if row else None

    def list_jobs(
        self,
        state: str | None = None,
        limit: int = 100,
        offset: int = 0,
        newest_first: bool = False,
        search: str | None = None,
        order: str = "created",
        ids: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        where: list[str] = []
        args: list[Any] = []
        if ids is not None:  # at most MAX_LIST_IDS (the method checks): within SQLite's variable limit
            where.append(f"id IN ({','.join('?' * len(ids))})" if ids else "0")
            args += ids
        if state:
            where.append("state = ?")
            args.append(state)
        if search:
            where.append("(instr(id, ?) > 0 OR instr(command, ?) > 0)")
            args += [search, search]
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        direction = "DESC" if newest_first else "ASC"
        if order == "priority":
            order_by = f"priority {'ASC' if newest_first else 'DESC'}, seq ASC"
        elif order == "run_at":
            order_by = f"run_at {direction}, seq ASC"
        else:
            order_by = f"seq {direction}"
        sql = f"SELECT {JOB_COLUMNS} FROM jobs {clause} ORDER BY {order_by} LIMIT ? OFFSET ?"
        return [_job_dict(r) for r in self.db.execute(sql, (*args, limit, offset))]

    def attempts_of(self, seq: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE job_seq = ? ORDER BY n", (seq,)
        )
        return [dict(zip(_ATTEMPT_KEYS, r, strict=True)) for r in rows]

    def attempt(self, seq: int, n: int) -> dict[str, Any] | None:
        row = self.db.execute(
            f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE job_seq = ? AND n = ?", (seq, n)
        ).fetchone()
        return dict(zip(_ATTEMPT_KEYS, row, strict=True)) if row else None

    def runnable_window(self, limit: int) -> list[Runnable]:
        rows = self.db.execute(
            f"SELECT {_RUNNABLE_COLUMNS} FROM jobs WHERE state = 'pending' "
            "ORDER BY priority DESC, seq LIMIT ?",
            (limit,),
        )
        return [_runnable(r) for r in rows]

    def runnable(self, seq: int) -> Runnable | None:
        row = self.db.execute(
            f"SELECT {_RUNNABLE_COLUMNS} FROM jobs WHERE seq = ? AND state = 'pending'", (seq,)
        ).fetchone()
        return _runnable(row) if row else None

    def timed_window(self, limit: int) -> list[tuple[float, int]]:
        """(run_at, seq) of the jobs waiting for a time, soonest first."""
        return self.db.execute(
            "SELECT run_at, seq FROM jobs WHERE state IN ('scheduled', 'failed') "
            "ORDER BY run_at LIMIT ?",
            (limit,),
        ).fetchall()

    def in_flight(self) -> list[tuple[Runnable, int, int | None, float | None, int | None]]:
        """Every processing job with its current attempt: (job, n, child, started_at, pid),
        in assignment order (to rebuild the daemon's view after a failed commit)."""
        cols = ", ".join("j." + c.strip() for c in _RUNNABLE_COLUMNS.split(","))
        rows = self.db.execute(
            f"SELECT {cols}, a.n, a.child, a.started_at, a.pid FROM jobs j "
            "JOIN attempts a ON a.job_seq = j.seq AND a.n = j.attempts "
            "WHERE j.state = 'processing' ORDER BY a.assigned_at"
        )
        return [(_runnable(r[:10]), r[10], r[11], r[12], r[13]) for r in rows]

    def segments_in_use(self, segments: set[str]) -> set[str]:
        used = set()
        for seg in segments:
            if self.db.execute("SELECT 1 FROM attempts WHERE segment = ? LIMIT 1", (seg,)).fetchone():
                used.add(seg)
        return used

    # --- state changes (each knows the state it leaves, for the counts) ------------------

    def make_runnable(self, seq: int, now: float) -> bool:
        """A scheduled or backing-off job whose time has come -> pending."""
        row = self.db.execute("SELECT state FROM jobs WHERE seq = ?", (seq,)).fetchone()
        if not row or row[0] not in J.TIMED_STATES:
            return False
        self.db.execute(
            "UPDATE jobs SET state = 'pending', run_at = NULL, updated_at = ? WHERE seq = ?",
            (now, seq),
        )
        self._move(row[0], J.PENDING)
        return True

    def claim(self, job: Runnable, child: int, now: float) -> int:
        """pending -> processing for `child`; records a new attempt row and returns its number."""
        attempt = job.attempts + 1
        self.db.execute(
            "UPDATE jobs SET state = 'processing', attempts = ?, updated_at = ? WHERE seq = ?",
            (attempt, now, job.seq),
        )
        self.db.execute(
            "INSERT INTO attempts(job_seq, n, child, assigned_at) VALUES (?, ?, ?, ?)",
            (job.seq, attempt, child, now),
        )
        self._move(J.PENDING, J.PROCESSING)
        job.attempts = attempt
        return attempt

    def mark_started(
        self, seq: int, attempt: int, t: float, pid: int, segment: str, out_off: int, err_off: int
    ) -> None:
        self.db.execute(
            "UPDATE attempts SET started_at = ?, pid = ?, segment = ?, out_off = ?, err_off = ? "
            "WHERE job_seq = ? AND n = ?",
            (t, pid, segment, out_off, err_off, seq, attempt),
        )
        self.db.execute(
            "UPDATE jobs SET started_at = ?, finished_at = NULL, updated_at = ? WHERE seq = ?",
            (t, t, seq),
        )

    def return_unstarted(self, seq: int, attempt: int, now: float) -> None:
        """An assigned job that never started (its child stopped): back to pending, no trace."""
        self.db.execute("DELETE FROM attempts WHERE job_seq = ? AND n = ?", (seq, attempt))
        self.db.execute(
            "UPDATE jobs SET state = 'pending', attempts = attempts - 1, updated_at = ? "
            "WHERE seq = ? AND state = 'processing'",
            (now, seq),
        )
        self._move(J.PROCESSING, J.PENDING)

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
        reset_charged: bool = False,
    ) -> None:
        """Close an attempt and move its job to `new_state` (decided by the caller's policy)."""
        # An attempt that wrote nothing points into no segment: it must not keep one alive.
        self.db.execute(
            "UPDATE attempts SET finished_at = ?, exit_code = ?, signal = ?, timed_out = ?, "
            "charged = ?, error = ?, out_len = ?, err_len = ?, "
            "segment = CASE WHEN ? = 0 AND ? = 0 THEN NULL ELSE segment END "
            "WHERE job_seq = ? AND n = ?",
            (now, exit_code, signal, int(timed_out), int(charged), error, out_len, err_len,
             out_len, err_len, seq, attempt),
        )  # fmt: skip
        final = new_state in J.FINAL_STATES or new_state == J.FAILED
        self.db.execute(
            "UPDATE jobs SET state = ?, run_at = ?, run_at_relative = 1, exit_code = ?, last_error = ?, "
            "charged = CASE WHEN ? THEN 0 ELSE charged + ? END, "
            "finished_at = CASE WHEN ? THEN ? ELSE finished_at END, updated_at = ? WHERE seq = ?",
            (new_state, run_at, exit_code, last_error, int(reset_charged), int(charged),
             int(final), now, now, seq),
        )  # fmt: skip
        self._move(J.PROCESSING, new_state)

    def requeue_interrupted(self, now: float) -> list[tuple[int, str, int]]:
        """After a crash: every `processing` job back to pending, its attempt recorded as
        interrupted and not charged. Returns (seq, id, attempt) of each.

        An attempt whose start was never confirmed may still have run (its worker had
        spawned it, then died with the daemon before reporting): it is kept too, saying so."""
        rows = self.db.execute(
            "SELECT seq, id, attempts FROM jobs WHERE state = 'processing'"
        ).fetchall()
        with self.transaction():
            for seq, _id, attempt in rows:
                self.db.execute(
                    "UPDATE attempts SET finished_at = ?, charged = 0, "
                    "error = CASE WHEN started_at IS NULL THEN ? ELSE ? END "
                    "WHERE job_seq = ? AND n = ? AND finished_at IS NULL",
                    (now, J.INTERRUPTED_UNCONFIRMED, J.INTERRUPTED, seq, attempt),
                )
                self.db.execute(
                    "UPDATE jobs SET state = 'pending', updated_at = ? WHERE seq = ?", (now, seq)
                )
                self._move(J.PROCESSING, J.PENDING)
        return rows

    def shift_relative_waits(self, step: float) -> int:
        """The wall clock stepped by `step` seconds: move every wait that was given as a
        duration along with it (absolute times of day stay). Returns how many moved."""
        cur = self.db.execute(
            "UPDATE jobs SET run_at = run_at + ? "
            "WHERE state IN ('scheduled', 'failed') AND run_at_relative = 1",
            (step,),
        )
        return cur.rowcount

    def retry(self, seq: int, state: str, now: float) -> None:
        """failed/dead -> pending now, with a fresh set of retries."""
        self.db.execute(
            "UPDATE jobs SET state = 'pending', run_at = NULL, charged = 0, updated_at = ? "
            "WHERE seq = ?",
            (now, seq),
        )
        self._move(state, J.PENDING)

    def cancel(self, seq: int, state: str, now: float) -> None:
        self.db.execute(
            "UPDATE jobs SET state = 'cancelled', run_at = NULL, last_error = 'cancelled', "
            "finished_at = ?, updated_at = ? WHERE seq = ?",
            (now, now, seq),
        )
        self._move(state, J.CANCELLED)

    def delete(self, seq: int, state: str) -> set[str]:
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
        self.counts[state] -= 1
        return segments


class Checkpointer(threading.Thread):
    """Copies the WAL back into the database file from a second connection, so that
    work (megabytes at a time) never stalls the event loop, which only appends to
    the WAL. SQLite lets a checkpoint run beside a writer; this thread shares no
    state with the loop."""

    INTERVAL = 1.0
    MIN_WAL_BYTES = 1024 * 1024

    def __init__(self, path: Path):
        super().__init__(name="queuectl-checkpoint", daemon=True)
        self.path = path
        self.wal = Path(str(path) + "-wal")
        self.stopping = threading.Event()
        self.errors = 0

    def run(self) -> None:
        db = sqlite3.connect(str(self.path), isolation_level=None)
        db.execute("PRAGMA busy_timeout=1000")
        try:
            while not self.stopping.wait(self.INTERVAL):
                try:
                    if self.wal.exists() and self.wal.stat().st_size >= self.MIN_WAL_BYTES:
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except (sqlite3.Error, OSError):
                    self.errors += 1  # disk full or busy: the next round tries again
        finally:
            db.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)


_ATTEMPT_KEYS = tuple(c.strip() for c in ATTEMPT_COLUMNS.split(","))
_JOB_KEYS = tuple(c.strip() for c in JOB_COLUMNS.split(","))


def _job_dict(row: tuple) -> dict[str, Any]:
    job = dict(zip(_JOB_KEYS, row, strict=True))
    job["env"] = json.loads(job["env"]) if job["env"] else {}
    return job
