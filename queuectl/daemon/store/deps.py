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

    def _move(self, old: str, new: str, n: int = 1) -> None:  # (the store's own)
        raise NotImplementedError

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
        for _, state, _, _ in rows:
            self._move(state, J.BLOCKED)
        self.db.executemany("INSERT OR IGNORE INTO job_deps(parent, child) VALUES (?, ?)", edges)

    def dependents(self, seq: int) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT child FROM job_deps WHERE parent = ?", (seq,))]

    def parents(self, seq: int) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT parent FROM job_deps WHERE child = ?", (seq,))]

    def dep_state(self, seq: int) -> DepState | None:
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
        self.db.execute(
            "UPDATE jobs SET state = ?, waiting_on = 0, run_at = ?, updated_at = ? WHERE seq = ?",
            (state, run_at if state == J.SCHEDULED else None, now, seq),
        )
        self._move(J.BLOCKED, state)
        return state

    def cancel_dependent(self, seq: int, now: float, error: str, by: int | None) -> None:
        """blocked -> cancelled because parent `by` ended the wrong way."""
        self.db.execute(
            "UPDATE jobs SET state = 'cancelled', last_error = ?, cancelled_by = ?, finished_at = ?, "
            "updated_at = ? WHERE seq = ?",
            (error, by, now, now, seq),
        )
        self._move(J.BLOCKED, J.CANCELLED)

    def reblock(self, seq: int, waiting_on: int, now: float) -> None:
        """cancelled (by a parent) -> blocked again: that parent runs again."""
        self.db.execute(
            "UPDATE jobs SET state = 'blocked', waiting_on = ?, cancelled_by = NULL, last_error = NULL, "
            "finished_at = NULL, updated_at = ? WHERE seq = ?",
            (waiting_on, now, seq),
        )
        self._move(J.CANCELLED, J.BLOCKED)

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
