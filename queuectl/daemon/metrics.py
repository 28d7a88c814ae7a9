"""What the daemon counts for Prometheus (pure code): counters per queue since the daemon
started, and histograms in fixed buckets (job duration, pickup latency, loop turn time).

Kept cheap, since it runs per job: an event is a dict lookup and an increment, an
observation a bisect and two additions; nothing is allocated after a queue's first job.
`daemon.metrics` returns the raw numbers; the client renders them (client/prometheus.py).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

KINDS = ("enqueued", "started", "completed", "failed", "dead", "cancelled")

# Upper bounds in seconds (Prometheus `le`): a job runs for milliseconds to hours, waits for
# a worker from a millisecond (idle pool) to hours (a backlog); a loop turn takes microseconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    120.0, 300.0, 600.0, 1800.0, 3600.0)  # fmt: skip
PICKUP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                  30.0, 60.0, 300.0, 900.0, 3600.0)  # fmt: skip
TURN_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class Histogram:
    """Counts per bucket (not cumulative: the last one is above the highest bound) and a sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le = "<=")
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def view(self) -> dict[str, Any]:
        return {"bounds": list(self.bounds), "counts": list(self.counts), "sum": self.sum,
                "count": sum(self.counts)}  # fmt: skip


class QueueMetrics:
    __slots__ = ("counts", "duration", "pickup")

    def __init__(self) -> None:
        self.counts = dict.fromkeys(KINDS, 0)
        self.duration = Histogram(DURATION_BUCKETS)
        self.pickup = Histogram(PICKUP_BUCKETS)


class Metrics:
    """Everything since the daemon started, per queue. The daemon records after its turn
    commits (TurnOutput.later), so nothing rolled back is counted."""

    def __init__(self) -> None:
        self.queues: dict[str, QueueMetrics] = {}
        self.turn = Histogram(TURN_BUCKETS)

    def of(self, queue: str) -> QueueMetrics:
        q = self.queues.get(queue)
        if q is None:
            q = self.queues[queue] = QueueMetrics()
        return q

    def count(self, kind: str, queue: str, n: int = 1) -> None:
        self.of(queue).counts[kind] += n

    def started(self, queue: str, pickup: float) -> None:
        q = self.of(queue)
        q.counts["started"] += 1
        q.pickup.observe(max(pickup, 0.0))  # (a child's clock a hair behind ours)

    def finished(self, kind: str, queue: str, duration: float | None) -> None:
        q = self.of(queue)
        q.counts[kind] += 1
        if duration is not None:
            q.duration.observe(max(duration, 0.0))

    def view(self) -> dict[str, Any]:
        return {
            "queues": {name: {"counts": dict(q.counts), "duration_seconds": q.duration.view(),
                              "pickup_seconds": q.pickup.view()}
                       for name, q in sorted(self.queues.items())},
            "loop_turn_seconds": self.turn.view(),
        }  # fmt: skip
