"""The PostgreSQL schema, its versions, and the migrations that move a database forward.

The same tables and columns as the SQLite schema at its version 10 (store/schema.py),
numbered on their own from 1: the version is the `meta` row `schema_version`. Each
migration runs in a transaction of its own; a database from a newer queuectl is
refused, never touched.

Types: times are unix seconds (`double precision`), integers `bigint` (SQLite's are
64-bit), env, tags, config values and a schedule's job JSON text (read back exactly as
written). Names that are ordered or compared by range (job ids, queue and schedule
names) use the "C" collation: byte order, as SQLite compares, whatever the database's
locale.
"""

from __future__ import annotations

from typing import Any

import psycopg

from queuectl.daemon.store.interface import UnusableDatabase

SCHEMA_VERSION = 7
# A session advisory lock held while the schema is created or migrated.
MIGRATION_LOCK_KEY = int.from_bytes(b"qctl-mig", "big")

MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE jobs (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- enqueue order; the internal key
            id text COLLATE "C" NOT NULL UNIQUE,
            command text NOT NULL,
            state text NOT NULL,
            priority bigint NOT NULL DEFAULT 0,
            attempts bigint NOT NULL DEFAULT 0,
            charged bigint NOT NULL DEFAULT 0,
            max_retries bigint NOT NULL,
            timeout double precision,
            run_at double precision,
            run_at_relative bigint NOT NULL DEFAULT 0,
            cwd text,
            env text,
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL,
            started_at double precision,
            finished_at double precision,
            exit_code bigint,
            last_error text,
            queue text COLLATE "C" NOT NULL DEFAULT 'default',
            slots bigint NOT NULL DEFAULT 1,
            tags text,
            after_condition text,
            waiting_on bigint NOT NULL DEFAULT 0,
            cancelled_by bigint,
            unique_key text,
            unique_while text,
            unique_hold text,
            on_success text,
            on_failure text,
            on_finish text,
            hook text,
            hook_of bigint,
            stdin bytea,
            max_output bigint
        )""",
        # The same partial indexes as SQLite's (store/schema.py says what each serves).
        "CREATE INDEX jobs_runnable ON jobs(queue, priority DESC, seq) WHERE state = 'pending'",
        "CREATE INDEX jobs_queue_pending ON jobs(queue, seq) WHERE state = 'pending'",
        # (NULLS FIRST, then seq: the order SQLite's index gives)
        "CREATE INDEX jobs_timed ON jobs(run_at NULLS FIRST, seq) WHERE state IN ('scheduled', 'failed')",
        "CREATE INDEX jobs_state ON jobs(state, seq)",
        "CREATE UNIQUE INDEX jobs_unique_hold ON jobs(unique_hold) WHERE unique_hold IS NOT NULL",
        "CREATE INDEX jobs_hook_of ON jobs(hook_of) WHERE hook_of IS NOT NULL",
        "CREATE INDEX jobs_finished ON jobs(state, finished_at, seq) "
        "WHERE state IN ('completed', 'dead', 'cancelled') AND unique_hold IS NULL",
        """CREATE TABLE attempts (
            job_seq bigint NOT NULL,
            n bigint NOT NULL,
            child bigint,
            pid bigint,
            assigned_at double precision NOT NULL,
            started_at double precision,
            finished_at double precision,
            exit_code bigint,
            signal bigint,
            timed_out bigint NOT NULL DEFAULT 0,
            charged bigint NOT NULL DEFAULT 1,
            error text,
            segment text,
            out_off bigint, out_len bigint,
            err_off bigint, err_len bigint,
            queue text,
            slots bigint,
            slot text,
            dropped bigint NOT NULL DEFAULT 0,
            max_output bigint,
            daemon text,                 -- the name of the daemon that ran it (queuectl/identity.py)
            PRIMARY KEY (job_seq, n)
        )""",
        "CREATE INDEX attempts_segment ON attempts(segment)",
        # A queue's rows are updated a few times each and deleted by retention: vacuum after
        # 2% of them changed, not PostgreSQL's default 20% (200,000 dead rows beside a
        # million kept ones in the indexes dispatch reads); docs/postgres.md.
        "ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02)",
        "ALTER TABLE attempts SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02)",
        "CREATE TABLE config (key text PRIMARY KEY, value text NOT NULL)",
        "CREATE TABLE meta (key text PRIMARY KEY, value bigint NOT NULL)",
        """CREATE TABLE queues (
            name text COLLATE "C" PRIMARY KEY,
            concurrency bigint NOT NULL,
            weight bigint NOT NULL DEFAULT 1,
            paused bigint NOT NULL DEFAULT 0,
            created_at double precision NOT NULL,
            rate_count bigint,
            rate_period double precision
        )""",
        "INSERT INTO queues(name, concurrency, weight, paused, created_at) "
        "VALUES ('default', 10000, 1, 0, extract(epoch FROM clock_timestamp())::double precision)",
        "CREATE TABLE job_deps (parent bigint NOT NULL, child bigint NOT NULL, PRIMARY KEY (parent, child))",
        "CREATE INDEX job_deps_child ON job_deps(child, parent)",
        """CREATE TABLE schedules (
            name text COLLATE "C" PRIMARY KEY,
            cron text,
            every double precision,
            tz text NOT NULL,
            overlap text NOT NULL,
            catch_up text NOT NULL,
            job text NOT NULL,
            paused bigint NOT NULL DEFAULT 0,
            next_at double precision,
            last_job text,
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL
        )""",
    ],
    # Several daemons on one database (docs/postgres.md): each renews its lease row; a
    # daemon whose lease lapsed has its jobs rescued by another, which sets rescued_at.
    # Times are the server's clock (every daemon compares them with the same clock).
    2: [
        """CREATE TABLE daemons (
            name text COLLATE "C" PRIMARY KEY,
            host text NOT NULL,
            pid bigint NOT NULL,
            started_at double precision NOT NULL,
            renewed_at double precision NOT NULL,
            lease_until double precision NOT NULL,
            rescued_at double precision,
            rescued_by text,
            workers bigint NOT NULL DEFAULT 0,
            running bigint NOT NULL DEFAULT 0
        )""",
        # Rescue finds a daemon's held jobs through their current attempt.
        "CREATE INDEX attempts_open ON attempts(daemon) WHERE finished_at IS NULL",
    ],
    # Jobs' output, copied when an attempt ends, readable through any daemon (output.py).
    3: [
        """CREATE TABLE output (
            job_seq bigint NOT NULL REFERENCES jobs(seq) ON DELETE CASCADE,
            n bigint NOT NULL,
            stream text NOT NULL,        -- 'out' or 'err'
            part bigint NOT NULL,        -- chunk number: bytes part * CHUNK onwards
            data bytea NOT NULL,
            PRIMARY KEY (job_seq, n, stream, part)
        )""",
        "ALTER TABLE output SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02)",
    ],
    # Jobs per queue and state, kept by the statements that change them (statement-level
    # triggers with transition tables: one upsert per statement, not per row), so that
    # every daemon reads the whole queue's counts without a count(*) over a million rows.
    # Each session adds into rows of its own (`queuectl.daemon`, set at connect): daemons
    # never wait for each other's counts; the sum over daemons is the count.
    4: [
        """CREATE TABLE job_counts (
            daemon text COLLATE "C" NOT NULL,
            queue text COLLATE "C" NOT NULL,
            state text NOT NULL,
            n bigint NOT NULL,
            PRIMARY KEY (daemon, queue, state)
        )""",
        "INSERT INTO job_counts(daemon, queue, state, n) SELECT '', queue, state, count(*) FROM jobs "
        "GROUP BY queue, state",
        """CREATE FUNCTION queuectl_count_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            who text := coalesce(current_setting('queuectl.daemon', true), '');
        BEGIN
            IF TG_OP = 'INSERT' THEN
                INSERT INTO job_counts(daemon, queue, state, n)
                    SELECT who, queue, state, count(*) FROM new_rows GROUP BY queue, state
                    ON CONFLICT (daemon, queue, state) DO UPDATE SET n = job_counts.n + excluded.n;
            ELSIF TG_OP = 'DELETE' THEN
                INSERT INTO job_counts(daemon, queue, state, n)
                    SELECT who, queue, state, -count(*) FROM old_rows GROUP BY queue, state
                    ON CONFLICT (daemon, queue, state) DO UPDATE SET n = job_counts.n + excluded.n;
            ELSE
                INSERT INTO job_counts(daemon, queue, state, n)
                    SELECT who, queue, state, sum(d) FROM (
                        SELECT queue, state, -1 AS d FROM old_rows
                        UNION ALL SELECT queue, state, 1 FROM new_rows) AS moved
                    GROUP BY queue, state HAVING sum(d) <> 0
                    ON CONFLICT (daemon, queue, state) DO UPDATE SET n = job_counts.n + excluded.n;
            END IF;
            RETURN NULL;
        END $$""",
        "CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION queuectl_count_jobs()",
        "CREATE TRIGGER jobs_count_update AFTER UPDATE ON jobs REFERENCING OLD TABLE AS old_rows "
        "NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION queuectl_count_jobs()",
        "CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs REFERENCING OLD TABLE AS old_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION queuectl_count_jobs()",
    ],
    # Jobs pinned to one daemon (`enqueue --on NAME`; NULL: any daemon runs it). A daemon reads
    # its runnable window from two indexes, merged: the unpinned jobs (jobs_runnable, now
    # without the pinned ones) and those pinned to its name (jobs_pinned; by equality, so in
    # dispatch order too), and so never reads the jobs pinned to the others, however many wait.
    5: [
        'ALTER TABLE jobs ADD COLUMN on_daemon text COLLATE "C"',
        "DROP INDEX jobs_runnable",
        "CREATE INDEX jobs_runnable ON jobs(queue, priority DESC, seq) WHERE state = 'pending' AND on_daemon IS NULL",
        "CREATE INDEX jobs_pinned ON jobs(queue, on_daemon, priority DESC, seq) "
        "WHERE state = 'pending' AND on_daemon IS NOT NULL",
    ],
    # A rate-limited queue's starts in its window, counted over every daemon (writes.py).
    6: ["CREATE INDEX attempts_queue_start ON attempts(queue, (coalesce(started_at, assigned_at)))"],
    # ... and config rate_limit's, every queue's together.
    7: ["CREATE INDEX attempts_start ON attempts((coalesce(started_at, assigned_at)))"],
}


def stored_version(db: psycopg.Connection[Any]) -> int:
    """The schema version of the database; 0 for an empty one (no `meta` table)."""
    (exists,) = db.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone() or (False,)
    if not exists:
        return 0
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(db: psycopg.Connection[Any], where: str) -> None:
    """Create or move the schema forward; refuse a newer one. `db` is in autocommit mode.
    Daemons starting together take turns: the migration lock is held until this returns
    (the version is read again under it)."""
    db.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        _migrate(db, where)
    finally:
        db.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def _migrate(db: psycopg.Connection[Any], where: str) -> None:
    version = stored_version(db)
    if version > SCHEMA_VERSION:
        raise UnusableDatabase(
            f"the database {where} has schema version {version}, newer than this "
            f"queuectl's ({SCHEMA_VERSION}): run the queuectl that wrote it, or restore a "
            "backup made before the upgrade"
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        db.execute("BEGIN")
        try:
            for statement in MIGRATIONS[target]:
                db.execute(statement)
            db.execute("INSERT INTO meta(key, value) VALUES ('schema_version', %s) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (target,))  # fmt: skip
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
