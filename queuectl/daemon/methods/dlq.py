"""dlq.* handlers: the dead letter queue (jobs in the `dead` state)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from queuectl import jobs as J
from queuectl import protocol as P
from queuectl.daemon.methods.views import find, invalid_state, job_view
from queuectl.daemon.rpc import Param, Send, method

if TYPE_CHECKING:
    from queuectl.daemon.api import Api

MAX_RETRY_ALL = 10_000


@method(
    "dlq.list",
    Param("limit", "integer", 100),
    Param("offset", "integer", 0),
    description="Dead jobs, oldest first.",
    result='{"jobs": [...], "total": n}',
)
def dlq_list(api: Api, send: Send, limit: int, offset: int) -> dict[str, Any]:
    if not 0 <= limit <= 10_000 or offset < 0:
        raise P.invalid_params("limit must be from 0 to 10000 and offset >= 0", "limit")
    rows = api.store.list_jobs(J.DEAD, limit, offset)
    return {"jobs": [job_view(r) for r in rows], "total": api.store.counts[J.DEAD]}


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
