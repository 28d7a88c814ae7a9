"""`queuectl migrate --to postgresql://...`: copy a home's SQLite queue into an empty
PostgreSQL database, and check that every row arrived.

The copy is one PostgreSQL transaction: it lands whole or not at all. No daemon may
run meanwhile: the home's daemon lock is held (a daemon on this home is refused, and
this is refused while one runs), and the PostgreSQL store's own lock keeps a daemon
off the target database. Jobs keep their ids and their numbers (seq), so attempts,
dependencies and unique keys still point at the right jobs. Each attempt's output is
copied into the `output` table, so that `logs` reads it through any daemon sharing the
database; the log segments also stay in the home's logs directory (the run number,
`epoch`, is carried over so new segments never reuse a name).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from queuectl.database import redact
from queuectl.errors import QueuectlError
from queuectl.paths import Paths

# In this order, so that nothing points at a row not copied yet.
TABLES = ("config", "queues", "jobs", "attempts", "job_deps", "schedules")
IDENTITY = {"jobs": "seq"}  # columns PostgreSQL numbers itself: continue after the copied ones


class MigrateError(QueuectlError):
    """The copy cannot be made (nothing was changed): `code` is the CLI's exit code."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


@dataclass
class MigrateReport:
    target: str  # the URL without its password
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows copied
    jobs_by_state: dict[str, int] = field(default_factory=dict)
    output: dict[str, int] = field(default_factory=dict)  # attempts whose output was copied, bytes


def migrate_home(paths: Paths, url: str) -> MigrateReport:
    from queuectl.daemon import startup
    from queuectl.daemon.store import Store, UnusableDatabase, open_store

    if not paths.db.exists():
        raise MigrateError(f"there is no database to copy at {paths.db}", 4)
    try:
        lock_fd = startup.take_lock(paths)
    except startup.AlreadyRunning as exc:
        raise MigrateError(f"{exc}: stop it first (queuectl shutdown)", 7) from None
    try:
        try:
            source = Store(paths.db)
        except UnusableDatabase as exc:
            raise MigrateError(str(exc), 8) from None
        try:
            try:
                target = open_store(url, paths.db)
            except UnusableDatabase as exc:
                raise MigrateError(str(exc), 8) from None
            try:
                return _copy(source.db, target, url, paths)
            finally:
                target.close()
        finally:
            source.close()
    finally:
        os.close(lock_fd)


def _copy(sqlite_db: Any, target: Any, url: str, paths: Paths) -> MigrateReport:
    conn = target.db  # the store's own connection: its lock keeps daemons off meanwhile
    _check_empty(conn)
    report = MigrateReport(redact(url))
    conn.execute("BEGIN")
    try:
        conn.execute("DELETE FROM queues")  # (the store made `default`; the copy brings it)
        for table in TABLES:
            report.rows[table] = _copy_table(sqlite_db, conn, table)
        epoch = sqlite_db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
        if epoch is not None:
            conn.execute("DELETE FROM meta WHERE key = 'epoch'")
            conn.execute("INSERT INTO meta (key, value) VALUES ('epoch', %s)", (epoch[0],))
        for table, column in IDENTITY.items():
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                         f"coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)")  # fmt: skip
        report.jobs_by_state = _verify(sqlite_db, conn, report.rows)
        report.output = _copy_output(sqlite_db, target, paths)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return report


def _copy_output(sqlite_db: Any, target: Any, paths: Paths) -> dict[str, int]:
    """Each ended attempt's output, from the home's log segments into the database's
    `output` table (at most what the attempt kept), so that `logs` reads it through any
    daemon sharing the database, on any host. A segment pruned or lost is skipped, as
    `logs` would find nothing there either."""
    target.logs_dir = paths.logs_dir
    for row in sqlite_db.execute("SELECT job_seq, n, segment, out_off, out_len, err_off, err_len FROM attempts "
                                 "WHERE segment IS NOT NULL AND (out_len > 0 OR err_len > 0)"):  # fmt: skip
        seq, attempt, segment, out_off, out_len, err_off, err_len = row
        target.copy_output(seq, attempt, (segment, out_off, err_off), out_len, err_len)
    found = target.db.execute("SELECT count(DISTINCT (job_seq, n)), coalesce(sum(length(data)), 0) "
                              "FROM output").fetchone()  # fmt: skip
    return {"attempts": int(found[0]), "bytes": int(found[1])}


def _check_empty(conn: Any) -> None:
    held = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("jobs", "attempts", "job_deps", "schedules", "config")}  # fmt: skip
    queues = [r[0] for r in conn.execute("SELECT name FROM queues")]
    busy = {t: n for t, n in held.items() if n}
    if busy or set(queues) - {"default"}:
        what = ", ".join(f"{n} rows in {t}" for t, n in busy.items()) or f"queues {', '.join(sorted(queues))}"
        raise MigrateError(f"the target database is not empty ({what}): migrate copies into an empty one only", 6)


def _columns(sqlite_db: Any, conn: Any, table: str) -> list[str]:
    ours = [r[1] for r in sqlite_db.execute(f"PRAGMA table_info({table})")]
    theirs = {r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = %s", (table,))}  # fmt: skip
    missing = [c for c in ours if c not in theirs]
    if missing:
        raise MigrateError(f"the PostgreSQL table {table} lacks the columns {', '.join(missing)}: "
                           "is it from another queuectl version?")  # fmt: skip
    return ours


def _copy_table(sqlite_db: Any, conn: Any, table: str) -> int:
    columns = _columns(sqlite_db, conn, table)
    names = ", ".join(columns)
    n = 0
    with conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in sqlite_db.execute(f"SELECT {names} FROM {table}"):
            copy.write_row(row)
            n += 1
    return n


def _verify(sqlite_db: Any, conn: Any, copied: dict[str, int]) -> dict[str, int]:
    """Every table holds what the SQLite one holds, and the jobs are in the same states."""
    for table, n in copied.items():
        here = sqlite_db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        there = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if not here == n == there:
            raise MigrateError(f"{table}: {here} rows in SQLite, {there} in PostgreSQL after the copy")
    states = dict(sqlite_db.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
    copied_states = dict(conn.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
    if states != copied_states:
        raise MigrateError(f"jobs per state differ after the copy: {states} vs {copied_states}")
    return dict(sorted(states.items()))
