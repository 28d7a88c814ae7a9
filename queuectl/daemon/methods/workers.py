"""workers.* handlers: the size and state of the pool of children."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from queuectl import jobs as J
from queuectl import protocol as P
from queuectl.daemon.rpc import Param, method

if TYPE_CHECKING:
    from queuectl.daemon.supervisor import Supervisor

MAX_WORKERS = 256


def workers_view(sup: Supervisor) -> dict[str, Any]:
    now = time.time()
    children = []
    for child in sorted(sup.pool.children.values(), key=lambda c: c.id):
        running = None
        if child.assigned:
            flight = sup.inflight.get(child.assigned[0])
            if flight is not None and flight.started:
                running = {
                    "job_id": flight.job.id,
                    "attempt": flight.attempt,
                    "started_at": J.format_time(flight.started_at),
                    "running_s": round(now - (flight.started_at or now), 3),
                }
        children.append({
            "child": child.id,
            "pid": child.pid,
            "state": "stopping" if child.stopping else ("busy" if running else "idle"),
            "ready": child.ready,
            "job": running,
            "queued": len(child.assigned),
        })  # fmt: skip
    return {
        "target": sup.target_workers,
        "running": len(sup.pool.active()),
        "busy": sum(1 for c in children if c["job"]),
        "children": children,
    }


@method(
    "workers.scale",
    Param("count", "integer", required=True, description=f"pool size, 0 to {MAX_WORKERS}"),
    description="Set the number of worker children now (extra children finish their job first). "
    "Not persisted: `config.set workers` changes the size the daemon starts with.",
    result="workers.status",
    errors=(P.INVALID_PARAMS, P.SHUTTING_DOWN),
)
def scale(sup: Supervisor, send: Any, count: int) -> dict[str, Any]:
    if not 0 <= count <= MAX_WORKERS:
        raise P.invalid_params(f"count must be from 0 to {MAX_WORKERS}", "count")
    if sup.shutting_down:
        raise P.RpcError(P.SHUTTING_DOWN, "the daemon is shutting down")
    sup.scale_to(count)
    return workers_view(sup)


@method(
    "workers.stop",
    description="Stop all worker children gracefully: each finishes its current job, then exits. "
    "The daemon keeps running (and accepting jobs) with no children.",
    result="workers.status",
)
def stop(sup: Supervisor, send: Any) -> dict[str, Any]:
    if not sup.shutting_down:
        sup.scale_to(0)
    return workers_view(sup)


@method("workers.status", description="The pool: target size and each child.", result="object")
def status(sup: Supervisor, send: Any) -> dict[str, Any]:
    return workers_view(sup)
