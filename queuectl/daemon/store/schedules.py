"""The SQLite store's schedules: one row per schedule, its next slot and its last run.
Schedules are few; they are read whole."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from queuectl.daemon.store.rows import JOB_COLUMNS, job_dict

SCHEDULE_COLUMNS = ("name, cron, every, tz, overlap, catch_up, job, paused, next_at, last_job, created_at, "
                    "updated_at")  # fmt: skip
SCHEDULE_KEYS = tuple(c.strip() for c in SCHEDULE_COLUMNS.split(","))


def _schedule(row: tuple[Any, ...]) -> dict[str, Any]:
    sched = dict(zip(SCHEDULE_KEYS, row, strict=True))
    sched["job"] = json.loads(sched["job"])
    sched["paused"] = bool(sched["paused"])
    sched["every"] = int(sched["every"]) if sched["every"] is not None else None
    return sched


class StoreSchedules:
    db: sqlite3.Connection

    def schedule_get(self, name: str) -> dict[str, Any] | None:
        row = self.db.execute(f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE name = ?", (name,)).fetchone()
        return _schedule(row) if row else None

    def schedule_to_fire(self, name: str) -> tuple[dict[str, Any] | None, bool]:
        """(the schedule, busy): one daemon per database here, so never busy."""
        return self.schedule_get(name), False

    def schedule_list(self) -> list[dict[str, Any]]:
        return [_schedule(r) for r in self.db.execute(f"SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY name")]

    def schedule_put(self, sched: dict[str, Any]) -> None:
        """Insert or replace a schedule (all its columns)."""
        row = {**sched, "job": json.dumps(sched["job"]), "paused": int(sched["paused"])}
        marks = ", ".join("?" * len(SCHEDULE_KEYS))
        self.db.execute(f"INSERT OR REPLACE INTO schedules({SCHEDULE_COLUMNS}) VALUES ({marks})",
                        [row[k] for k in SCHEDULE_KEYS])  # fmt: skip

    def schedule_advance(self, name: str, next_at: float | None, last_job: str | None, now: float) -> None:
        """The schedule's next slot (and, when it made one, its last run's job)."""
        self.db.execute(
            "UPDATE schedules SET next_at = ?, last_job = coalesce(?, last_job), updated_at = ? WHERE name = ?",
            (next_at, last_job, now, name),
        )

    def schedule_delete(self, name: str) -> None:
        self.db.execute("DELETE FROM schedules WHERE name = ?", (name,))

    def schedule_jobs(self, name: str, limit: int) -> list[dict[str, Any]]:
        """The jobs whose id is NAME@..., newest slot first ('@' + 1 is 'A')."""
        rows = self.db.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id > ? AND id < ? ORDER BY id DESC "
                               "LIMIT ?", (name + "@", name + "A", limit))  # fmt: skip
        return [job_dict(r) for r in rows]
