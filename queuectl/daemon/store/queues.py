"""The SQLite store's named queues: the `queues` table, and the one per-queue read status
needs (its oldest pending job), over an index. The counts per queue are kept in memory
with the other counts (sqlite.Store)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from queuectl.queues import QueueConfig
from queuectl.ratelimit import Rate

QUEUES_QUERY = "SELECT name, concurrency, weight, paused, created_at, rate_count, rate_period FROM queues ORDER BY name"


def queue_configs(rows: Iterable[Any]) -> list[QueueConfig]:
    """QUEUES_QUERY's rows as queue configs (both stores)."""
    return [QueueConfig(name, concurrency, weight, bool(paused), created_at,
                        Rate(count, period) if count and period and count > 0 and period > 0 else None)
            for name, concurrency, weight, paused, created_at, count, period in rows]  # fmt: skip


class QueueRows:
    db: sqlite3.Connection

    def queues_load(self) -> list[QueueConfig]:
        return queue_configs(self.db.execute(QUEUES_QUERY))

    def queue_save(self, queue: QueueConfig) -> None:
        self.db.execute(
            "INSERT INTO queues(name, concurrency, weight, paused, created_at, rate_count, rate_period) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET concurrency = excluded.concurrency, "
            "weight = excluded.weight, paused = excluded.paused, rate_count = excluded.rate_count, "
            "rate_period = excluded.rate_period",
            (queue.name, queue.concurrency, queue.weight, int(queue.paused), queue.created_at,
             queue.rate.count if queue.rate else None, queue.rate.period if queue.rate else None),
        )

    def queue_delete(self, name: str) -> None:
        self.db.execute("DELETE FROM queues WHERE name = ?", (name,))

    def oldest_pending(self, queue: str) -> float | None:
        """created_at of the queue's earliest enqueued pending job (index jobs_queue_pending)."""
        row = self.db.execute(
            "SELECT created_at FROM jobs WHERE queue = ? AND state = 'pending' ORDER BY seq LIMIT 1",
            (queue,),
        ).fetchone()
        return row[0] if row else None
