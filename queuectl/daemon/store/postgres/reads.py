"""The PostgreSQL store's reads: jobs and attempts for the RPC methods, and the windows
of runnable and timed jobs for dispatch. No writes here. Rows are the SQLite store's
(store/rows.py): the same columns, turned into the same dicts."""

from __future__ import annotations

from typing import Any

from queuectl.daemon.store.interface import Runnable
from queuectl.daemon.store.postgres.base import PgBase, storable, storable_only
from queuectl.daemon.store.rows import ATTEMPT_COLUMNS, ATTEMPT_KEYS, JOB_COLUMNS, RUNNABLE_COLUMNS, job_dict
from queuectl.daemon.store.rows import runnable as as_runnable

_HEAD = f"SELECT {RUNNABLE_COLUMNS} FROM jobs WHERE state = 'pending' AND queue = %s AND on_daemon"
_WINDOW = (f"({_HEAD} IS NULL ORDER BY priority DESC, seq LIMIT %s) UNION ALL "
           f"({_HEAD} = %s ORDER BY priority DESC, seq LIMIT %s) ORDER BY priority DESC, seq LIMIT %s")  # fmt: skip


class PgReads(PgBase):
    def get(self, job_id: str) -> dict[str, Any] | None:
        if not storable(job_id):
            return None
        row = self.db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = %s", (job_id,)).fetchone()
        return job_dict(row) if row else None

    def get_by_seq(self, seq: int) -> dict[str, Any] | None:
        row = self.db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE seq = %s", (seq,)).fetchone()
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
        elif order == "run_at":  # (no run_at sorts first, as in SQLite)
            order_by = f"run_at {direction} NULLS {'LAST' if newest_first else 'FIRST'}, seq ASC"
        else:
            order_by = f"seq {direction}"
        sql = f"SELECT {JOB_COLUMNS} FROM jobs {clause} ORDER BY {order_by} LIMIT %s OFFSET %s"
        return [job_dict(r) for r in self.db.execute(sql, (*args, limit, offset))]

    def count_jobs(self, state: str | None = None, search: str | None = None,
                   ids: list[str] | None = None, queue: str | None = None,
                   tags: dict[str, str] | None = None) -> int:  # fmt: skip
        clause, args = _where(state, search, ids, queue, tags or {})
        row = self.db.execute(f"SELECT count(*) FROM jobs {clause}", args).fetchone()
        return int(row[0]) if row else 0

    def attempts_of(self, seq: int) -> list[dict[str, Any]]:
        rows = self.db.execute(f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE job_seq = %s ORDER BY n", (seq,))
        return [dict(zip(ATTEMPT_KEYS, r, strict=True)) for r in rows]

    def attempt(self, seq: int, n: int) -> dict[str, Any] | None:
        row = self.db.execute(
            f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE job_seq = %s AND n = %s", (seq, n)
        ).fetchone()
        return dict(zip(ATTEMPT_KEYS, row, strict=True)) if row else None

    def runnable_window(self, limit: int, queue: str = "default") -> list[Runnable]:
        """The queue's first `limit` pending jobs this daemon may run: unpinned, or pinned to
        its name (`enqueue --on`). The heads of two indexes (jobs_runnable: the unpinned ones;
        jobs_pinned: by name), merged: jobs pinned to other daemons are never read."""
        rows = self.db.execute(_WINDOW, (queue, limit, queue, self.daemon_name, limit, limit))
        return [as_runnable(r) for r in rows]

    def runnable(self, seq: int) -> Runnable | None:
        """The job if it is pending and this daemon may run it."""
        row = self.db.execute(
            f"SELECT {RUNNABLE_COLUMNS} FROM jobs WHERE seq = %s AND state = 'pending' "
            "AND (on_daemon IS NULL OR on_daemon = %s)", (seq, self.daemon_name)
        ).fetchone()
        return as_runnable(row) if row else None

    def timed_window(self, limit: int) -> list[tuple[float, int]]:
        """(run_at, seq) of the jobs waiting for a time, soonest first (index jobs_timed)."""
        rows = self.db.execute(
            "SELECT run_at, seq FROM jobs WHERE state IN ('scheduled', 'failed') "
            "ORDER BY run_at NULLS FIRST, seq LIMIT %s",
            (limit,),
        )
        return [(r[0], r[1]) for r in rows]

    def stdin_of(self, seq: int) -> bytes | None:
        row = self.db.execute("SELECT stdin FROM jobs WHERE seq = %s", (seq,)).fetchone()
        if not row or row[0] is None:
            return None
        return bytes(row[0])

    def hooks_of(self, seq: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT id, hook, state, exit_code, last_error FROM jobs WHERE hook_of = %s ORDER BY seq", (seq,)
        )
        return [{"id": i, "hook": h, "state": s, "exit_code": x, "last_error": e} for i, h, s, x, e in rows]

    def starts_since(self, since: float) -> list[tuple[str, float]]:
        rows = self.db.execute(
            "SELECT a.queue, a.started_at FROM attempts a JOIN jobs j ON j.seq = a.job_seq "
            "WHERE a.started_at > %s AND j.hook IS NULL ORDER BY a.started_at",
            (since,),
        )
        return [(r[0], r[1]) for r in rows]

    def segments_in_use(self, segments: set[str]) -> set[str]:
        if not segments:
            return set()
        rows = self.db.execute("SELECT DISTINCT segment FROM attempts WHERE segment = ANY(%s::text[])",
                               (sorted(segments),))  # fmt: skip
        return {r[0] for r in rows}


def _where(state: str | None, search: str | None, ids: list[str] | None, queue: str | None,
           tags: dict[str, str]) -> tuple[str, list[Any]]:  # fmt: skip
    """The WHERE clause (and its arguments) of list_jobs and count_jobs."""
    where: list[str] = []
    args: list[Any] = []
    if ids is not None:
        where.append("id = ANY(%s::text[])")
        args.append(storable_only(ids))
    if state:
        where.append("state = %s")
        args.append(state)
    if queue:
        where.append("queue = %s")
        args.append(queue)
    if search and not storable(search):
        where.append("false")  # (no id or command holds a NUL)
    elif search:  # (strpos: a substring, case-sensitive, no pattern characters, as SQLite's instr)
        where.append("(strpos(id, %s) > 0 OR strpos(command, %s) > 0)")
        args += [search, search]
    for key, value in tags.items():
        if storable(key + value):
            where.append("(tags::jsonb ->> %s) = %s")
            args += [key, value]
        else:
            where.append("false")
    return ("WHERE " + " AND ".join(where)) if where else "", args
