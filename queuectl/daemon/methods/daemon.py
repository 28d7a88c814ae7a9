"""daemon.* and rpc.* handlers: the daemon itself."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from queuectl import __version__
from queuectl import jobs as J
from queuectl.daemon import rpc
from queuectl.daemon.methods.workers import workers_view
from queuectl.daemon.rpc import method

if TYPE_CHECKING:
    from queuectl.daemon.supervisor import Supervisor


@method(
    "daemon.status",
    description="Counts per state (every state present), the workers, and the daemon's facts.",
    result='{"counts": {...}, "workers": {...}, "daemon": {...}}',
)
def status(sup: Supervisor, send: Any) -> dict[str, Any]:
    return {
        "counts": {state: sup.store.counts[state] for state in J.STATES},
        "workers": workers_view(sup),
        "daemon": {
            "pid": os.getpid(),
            "version": __version__,
            "home": str(sup.paths.state_dir),
            "socket": str(sup.paths.socket),
            "started_at": J.format_time(sup.started_at),
            "uptime_s": round(time.time() - sup.started_at, 3),
            "shutting_down": sup.shutting_down,
            "waiting_clients": sum(len(w) for w in sup.waiters.values()),
            "containment": sup.containment,
            "fd_limit": sup.guard.limit,
            "accepting": not sup.guard.paused,
        },
    }


@method(
    "daemon.stats",
    description="Jobs finished per minute over the last hour (completed, failed attempts, dead), "
    "counted since the daemon started.",
    result='{"per_minute": [{"minute": iso, "completed": n, "failed": n, "dead": n}, ...], "totals": {...}}',
)
def stats(sup: Supervisor, send: Any) -> dict[str, Any]:
    series = sup.throughput.series(time.time())
    return {
        "per_minute": [{"minute": J.format_time(m * 60), **counts} for m, counts in series],
        "totals": dict(sup.throughput.totals),
    }


@method(
    "daemon.shutdown",
    description="Stop gracefully: no new dispatch, running jobs get shutdown_grace seconds to "
    "finish, then are killed and re-queued without using up an attempt.",
    result='{"stopping": true}',
)
def shutdown(sup: Supervisor, send: Any) -> dict[str, Any]:
    if not sup.shutting_down:
        sup.begin_shutdown("request")
    return {"stopping": True, "pid": os.getpid()}


@method("rpc.discover", description="This document: every method and its params.", result="OpenRPC")
def discover(sup: Supervisor, send: Any) -> dict[str, Any]:
    return rpc.describe()
