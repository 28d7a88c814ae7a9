"""The PostgreSQL store's named queues: the `queues` table, and a queue's oldest pending
job (index jobs_queue_pending)."""

from __future__ import annotations

from queuectl.daemon.store.postgres.base import PgBase
from queuectl.daemon.store.queues import QUEUES_QUERY, queue_configs
from queuectl.queues import QueueConfig


class PgQueues(PgBase):
    def queues_load(self) -> list[QueueConfig]:
        return queue_configs(self.db.execute(QUEUES_QUERY))

    def queue_save(self, queue: QueueConfig) -> None:
        self.db.execute(
            "INSERT INTO queues(name, concurrency, weight, paused, created_at, rate_count, rate_period) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency, "
            "weight = excluded.weight, paused = excluded.paused, rate_count = excluded.rate_count, "
            "rate_period = excluded.rate_period",
            (queue.name, queue.concurrency, queue.weight, int(queue.paused), queue.created_at,
             queue.rate.count if queue.rate else None, queue.rate.period if queue.rate else None),
        )  # fmt: skip
        self.share("q", queue.name)  # (the other daemons load the queues again)

    def queue_delete(self, name: str) -> None:
        self.db.execute("DELETE FROM queues WHERE name = %s", (name,))
        self.share("q", name)

    def oldest_pending(self, queue: str) -> float | None:
        row = self.db.execute(
            "SELECT created_at FROM jobs WHERE queue = %s AND state = 'pending' ORDER BY seq LIMIT 1", (queue,)
        ).fetchone()
        return float(row[0]) if row else None
