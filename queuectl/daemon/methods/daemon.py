"""daemon.* and rpc.* handlers: the daemon itself."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from queuectl import jobs as J
from queuectl import protocol as P
from queuectl.daemon.methods.queue import find_queue
from queuectl.daemon.metrics import DURATION_BUCKETS, KINDS, PICKUP_BUCKETS, Histogram
from queuectl.daemon.rpc import Param, Send, method

if TYPE_CHECKING:
    from queuectl.daemon.api import Api


@method(
    "daemon.status",
    Param("queue", "string", description="counts and queues of this queue only", nullable=True),
    description="Counts per state (every state present), each queue (see queue.get), config rate_limit "
    "(the limit over every queue: its rate, how many pending jobs it holds back now, when the next may "
    "start), the workers, and the daemon's facts. With queue: the counts are that queue's, and queues has "
    "only it.",
    result='{"counts": {...}, "queues": [...], "rate_limit": {"rate", "rate_limited", "rate_free_at"}, '
    '"workers": {...}, "daemon": {...}}',
    errors=(P.QUEUE_NOT_FOUND,),
    memory_only=True,
    read_only=True,
)
def status(api: Api, send: Send, queue: str | None) -> dict[str, Any]:
    counts = api.store.counts
    if queue is not None:
        find_queue(api, queue)
        counts = api.store.queue_counts.get(queue) or dict.fromkeys(J.STATES, 0)
    return {
        "counts": {state: counts[state] for state in J.STATES},
        "queues": api.queues.views(api.now, None if queue is None else [queue]),
        "rate_limit": api.queues.pool_rate_view(api.now),
        "workers": api.workers.view(api.now),
        "daemon": api.facts(),
    }


@method(
    "daemon.stats",
    description="Jobs finished per minute over the last hour (completed, failed attempts, dead), "
    "counted since the daemon started.",
    result='{"per_minute": [{"minute": iso, "completed": n, "failed": n, "dead": n}, ...], "totals": {...}}',
)
def stats(api: Api, send: Send) -> dict[str, Any]:
    series = api.throughput.series(api.now)
    return {
        "per_minute": [{"minute": J.format_time(m * 60), **counts} for m, counts in series],
        "totals": dict(api.throughput.totals),
    }


@method(
    "daemon.metrics",
    description="The raw numbers behind `queuectl metrics` (Prometheus): per queue, counters since "
    "the daemon started (enqueued, started, completed, failed attempts, dead, cancelled), histograms "
    "of job duration and pickup latency (buckets: upper bounds in seconds and the count of each, not "
    "cumulative; the last count is above the highest bound), jobs per state and the oldest pending "
    "job's age; the workers; the daemon's uptime, RSS and loop turn time histogram.",
    result='{"queues": {name: {"counts": {...}, "states": {...}, "oldest_pending_age_seconds": x, '
    '"duration_seconds": hist, "pickup_seconds": hist}}, "workers": {...}, "daemon": {...}}',
)
def metrics(api: Api, send: Send) -> dict[str, Any]:
    recorded = api.metrics.view()
    empty = {"counts": dict.fromkeys(KINDS, 0), "duration_seconds": Histogram(DURATION_BUCKETS).view(),
             "pickup_seconds": Histogram(PICKUP_BUCKETS).view()}  # fmt: skip
    queues: dict[str, Any] = {}
    names = sorted(set(api.store.queue_counts) | set(recorded["queues"]) | set(api.queues.configs))
    for name in names:
        states = api.store.queue_counts.get(name) or dict.fromkeys(J.STATES, 0)
        oldest = api.store.oldest_pending(name) if states[J.PENDING] else None
        queues[name] = {
            **(recorded["queues"].get(name) or empty),
            "states": {state: states[state] for state in J.STATES},
            "oldest_pending_age_seconds": None if oldest is None else max(api.now - oldest, 0.0),
        }
    workers = api.workers.view(api.now)
    running = workers["running"]
    return {
        "queues": queues,
        "workers": {"target": workers["target"], "running": running, "busy": workers["busy"],
                    "idle": max(running - workers["busy"], 0)},  # fmt: skip
        "daemon": {"uptime_seconds": max(api.now - api.started_at, 0.0), "rss_bytes": rss_bytes(),
                   "started_at": api.started_at, "loop_turn_seconds": recorded["loop_turn_seconds"]},  # fmt: skip
    }


def rss_bytes() -> int | None:
    """The daemon's resident memory now (Linux: /proc), None where that cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


@method(
    "daemon.shutdown",
    description="Stop gracefully: no new dispatch, running jobs get shutdown_grace seconds to "
    "finish, then are killed and re-queued without using up an attempt.",
    result='{"stopping": true}',
)
def shutdown(api: Api, send: Send) -> dict[str, Any]:
    api.begin_shutdown("request")
    return {"stopping": True, "pid": os.getpid()}


@method("rpc.discover", description="This document: every method and its params.", result="OpenRPC")
def discover(api: Api, send: Send) -> dict[str, Any]:
    return api.registry.describe()
