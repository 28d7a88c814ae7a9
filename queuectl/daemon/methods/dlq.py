"""dlq.* handlers: the dead letter queue (jobs in the `dead` state)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from queuectl import jobs as J
from queuectl import protocol as P
from queuectl.daemon.methods.queue import find_queue
from queuectl.daemon.methods.views import find, invalid_state, job_view
from queuectl.daemon.rpc import Param, Send, method

if TYPE_CHECKING:
    from queuectl.daemon.api import Api

MAX_RETRY_ALL = 10_000


@method(
    "dlq.list",
    Param("limit", "integer", 100),
    Param("offset", "integer", 0),
    Param("queue", "string", description="only dead jobs of this queue", nullable=True),
    description="Dead jobs, oldest first.",
    result='{"jobs": [...], "total": n}',
    errors=(P.INVALID_PARAMS, P.QUEUE_NOT_FOUND),
)
def dlq_list(api: Api, send: Send, limit: int, offset: int, queue: str | None) -> dict[str, Any]:
    if not 0 <= limit <= 10_000 or offset < 0:
        raise P.invalid_params("limit must be from 0 to 10000 and offset >= 0", "limit")
    if queue is not None:
        find_queue(api, queue)
    rows = api.store.list_jobs(J.DEAD, limit, offset, queue=queue)
    counts = api.store.counts if queue is None else api.store.queue_counts.get(queue, {})
    return {"jobs": [job_view(r) for r in rows], "total": counts.get(J.DEAD, 0)}


@method(
    "dlq.retry",
    Param("id", "string", description="one dead job", nullable=True),
    Param("all", "boolean", False, f"every dead job (up to {MAX_RETRY_ALL} per call)"),
    description="Move dead jobs back to pending, with a fresh set of retries.",
    result='{"retried": [ids]}',
    errors=(P.JOB_NOT_FOUND, P.INVALID_STATE, P.INVALID_PARAMS),
)
def dlq_retry(api: Api, send: Send, id: str | None, all: bool) -> dict[str, Any]:
    if (id is None) == (not all):
        raise P.invalid_params("give either id or all=true", "id")
    if id is not None:
        job = find(api, id)
        if job["state"] != J.DEAD:
            raise invalid_state(job, "not dead")
        jobs = [job]
    else:
        jobs = api.store.list_jobs(J.DEAD, MAX_RETRY_ALL)
    for job in jobs:
        api.lifecycle.retry(job, api.now)
    return {"retried": [j["id"] for j in jobs]}
