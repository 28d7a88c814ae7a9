"""daemon.* and rpc.* handlers: the daemon itself."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from queuectl import jobs as J
from queuectl import protocol as P
from queuectl.daemon.methods.queue import find_queue
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
