"""The PostgreSQL store's dependency edges (`after`) and the writes of blocked jobs:
the same rows as SQLite's (store/deps.py tells the design)."""

from __future__ import annotations

from typing import Any

from queuectl import jobs as J
from queuectl.daemon.store.interface import DepState
from queuectl.daemon.store.postgres.base import PgBase, storable_only


class PgDeps(PgBase):
    def job_refs(self, ids: list[str]) -> dict[str, tuple[int, str]]:
        """id -> (seq, state) of the stored jobs among `ids` (the parents of jobs being
        enqueued). Locked (FOR SHARE) until the commit: a parent that another daemon is ending
        now is read as it ends (final: counted at once), or its end waits for this commit
        and then finds the new dependents; read unlocked, the new job could wait for ever
        for a parent that ended unseen. (In id order: enqueues lock them in one order.)"""
        rows = self.db.execute("SELECT id, seq, state FROM jobs WHERE id = ANY(%s::text[]) ORDER BY id FOR SHARE",
                               (storable_only(ids),))  # fmt: skip
        return {job_id: (seq, state) for job_id, seq, state in rows}

    def block(self, rows: list[tuple[int, str, str, int]], edges: list[tuple[int, int]]) -> None:
        """Jobs just inserted become blocked: (seq, state as inserted, condition, parents),
        with their edges (parent seq, child seq)."""
        # (one statement each, a batch of 10,000 as well: arrays, not a round trip per row)
        seqs = [seq for seq, _, _, _ in rows]
        queues = dict(self.db.execute(
            "UPDATE jobs SET state = 'blocked', after_condition = u.condition, waiting_on = u.n "
            "FROM unnest(%s::bigint[], %s::text[], %s::bigint[]) AS u(seq, condition, n) "
            "WHERE jobs.seq = u.seq RETURNING jobs.seq, jobs.queue",
            (seqs, [condition for _, _, condition, _ in rows], [n for _, _, _, n in rows])))  # fmt: skip
        for seq, state, _, _ in rows:
            self._move(state, J.BLOCKED, queues[seq])
        self.db.execute("INSERT INTO job_deps(parent, child) SELECT * FROM unnest(%s::bigint[], %s::bigint[]) "
                        "ON CONFLICT DO NOTHING", ([p for p, _ in edges], [c for _, c in edges]))  # fmt: skip

    def dependents(self, seq: int) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT child FROM job_deps WHERE parent = %s", (seq,))]

    def parents(self, seq: int) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT parent FROM job_deps WHERE child = %s", (seq,))]

    def dep_state(self, seq: int, lock: bool = False) -> DepState | None:
        """`lock`: the row is about to be written from what is read (waiting_on - 1, released,
        cancelled): locked until the commit, and read as the last commit left it. Another
        daemon ending another parent of the same job at the same moment waits here and then
        reads this one's write; without the lock both would write waiting_on - 1 from the
        same value, and the job would wait for ever for a parent that ended."""
        row = self.db.execute(
            "SELECT seq, id, state, after_condition, waiting_on, run_at, cancelled_by FROM jobs WHERE seq = %s"
            + (" FOR UPDATE" if lock else ""),
            (seq,),
        ).fetchone()
        return DepState(*row) if row else None

    def set_waiting(self, seq: int, n: int) -> None:
        self.db.execute("UPDATE jobs SET waiting_on = %s WHERE seq = %s", (n, seq))

    def _returning_queue(self, sql: str, args: tuple[Any, ...]) -> str:
        row = self.db.execute(sql, args).fetchone()
        assert row is not None, "no such job"
        return str(row[0])

    def unblock(self, seq: int, run_at: float | None, now: float) -> str:
        """blocked -> pending (or scheduled, if its run_at is still ahead)."""
        state = J.SCHEDULED if run_at is not None and run_at > now else J.PENDING
        queue = self._returning_queue(
            "UPDATE jobs SET state = %s, waiting_on = 0, run_at = %s, updated_at = %s WHERE seq = %s RETURNING queue",
            (state, run_at if state == J.SCHEDULED else None, now, seq),
        )
        self._move(J.BLOCKED, state, queue)
        return state

    def cancel_dependent(self, seq: int, now: float, error: str, by: int | None) -> str:
        """blocked -> cancelled because parent `by` ended the wrong way; returns its queue."""
        queue = self._returning_queue(
            "UPDATE jobs SET state = 'cancelled', last_error = %s, cancelled_by = %s, finished_at = %s, "
            "updated_at = %s WHERE seq = %s RETURNING queue",
            (error, by, now, now, seq),
        )
        self._move(J.BLOCKED, J.CANCELLED, queue)
        return queue

    def reblock(self, seq: int, waiting_on: int, now: float) -> None:
        """cancelled (by a parent) -> blocked again: that parent runs again."""
        queue = self._returning_queue(
            "UPDATE jobs SET state = 'blocked', waiting_on = %s, cancelled_by = NULL, last_error = NULL, "
            "finished_at = NULL, updated_at = %s WHERE seq = %s RETURNING queue",
            (waiting_on, now, seq),
        )
        self._move(J.CANCELLED, J.BLOCKED, queue)

    def unlink(self, seq: int) -> None:
        """A deleted job's edges, both ways."""
        self.db.execute("DELETE FROM job_deps WHERE parent = %s", (seq,))
        self.db.execute("DELETE FROM job_deps WHERE child = %s", (seq,))

    def links(self, seq: int, limit: int = 1000) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(parents, dependents) of a job as {id, state, last_error}, at most `limit` each."""
        def read(sql: str) -> list[dict[str, Any]]:
            rows = self.db.execute(sql, (seq, limit))
            return [{"id": i, "state": s, "last_error": e} for i, s, e in rows]

        parents = read("SELECT j.id, j.state, j.last_error FROM job_deps d JOIN jobs j ON j.seq = d.parent "
                       "WHERE d.child = %s ORDER BY d.parent LIMIT %s")  # fmt: skip
        dependents = read("SELECT j.id, j.state, j.last_error FROM job_deps d JOIN jobs j ON j.seq = d.child "
                          "WHERE d.parent = %s ORDER BY d.child LIMIT %s")  # fmt: skip
        return parents, dependents
