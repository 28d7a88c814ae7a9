"""daemon.* and rpc.* handlers: the daemon itself."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from queuectl import jobs as J
from queuectl.daemon.rpc import Send, method

if TYPE_CHECKING:
    from queuectl.daemon.api import Api


@method(
    "daemon.status",
    description="Counts per state (every state present), the workers, and the daemon's facts.",
    result='{"counts": {...}, "workers": {...}, "daemon": {...}}',
)
def status(api: Api, send: Send) -> dict[str, Any]:
    return {
        "counts": {state: api.store.counts[state] for state in J.STATES},
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
