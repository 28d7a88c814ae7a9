"""The SQLite store's reads: jobs and attempts for the RPC methods, and the windows of
runnable and timed jobs for dispatch. No writes here."""

from __future__ import annotations

import sqlite3
from typing import Any

from queuectl.daemon.store.interface import Runnable
from queuectl.daemon.store.rows import (
    ATTEMPT_COLUMNS,
    ATTEMPT_KEYS,
    JOB_COLUMNS,
    RUNNABLE_COLUMNS,
    job_dict,
)
from queuectl.daemon.store.rows import runnable as as_runnable


class StoreReads:
    db: sqlite3.Connection
    daemon_name: str

    def get(self, job_id: str) -> dict[str, Any] | None:
        row = self.db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return job_dict(row) if row else None

    def get_by_seq(self, seq: int) -> dict[str, Any] | None:
        row = self.db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE seq = ?", (seq,)).fetchone()
        return job_dict(row) if row else None

    def list_jobs(
        self,
        state: str | None = None,
        limit: int = 100,
        offset: int = 0,
        newest_first: bool = False,
        search: str | None = None,
        order: str = "created",
        ids: list[str] | None = None,
        queue: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        clause, args = _where(state, search, ids, queue, tags or {})
        direction = "DESC" if newest_first else "ASC"
        if order == "priority":
            order_by = f"priority {'ASC' if newest_first else 'DESC'}, seq ASC"
        elif order == "run_at":
            order_by = f"run_at {direction}, seq ASC"
        else:
            order_by = f"seq {direction}"
        sql = f"SELECT {JOB_COLUMNS} FROM jobs {clause} ORDER BY {order_by} LIMIT ? OFFSET ?"
        return [job_dict(r) for r in self.db.execute(sql, (*args, limit, offset))]

    def count_jobs(self, state: str | None = None, search: str | None = None,
                   ids: list[str] | None = None, queue: str | None = None,
                   tags: dict[str, str] | None = None) -> int:  # fmt: skip
        """How many jobs list_jobs would give without a limit (a scan when filtered by
        search, ids or tags: the method asks only then)."""
        clause, args = _where(state, search, ids, queue, tags or {})
        row = self.db.execute(f"SELECT count(*) FROM jobs {clause}", args).fetchone()
        return int(row[0])

    def attempts_of(self, seq: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE job_seq = ? ORDER BY n", (seq,)
        )
        return [dict(zip(ATTEMPT_KEYS, r, strict=True)) for r in rows]

    def attempt(self, seq: int, n: int) -> dict[str, Any] | None:
        row = self.db.execute(
            f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE job_seq = ? AND n = ?", (seq, n)
        ).fetchone()
        return dict(zip(ATTEMPT_KEYS, row, strict=True)) if row else None

    def runnable_window(self, limit: int, queue: str = "default") -> list[Runnable]:
        """The queue's first `limit` pending jobs this daemon may run (not pinned to another
        name: `enqueue --on`; one only a renamed daemon's SQLite file can hold)."""
        rows = self.db.execute(
            f"SELECT {RUNNABLE_COLUMNS} FROM jobs WHERE state = 'pending' AND queue = ? "
            "AND (on_daemon IS NULL OR on_daemon = ?) ORDER BY priority DESC, seq LIMIT ?",
            (queue, self.daemon_name, limit),
        )
        return [as_runnable(r) for r in rows]

    def runnable(self, seq: int) -> Runnable | None:
        """The job if it is pending and this daemon may run it."""
        row = self.db.execute(
            f"SELECT {RUNNABLE_COLUMNS} FROM jobs WHERE seq = ? AND state = 'pending' "
            "AND (on_daemon IS NULL OR on_daemon = ?)", (seq, self.daemon_name)
        ).fetchone()
        return as_runnable(row) if row else None

    def timed_window(self, limit: int) -> list[tuple[float, int]]:
        """(run_at, seq) of the jobs waiting for a time, soonest first."""
        return self.db.execute(
            "SELECT run_at, seq FROM jobs WHERE state IN ('scheduled', 'failed') "
            "ORDER BY run_at LIMIT ?",
            (limit,),
        ).fetchall()

    def stdin_of(self, seq: int) -> bytes | None:
        row = self.db.execute("SELECT stdin FROM jobs WHERE seq = ?", (seq,)).fetchone()
        if not row or row[0] is None:
            return None
        data = row[0]
        return data.encode() if isinstance(data, str) else bytes(data)

    def hooks_of(self, seq: int) -> list[dict[str, Any]]:
        """The hook jobs a job has fired, oldest first (index jobs_hook_of)."""
        rows = self.db.execute(
            "SELECT id, hook, state, exit_code, last_error FROM jobs WHERE hook_of = ? ORDER BY seq", (seq,)
        )
        return [{"id": i, "hook": h, "state": s, "exit_code": x, "last_error": e} for i, h, s, x, e in rows]

    def starts_since(self, since: float) -> list[tuple[str, float]]:
        """(queue, started_at) of attempts started after `since`, hook jobs left out, oldest
        first. A scan of the attempts (at start-up, or when a limit is set)."""
        return self.db.execute(
            "SELECT a.queue, a.started_at FROM attempts a JOIN jobs j ON j.seq = a.job_seq "
            "WHERE a.started_at > ? AND j.hook IS NULL ORDER BY a.started_at",
            (since,),
        ).fetchall()

    def segments_in_use(self, segments: set[str]) -> set[str]:
        used = set()
        for seg in segments:
            if self.db.execute("SELECT 1 FROM attempts WHERE segment = ? LIMIT 1", (seg,)).fetchone():
                used.add(seg)
        return used



def _where(state: str | None, search: str | None, ids: list[str] | None, queue: str | None,
           tags: dict[str, str]) -> tuple[str, list[Any]]:  # fmt: skip
    """The WHERE clause (and its arguments) of list_jobs and count_jobs. Tag names are
    checked names ([A-Za-z0-9._-]), so they can be quoted into a JSON path."""
    where: list[str] = []
    args: list[Any] = []
    if ids is not None:  # at most MAX_LIST_IDS (the method checks): within SQLite's variable limit
        where.append(f"id IN ({','.join('?' * len(ids))})" if ids else "0")
        args += ids
    if state:
        where.append("state = ?")
        args.append(state)
    if queue:
        where.append("queue = ?")
        args.append(queue)
    if search:
        where.append("(instr(id, ?) > 0 OR instr(command, ?) > 0)")
        args += [search, search]
    for key, value in tags.items():
        where.append("json_extract(tags, ?) = ?")
        args += [f'$."{key}"', value]
    return ("WHERE " + " AND ".join(where)) if where else "", args
