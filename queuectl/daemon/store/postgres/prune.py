"""The PostgreSQL store's part of retention (queuectl/retention.py has the rules): each
final state's oldest finished jobs over the partial index `jobs_finished`, and removing
a batch of jobs with everything that refers to them."""

from __future__ import annotations

from typing import Any

from queuectl.daemon.store.postgres.base import PgBase
from queuectl.daemon.store.prune import _FINISHED, _NEEDED, _final
from queuectl.retention import Candidate


class PgPrune(PgBase):
    def prune_candidates(self, state: str, before: float | None, limit: int,
                         queue: str | None = None) -> list[Candidate]:  # fmt: skip
        """A final state's oldest finished jobs (finished before `before`, if given) that
        nothing keeps: no unique key held, no unfinished dependent."""
        sql = (f"SELECT seq, state, coalesce(finished_at, 0) FROM jobs "
               f"WHERE {_FINISHED} AND state = '{_final(state)}'")  # fmt: skip
        args: list[Any] = []
        if before is not None:
            sql += " AND finished_at < %s"
            args.append(before)
        if queue is not None:
            sql += " AND queue = %s"
            args.append(queue)
        sql += f" AND NOT {_NEEDED} ORDER BY finished_at, seq LIMIT %s"
        return [Candidate(*row) for row in self.db.execute(sql, [*args, limit])]

    def prune_count(self, state: str, before: float, queue: str | None = None) -> int:
        sql = f"SELECT count(*) FROM jobs WHERE {_FINISHED} AND state = '{_final(state)}' AND finished_at < %s"
        args: list[Any] = [before]
        if queue is not None:
            sql += " AND queue = %s"
            args.append(queue)
        row = self.db.execute(f"{sql} AND NOT {_NEEDED}", args).fetchone()
        return int(row[0]) if row else 0

    def prune_jobs(self, seqs: list[int]) -> tuple[dict[str, int], set[str]]:
        """Remove finished jobs with their attempts and dependency edges; returns how many
        per state, and the log segments their attempts pointed into."""
        rows = self.db.execute(
            "SELECT seq, state, queue FROM jobs WHERE seq = ANY(%s::bigint[]) "
            "AND state IN ('completed', 'dead', 'cancelled')", (seqs,),
        ).fetchall()  # fmt: skip
        seqs = [r[0] for r in rows]
        segments = {r[0] for r in self.db.execute(
            "SELECT DISTINCT segment FROM attempts WHERE job_seq = ANY(%s::bigint[]) AND segment IS NOT NULL",
            (seqs,))}  # fmt: skip
        for sql in ("DELETE FROM attempts WHERE job_seq = ANY(%s::bigint[])",
                    "DELETE FROM job_deps WHERE parent = ANY(%s::bigint[])",
                    "DELETE FROM job_deps WHERE child = ANY(%s::bigint[])",
                    "DELETE FROM jobs WHERE seq = ANY(%s::bigint[])"):  # fmt: skip
            self.db.execute(sql, (seqs,))
        removed: dict[str, int] = {}
        for _, state, queue in rows:
            removed[state] = removed.get(state, 0) + 1
            self.counts[state] -= 1
            self._queue_counts(queue)[state] -= 1
        return removed, segments
