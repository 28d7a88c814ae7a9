"""The SQLite store's part of retention (queuectl/retention.py has the rules): finding
each final state's oldest finished jobs over the partial index `jobs_finished`, and
removing a batch of jobs with everything that refers to them."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from queuectl.retention import FINAL, Candidate

# A job an unfinished job still depends on is kept (its dependent's `show` names it, and
# retrying a dead parent brings back the dependents its end cancelled).
# The partial index's own condition, repeated so that SQLite may use it; states are
# interpolated (one of the three, checked) so the planner sees which.
_FINISHED = "state IN ('completed', 'dead', 'cancelled') AND unique_hold IS NULL"
_NEEDED = ("EXISTS (SELECT 1 FROM job_deps d JOIN jobs c ON c.seq = d.child WHERE d.parent = jobs.seq "
           "AND c.state NOT IN ('completed', 'dead', 'cancelled'))")  # fmt: skip


def _final(state: str) -> str:
    if state not in FINAL:
        raise ValueError(state)
    return state


class StorePrune:
    db: sqlite3.Connection
    path: Path
    counts: dict[str, int]

    def _queue_counts(self, queue: str) -> dict[str, int]:  # (the store's own)
        raise NotImplementedError

    def prune_candidates(self, state: str, before: float | None, limit: int,
                         queue: str | None = None) -> list[Candidate]:  # fmt: skip
        """A final state's oldest finished jobs (finished before `before`, if given) that
        nothing keeps: no unique key held, no unfinished dependent."""
        sql = (f"SELECT seq, state, coalesce(finished_at, 0) FROM jobs INDEXED BY jobs_finished "
               f"WHERE {_FINISHED} AND state = '{_final(state)}'")  # fmt: skip
        args: list[Any] = []
        if before is not None:
            sql += " AND finished_at < ?"
            args.append(before)
        if queue is not None:
            sql += " AND queue = ?"
            args.append(queue)
        sql += f" AND NOT {_NEEDED} ORDER BY finished_at, seq LIMIT ?"
        return [Candidate(*row) for row in self.db.execute(sql, [*args, limit])]

    def prune_count(self, state: str, before: float, queue: str | None = None) -> int:
        """How many jobs prune_candidates(state, before) would find, without a limit."""
        sql = (f"SELECT count(*) FROM jobs INDEXED BY jobs_finished WHERE {_FINISHED} "
               f"AND state = '{_final(state)}' AND finished_at < ?")  # fmt: skip
        args: list[Any] = [before]
        if queue is not None:
            sql += " AND queue = ?"
            args.append(queue)
        n: int = self.db.execute(f"{sql} AND NOT {_NEEDED}", args).fetchone()[0]
        return n

    def prune_jobs(self, seqs: list[int]) -> tuple[dict[str, int], set[str]]:
        """Remove finished jobs with their attempts and dependency edges (a unique key is
        a column of the row); returns how many per state, and the log segments their
        attempts pointed into."""
        marks = ",".join("?" * len(seqs))
        rows = self.db.execute(
            f"SELECT seq, state, queue FROM jobs WHERE seq IN ({marks}) "
            "AND state IN ('completed', 'dead', 'cancelled')", seqs,
        ).fetchall()  # fmt: skip
        seqs = [r[0] for r in rows]
        marks = ",".join("?" * len(seqs))
        segments = {r[0] for r in self.db.execute(
            f"SELECT DISTINCT segment FROM attempts WHERE job_seq IN ({marks}) AND segment IS NOT NULL", seqs)}
        for sql in ("DELETE FROM attempts WHERE job_seq IN ({})", "DELETE FROM job_deps WHERE parent IN ({})",
                    "DELETE FROM job_deps WHERE child IN ({})", "DELETE FROM jobs WHERE seq IN ({})"):  # fmt: skip
            self.db.execute(sql.format(marks), seqs)
        removed: dict[str, int] = {}
        for _, state, queue in rows:
            removed[state] = removed.get(state, 0) + 1
            self.counts[state] -= 1
            self._queue_counts(queue)[state] -= 1
        return removed, segments

    def file_sizes(self) -> dict[str, int]:
        """Bytes of the database file and of its WAL (a stat each), and of the file's free
        pages (reused by the next writes before the file grows; read from its header)."""
        free, page = (self.db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("freelist_count", "page_size"))
        sizes = {"db_free_bytes": free * page}
        for key, path in (("db_bytes", str(self.path)), ("wal_bytes", f"{self.path}-wal")):
            try:
                sizes[key] = os.stat(path).st_size
            except OSError:
                sizes[key] = 0
        return sizes
