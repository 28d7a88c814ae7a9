"""The SQLite store's named queues: the `queues` table, and the one per-queue read status
needs (its oldest pending job), over an index. The counts per queue are kept in memory
with the other counts (sqlite.Store)."""

from __future__ import annotations

import sqlite3

from queuectl.queues import QueueConfig


class QueueRows:
    db: sqlite3.Connection

    def queues_load(self) -> list[QueueConfig]:
        rows = self.db.execute("SELECT name, concurrency, weight, paused, created_at FROM queues ORDER BY name")
        return [QueueConfig(name, concurrency, weight, bool(paused), created_at)
                for name, concurrency, weight, paused, created_at in rows]  # fmt: skip

    def queue_save(self, queue: QueueConfig) -> None:
        self.db.execute(
            "INSERT INTO queues(name, concurrency, weight, paused, created_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET concurrency = excluded.concurrency, "
            "weight = excluded.weight, paused = excluded.paused",
            (queue.name, queue.concurrency, queue.weight, int(queue.paused), queue.created_at),
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
