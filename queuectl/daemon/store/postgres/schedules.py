"""The PostgreSQL store's schedules: one row per schedule, its next slot and its last run."""

from __future__ import annotations

import json
from typing import Any

from queuectl.daemon.store.postgres.base import PgBase, storable
from queuectl.daemon.store.rows import JOB_COLUMNS, job_dict
from queuectl.daemon.store.schedules import SCHEDULE_COLUMNS, SCHEDULE_KEYS
from queuectl.daemon.store.schedules import _schedule as as_schedule

_MARKS = ", ".join(["%s"] * len(SCHEDULE_KEYS))
_REPLACE = ", ".join(f"{k} = excluded.{k}" for k in SCHEDULE_KEYS if k != "name")


class PgSchedules(PgBase):
    def schedule_get(self, name: str) -> dict[str, Any] | None:
        if not storable(name):
            return None
        row = self.db.execute(f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE name = %s", (name,)).fetchone()
        return as_schedule(row) if row else None

    def schedule_to_fire(self, name: str) -> tuple[dict[str, Any] | None, bool]:
        """(the schedule, busy), its row locked until the turn commits, so that of the
        daemons sharing the database one fires each slot. busy: another daemon holds the
        row (it fires it now; its commit moves next_at on)."""
        if not storable(name):
            return None, False
        row = self.db.execute(f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE name = %s FOR UPDATE SKIP LOCKED",
                              (name,)).fetchone()  # fmt: skip
        if row is not None:
            return as_schedule(row), False
        return None, self.db.execute("SELECT 1 FROM schedules WHERE name = %s", (name,)).fetchone() is not None

    def schedule_list(self) -> list[dict[str, Any]]:
        return [as_schedule(r) for r in self.db.execute(f"SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY name")]

    def schedule_put(self, sched: dict[str, Any]) -> None:
        """Insert or replace a schedule (all its columns)."""
        row = {**sched, "job": json.dumps(sched["job"]), "paused": int(sched["paused"])}
        self.db.execute(f"INSERT INTO schedules({SCHEDULE_COLUMNS}) VALUES ({_MARKS}) "
                        f"ON CONFLICT (name) DO UPDATE SET {_REPLACE}", [row[k] for k in SCHEDULE_KEYS])  # fmt: skip
        self.share("s", sched["name"])  # (the other daemons' next slot of it)

    def schedule_advance(self, name: str, next_at: float | None, last_job: str | None, now: float) -> None:
        self.db.execute(
            "UPDATE schedules SET next_at = %s, last_job = coalesce(%s, last_job), updated_at = %s WHERE name = %s",
            (next_at, last_job, now, name),
        )

    def schedule_delete(self, name: str) -> None:
        self.db.execute("DELETE FROM schedules WHERE name = %s", (name,))
        self.share("s", name)

    def schedule_jobs(self, name: str, limit: int) -> list[dict[str, Any]]:
        """The jobs whose id is NAME@..., newest slot first ('@' + 1 is 'A'; ids sort as bytes)."""
        rows = self.db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id > %s AND id < %s ORDER BY jobs.id DESC "
                               "LIMIT %s", (name + "@", name + "A", limit))  # fmt: skip
        return [job_dict(r) for r in rows]
