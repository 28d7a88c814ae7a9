"""The SQLite store's dependency edges (`after`) and the writes of blocked jobs.

Edges are (parent seq, child seq) in `job_deps`, keyed by parent (releasing a
job's dependents reads exactly those) with an index by child (a job's parents).
A blocked job keeps `waiting_on`, the number of its parents not final yet, so
releasing it needs no look at its other parents.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from queuectl import jobs as J
from queuectl.daemon.store.interface import DepState


class StoreDeps:
    db: sqlite3.Connection
    counts: dict[str, int]

    def _move(self, old: str, new: str, queue: str, n: int = 1) -> None:  # (the store's own)
        raise NotImplementedError

    def _queues_of(self, seqs: list[int]) -> dict[int, str]:
        """Each job's queue (for the counts per queue)."""
        found: dict[int, str] = {}
        for start in range(0, len(seqs), 500):
            chunk = seqs[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self.db.execute(f"SELECT seq, queue FROM jobs WHERE seq IN ({marks})", chunk))
        return found

    def job_refs(self, ids: list[str]) -> dict[str, tuple[int, str]]:
        """id -> (seq, state) of the stored jobs among `ids`."""
        found: dict[str, tuple[int, str]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for job_id, seq, state in self.db.execute(
                f"SELECT id, seq, state FROM jobs WHERE id IN ({marks})", chunk
            ):
                found[job_id] = (seq, state)
        return found

    def block(self, rows: list[tuple[int, str, str, int]], edges: list[tuple[int, int]]) -> None:
        """Jobs just inserted become blocked: (seq, state as inserted, condition, parents),
        with their edges (parent seq, child seq)."""
        self.db.executemany(
            "UPDATE jobs SET state = 'blocked', after_condition = ?, waiting_on = ? WHERE seq = ?",
            [(condition, n, seq) for seq, _, condition, n in rows],
        )
        queues = self._queues_of([seq for seq, _, _, _ in rows])
        for seq, state, _, _ in rows:
            self._move(state, J.BLOCKED, queues[seq])
        self.db.executemany("INSERT OR IGNORE INTO job_deps(parent, child) VALUES (?, ?)", edges)

    def dependents(self, seq: int) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT child FROM job_deps WHERE parent = ?", (seq,))]

    def parents(self, seq: int) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT parent FROM job_deps WHERE child = ?", (seq,))]

    def dep_state(self, seq: int, lock: bool = False) -> DepState | None:
        """`lock`: the row is about to be written from what is read (one writer: nothing to do)."""
        row = self.db.execute(
            "SELECT seq, id, state, after_condition, waiting_on, run_at, cancelled_by FROM jobs "
            "WHERE seq = ?", (seq,)
        ).fetchone()  # fmt: skip
        return DepState(*row) if row else None

    def set_waiting(self, seq: int, n: int) -> None:
        self.db.execute("UPDATE jobs SET waiting_on = ? WHERE seq = ?", (n, seq))

    def unblock(self, seq: int, run_at: float | None, now: float) -> str:
        """blocked -> pending (or scheduled, if its run_at is still ahead)."""
        state = J.SCHEDULED if run_at is not None and run_at > now else J.PENDING
        (queue,) = self.db.execute(
            "UPDATE jobs SET state = ?, waiting_on = 0, run_at = ?, updated_at = ? WHERE seq = ? "
            "RETURNING queue",
            (state, run_at if state == J.SCHEDULED else None, now, seq),
        ).fetchone()
        self._move(J.BLOCKED, state, queue)
        return state

    def cancel_dependent(self, seq: int, now: float, error: str, by: int | None) -> str:
        """blocked -> cancelled because parent `by` ended the wrong way; returns its queue."""
        (queue,) = self.db.execute(
            "UPDATE jobs SET state = 'cancelled', last_error = ?, cancelled_by = ?, finished_at = ?, "
            "updated_at = ? WHERE seq = ? RETURNING queue",
            (error, by, now, now, seq),
        ).fetchone()
        self._move(J.BLOCKED, J.CANCELLED, queue)
        return str(queue)

    def reblock(self, seq: int, waiting_on: int, now: float) -> None:
        """cancelled (by a parent) -> blocked again: that parent runs again."""
        (queue,) = self.db.execute(
            "UPDATE jobs SET state = 'blocked', waiting_on = ?, cancelled_by = NULL, last_error = NULL, "
            "finished_at = NULL, updated_at = ? WHERE seq = ? RETURNING queue",
            (waiting_on, now, seq),
        ).fetchone()
        self._move(J.CANCELLED, J.BLOCKED, queue)

    def unlink(self, seq: int) -> None:
        """A deleted job's edges, both ways."""
        self.db.execute("DELETE FROM job_deps WHERE parent = ?", (seq,))
        self.db.execute("DELETE FROM job_deps WHERE child = ?", (seq,))

    def links(self, seq: int, limit: int = 1000) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(parents, dependents) of a job as {id, state, last_error}, at most `limit` each."""
        def read(sql: str) -> list[dict[str, Any]]:
            rows = self.db.execute(sql, (seq, limit))
            return [{"id": i, "state": s, "last_error": e} for i, s, e in rows]

        parents = read("SELECT j.id, j.state, j.last_error FROM job_deps d JOIN jobs j ON j.seq = d.parent "
                       "WHERE d.child = ? ORDER BY d.parent LIMIT ?")  # fmt: skip
        dependents = read("SELECT j.id, j.state, j.last_error FROM job_deps d JOIN jobs j ON j.seq = d.child "
                          "WHERE d.parent = ? ORDER BY d.child LIMIT ?")  # fmt: skip
        return parents, dependents
