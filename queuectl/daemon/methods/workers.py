"""workers.* handlers: the size and state of the pool of children."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, cast

from queuectl import protocol as P
from queuectl.daemon.rpc import Param, Send, method
from queuectl.settings import MAX_WORKERS

if TYPE_CHECKING:
    from queuectl.daemon.api import Api
    from queuectl.daemon.store.interface import SharedStorage


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
    return view(api)


@method(
    "workers.stop",
    description="Stop all worker children gracefully: each finishes its current job, then exits. "
    "The daemon keeps running (and accepting jobs) with no children.",
    result="workers.status",
)
def stop(api: Api, send: Send) -> dict[str, Any]:
    if not api.shutting_down:
        api.workers.scale(0)
    return view(api)


@method("workers.status", description="The pool: target size and each child; `daemon`: this daemon's "
        "name; `daemons`: with a database several daemons share, every daemon of it (name, host, pid, "
        "lease, live, workers, running), else null.", result="object")  # fmt: skip
def status(api: Api, send: Send) -> dict[str, Any]:
    return view(api)


def view(api: Api) -> dict[str, Any]:
    """workers.status: the pool, and which daemon (and, sharing a database, the others)."""
    found: dict[str, Any] = {**api.workers.view(api.now), "daemon": api.store.daemon_name, "daemons": None}
    if api.store.shared:
        with contextlib.suppress(*api.store.errors):  # (the database away: this daemon's part only)
            found["daemons"] = cast("SharedStorage", api.store).daemons()
    return found
