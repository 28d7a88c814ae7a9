"""The SQLite schema, its versions, and the migrations that move a database forward.

`PRAGMA user_version` numbers the schema. Each migration runs in a transaction of
its own; a database from a newer queuectl is refused, never touched.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from queuectl.daemon.store.interface import UnusableDatabase

SCHEMA_VERSION = 10

MIGRATIONS: dict[int, str] = {
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
    3: """
    -- Named queues (docs/lifecycle.md, "Queues"); `default` always exists.
    CREATE TABLE queues (
        name TEXT PRIMARY KEY,
        concurrency INTEGER NOT NULL,     -- slots its running jobs may hold at once
        weight INTEGER NOT NULL DEFAULT 1, -- its share of the pool against other queues
        paused INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO queues(name, concurrency, weight, paused, created_at)
        VALUES ('default', 10000, 1, 0, (julianday('now') - 2440587.5) * 86400.0);
    ALTER TABLE jobs ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
    ALTER TABLE jobs ADD COLUMN slots INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE jobs ADD COLUMN tags TEXT;  -- JSON object or NULL
    ALTER TABLE attempts ADD COLUMN queue TEXT;
    ALTER TABLE attempts ADD COLUMN slots INTEGER;
    ALTER TABLE attempts ADD COLUMN slot TEXT;  -- the slot indices it held: "0" or "2,3"
    -- Dispatch reads each queue's runnable jobs in its own order; the oldest pending job
    -- of a queue (status) is the first of the second index.
    DROP INDEX jobs_runnable;
    CREATE INDEX jobs_runnable ON jobs(queue, priority DESC, seq) WHERE state = 'pending';
    CREATE INDEX jobs_queue_pending ON jobs(queue, seq) WHERE state = 'pending';
    """,
    4: """
    -- Dependencies: a job with unfinished parents is `blocked` (docs/lifecycle.md).
    CREATE TABLE job_deps (
        parent INTEGER NOT NULL,          -- jobs.seq
        child INTEGER NOT NULL,           -- jobs.seq
        PRIMARY KEY (parent, child)
    ) WITHOUT ROWID;
    CREATE INDEX job_deps_child ON job_deps(child, parent);
    ALTER TABLE jobs ADD COLUMN after_condition TEXT;         -- success, failure, always; NULL: no parents
    ALTER TABLE jobs ADD COLUMN waiting_on INTEGER NOT NULL DEFAULT 0;  -- parents not final yet
    ALTER TABLE jobs ADD COLUMN cancelled_by INTEGER;         -- seq of the parent whose end cancelled it
    -- Recurring schedules: each run is an ordinary job, id NAME@<slot>.
    CREATE TABLE schedules (
        name TEXT PRIMARY KEY,
        cron TEXT,                        -- a cron expression, or NULL
        every REAL,                       -- or seconds between runs
        tz TEXT NOT NULL,                 -- IANA zone
        overlap TEXT NOT NULL,            -- skip, queue, allow
        catch_up TEXT NOT NULL,           -- none, latest, all
        job TEXT NOT NULL,                -- JSON job spec of each run (command, priority, ...)
        paused INTEGER NOT NULL DEFAULT 0,
        next_at REAL,                     -- unix seconds of the next slot not yet handled
        last_job TEXT,                    -- id of the last run's job
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    5: """
    -- Idempotent enqueue (queuectl/uniquekeys.py): the key as given and how long it is held,
    -- and unique_hold, the key while the job holds it (NULL once the hold ends): at most
    -- one job holds a key.
    ALTER TABLE jobs ADD COLUMN unique_key TEXT;
    ALTER TABLE jobs ADD COLUMN unique_while TEXT;
    ALTER TABLE jobs ADD COLUMN unique_hold TEXT;
    CREATE UNIQUE INDEX jobs_unique_hold ON jobs(unique_hold) WHERE unique_hold IS NOT NULL;
    """,
    6: """
    -- Completion hooks (queuectl/hooks.py): a job's hook commands, and for a hook job its
    -- kind, the job it reports on, and what its command reads on stdin (that job's JSON).
    ALTER TABLE jobs ADD COLUMN on_success TEXT;
    ALTER TABLE jobs ADD COLUMN on_failure TEXT;
    ALTER TABLE jobs ADD COLUMN on_finish TEXT;
    ALTER TABLE jobs ADD COLUMN hook TEXT;            -- success, failure, finish; NULL: not a hook
    ALTER TABLE jobs ADD COLUMN hook_of INTEGER;      -- jobs.seq of that job (NULL once it is deleted)
    ALTER TABLE jobs ADD COLUMN stdin BLOB;
    CREATE INDEX jobs_hook_of ON jobs(hook_of) WHERE hook_of IS NOT NULL;
    -- Rate limits (queuectl/ratelimit.py): at most rate_count starts in any rate_period seconds.
    ALTER TABLE queues ADD COLUMN rate_count INTEGER;
    ALTER TABLE queues ADD COLUMN rate_period REAL;
    """,
    7: """
    -- Retention (queuectl/retention.py): each final state's finished jobs, oldest finished
    -- first, that hold no unique key (those are kept until deleted).
    CREATE INDEX jobs_finished ON jobs(state, finished_at, seq)
        WHERE state IN ('completed', 'dead', 'cancelled') AND unique_hold IS NULL;
    """,
    8: """
    -- Output caps: a job's own limit on the output an attempt keeps (NULL: config
    -- max_output_bytes at its start), and the bytes each attempt dropped past its limit.
    ALTER TABLE jobs ADD COLUMN max_output INTEGER;
    ALTER TABLE attempts ADD COLUMN dropped INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE attempts ADD COLUMN max_output INTEGER;
    """,
    9: """
    -- The name of the daemon that ran each attempt (queuectl/identity.py).
    ALTER TABLE attempts ADD COLUMN daemon TEXT;
    """,
    10: """
    -- The name of the only daemon that may run the job (`enqueue --on`; NULL: any). The
    -- one daemon of a SQLite file runs only jobs pinned to its own name or to none; its
    -- runnable window filters the rows it reads from jobs_runnable (docs/postgres.md).
    ALTER TABLE jobs ADD COLUMN on_daemon TEXT;
    """,
}

# SQLite's primary result codes for a file that is not (or no longer) a sound database.
DAMAGE_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def damaged_message(path: Path, detail: str) -> str:
    return (
        f"the database {path} is damaged ({_one_line(detail)}); the daemon will not use it. "
        "Stop here: keep the file, then restore a backup or recover what is readable with "
        "`sqlite3 queue.db .recover` (see 'A damaged database' in docs/operations.md)"
    )



def migrate(db: sqlite3.Connection, path: Path) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise UnusableDatabase(
            f"the database {path} has schema version {version}, newer than this "
            f"queuectl's ({SCHEMA_VERSION}): run the queuectl that wrote it, or restore a "
            "backup made before the upgrade"
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            script = "\n".join(line.split("--")[0] for line in MIGRATIONS[target].splitlines())
            for statement in script.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={target}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
