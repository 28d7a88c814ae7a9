"""job.prune: remove finished jobs now, by the retention settings or by age."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from queuectl import protocol as P
from queuectl import retention as R
from queuectl.daemon.methods.queue import find_queue
from queuectl.daemon.rpc import DEFERRED, Param, Send, method
from queuectl.jobs import ValidationError

if TYPE_CHECKING:
    from queuectl.daemon.api import Api


@method(
    "job.prune",
    Param("older_than", "number", description="seconds a job has been finished at least; null: each "
          "state's retention setting (and retain_max_jobs when no other filter is given)", nullable=True),
    Param("states", "array", description="final states to prune (completed, dead, cancelled); null: all",
          nullable=True),
    Param("queue", "string", description="only this queue's jobs", nullable=True),
    Param("dry_run", "boolean", False, "count what would go, remove nothing"),
    description="Remove finished jobs now, with their attempts and output (whole log segments once nothing "
    "points into them). Never a job an unfinished job depends on, one holding its unique key "
    "(unique_while kept), or one whose output was read in the last minute. Worked off in small "
    "batches between other requests; answered when done.",
    result='{"dry_run", "jobs": {"completed": n, "dead": n, "cancelled": n}, "over_cap": n, "total": n, '
    '"segments_deleted": n, "bytes_reclaimed": n, "storage": {"db_bytes", "wal_bytes", "logs_bytes"}}',
    errors=(P.INVALID_PARAMS, P.QUEUE_NOT_FOUND),
)
def prune(api: Api, send: Send, older_than: float | None, states: list[Any] | None, queue: str | None,
          dry_run: bool) -> Any:  # fmt: skip
    if states is not None and not all(isinstance(s, str) for s in states):
        raise P.invalid_params("states must be a list of state names", "states")
    if queue is not None:
        find_queue(api, queue)
    try:
        rules = R.manual(api.config, older_than, states, queue)
    except ValidationError as exc:
        raise P.invalid_params(str(exc), "older_than" if exc.field == "older_than" else "states") from None
    if dry_run:
        return api.pruner.preview(rules, api.now)
    api.pruner.request(rules, send)
    return DEFERRED
