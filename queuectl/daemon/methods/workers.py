"""workers.* handlers: the size and state of the pool of children."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from queuectl import protocol as P
from queuectl.daemon.rpc import Param, Send, method
from queuectl.settings import MAX_WORKERS

if TYPE_CHECKING:
    from queuectl.daemon.api import Api


@method(
    "workers.scale",
    Param("count", "integer", required=True, description=f"pool size, 0 to {MAX_WORKERS}"),
    description="Set the number of worker children now (extra children finish their job first). "
    "Not persisted: `config.set workers` changes the size the daemon starts with.",
    result="workers.status",
    errors=(P.INVALID_PARAMS, P.SHUTTING_DOWN),
)
def scale(api: Api, send: Send, count: int) -> dict[str, Any]:
    if not 0 <= count <= MAX_WORKERS:
        raise P.invalid_params(f"count must be from 0 to {MAX_WORKERS}", "count")
    if api.shutting_down:
        raise P.RpcError(P.SHUTTING_DOWN, "the daemon is shutting down")
    api.workers.scale(count)
    return api.workers.view(api.now)


@method(
    "workers.stop",
    description="Stop all worker children gracefully: each finishes its current job, then exits. "
    "The daemon keeps running (and accepting jobs) with no children.",
    result="workers.status",
)
def stop(api: Api, send: Send) -> dict[str, Any]:
    if not api.shutting_down:
        api.workers.scale(0)
    return api.workers.view(api.now)


@method("workers.status", description="The pool: target size and each child.", result="object")
def status(api: Api, send: Send) -> dict[str, Any]:
    return api.workers.view(api.now)
