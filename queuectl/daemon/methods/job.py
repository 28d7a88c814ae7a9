"""job.* handlers: enqueue, read, control and wait for jobs (job.logs: logs.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from queuectl import jobs as J
from queuectl import protocol as P
from queuectl import queues as Q
from queuectl import uniquekeys as U
from queuectl.daemon.methods.queue import find_queue
from queuectl.daemon.methods.views import find, invalid_state, job_detail, job_view
from queuectl.daemon.rpc import DEFERRED, Param, Send, method
from queuectl.daemon.store.interface import DuplicateIdError, KeyHeldError, Runnable
from queuectl.daemon.waits import Waiter

if TYPE_CHECKING:
    from queuectl.daemon.api import Api

MAX_MANY = 10_000
MAX_LIST = 10_000
MAX_LIST_IDS = 1_000


def _spec(api: Api, raw: Any) -> J.JobSpec:
    try:
        return placed(api, J.validate_spec(raw, api.now))
    except J.ValidationError as exc:
        raise P.invalid_params(str(exc), exc.field) from None


def _specs(api: Api, jobs: list[Any]) -> list[J.JobSpec]:
    """A batch validated and placed, in one loop; the first invalid job names its index."""
    check = _Placer(api)
    specs = []
    for index, raw in enumerate(jobs):
        try:
            specs.append(check(J.validate_spec(raw, api.now)))
        except J.ValidationError as exc:
            raise P.invalid_params(f"job {index}: {exc}", exc.field, index=index) from None
    return specs


class _Placer:
    """placed() for the jobs of one batch: each (queue, slots) checked once."""

    def __init__(self, api: Api):
        self.api = api
        self.fits: set[tuple[str, int]] = set()

    def __call__(self, spec: J.JobSpec) -> J.JobSpec:
        if spec.on is not None:
            runs_here(self.api, spec.on)
        if (spec.queue, spec.slots) not in self.fits:
            placed(self.api, spec)
            self.fits.add((spec.queue, spec.slots))
        return spec


def placed(api: Api, spec: J.JobSpec) -> J.JobSpec:
    """The job's queue exists, and its slots fit in that queue's concurrency and in the pool
    (the larger of its size now and the `workers` setting), or ValidationError."""
    if spec.on is not None:
        runs_here(api, spec.on)
    config = api.queues.get(spec.queue)
    if config is None:
        raise J.ValidationError(f"no queue named {spec.queue!r} (`queuectl queue add {spec.queue}` "
                                "creates it)", "queue")  # fmt: skip
    if spec.slots > config.concurrency:
        raise J.ValidationError(f"slots {spec.slots} is more than the concurrency of queue "
                                f"{spec.queue!r} ({config.concurrency}): it could never start", "slots")  # fmt: skip
    pool = max(api.workers.target, api.config["workers"])
    if spec.slots > pool:
        raise J.ValidationError(f"slots {spec.slots} is more than the worker pool ({pool}): it could "
                                "never start", "slots")  # fmt: skip
    return spec


def runs_here(api: Api, name: str) -> None:
    """A job pinned to `name` (`on`) can run: any name on a database several daemons share
    (that daemon may start later), only this daemon's own on a SQLite one, or ValidationError."""
    own = api.store.daemon_name
    if name != own and not api.store.shared:
        raise J.ValidationError(f"on {name!r}: this daemon is named {own!r} and keeps its queue in SQLite, "
                                f"which no other daemon shares: a job can be pinned to {own!r} only "
                                "(daemons sharing a PostgreSQL database can run each other's jobs)", "on")  # fmt: skip


def _duplicate(job_id: str, index: int, why: str) -> P.RpcError:
    return P.RpcError(P.DUPLICATE_ID, why, {"id": job_id, "index": index})


def _key_held(key: str, holder: str | None, index: int, why: str) -> P.RpcError:
    return P.RpcError(P.DUPLICATE_ID, why, {"id": holder, "unique_key": key, "index": index})


def _insert(api: Api, specs: list[J.JobSpec], many: bool = False) -> list[Runnable]:
    try:
        return api.lifecycle.enqueue(specs, api.now)
    except DuplicateIdError as exc:
        raise _duplicate(exc.job_id, exc.index, exc.why) from None
    except KeyHeldError as exc:
        raise _key_held(exc.key, exc.job_id, exc.index, str(exc)) from None
    except J.ValidationError as exc:  # `after`: a parent not there, or a cycle
        raise _after_error(exc, many) from None


def _after_error(exc: J.ValidationError, many: bool) -> P.RpcError:
    index = getattr(exc, "index", None)
    if not many or index is None:
        return P.invalid_params(str(exc), exc.field)
    return P.invalid_params(f"job {index}: {exc}", exc.field, index=index)


def _key_conflicts(api: Api, specs: list[J.JobSpec]) -> list[tuple[int, str, str | None, str]]:
    keys = [s.unique_key for s in specs]
    return U.key_conflicts(keys, api.store.key_holders([k for k in keys if k is not None]))


JOB_PARAMS = (
    Param("command", "string", required=True, description="shell command, run with sh -c"),
    Param("id", "string", description="unique id; generated when absent", nullable=True),
    Param("priority", "integer", 0, "higher runs first; equal priority in enqueue order"),
    Param("timeout", "number", description="seconds; 0 = none; absent = default_timeout", nullable=True),
    Param("run_at", "string", description="ISO 8601 time to run at (no zone = UTC)", nullable=True),
    Param("delay", "number", description="seconds from now to run at", nullable=True),
    Param("max_retries", "integer", description="retries after the first attempt", nullable=True),
    Param("cwd", "string", description="absolute working directory", nullable=True),
    Param("env", "object", description="extra environment variables", nullable=True),
    Param("queue", "string", description="the queue it waits in (default: default); it must exist", nullable=True),
    Param("slots", "integer", description="slots of its queue's concurrency and of the pool it holds while "
          "it runs (default 1)", nullable=True),
    Param("tags", "object", description="KEY: VALUE strings to find it by (job.list tags)", nullable=True),
    Param("after", "any", description="ids of jobs to wait for (array, or one string of ids separated by "
          "commas); in job.enqueue_many also ids of the same batch", nullable=True),
    Param("after_condition", "string", description="success (default), failure or always: "
          "what the parents must have done for this job to run", nullable=True),
    Param("unique_key", "string", description="idempotent enqueue: at most one job holds this key "
          f"(at most {U.MAX_KEY_LENGTH} characters, no control characters)", nullable=True),
    Param("unique_while", "string", description="how long the job holds unique_key: pending (until it "
          "starts), active (until it is final; the default), kept (until it is deleted)", nullable=True),
    Param("on_success", "string", description="hook: a command run as a job of its own when this job "
          "completes (the job as JSON on its stdin); absent: config on_success", nullable=True),
    Param("on_failure", "string", description="hook: run when this job goes dead (no retries left); "
          "absent: config on_failure", nullable=True),
    Param("on_finish", "string", description="hook: run when this job completes or goes dead; absent: "
          "config on_finish", nullable=True),
    Param("max_output", "any", description="output an attempt keeps, stdout and stderr together: bytes "
          '(integer), or a size such as "10M", "64MiB", "1G"; past it the rest is dropped and the job runs '
          "on (absent: config max_output_bytes)", nullable=True),
    Param("on", "string", description="pin it to the daemon of this name (`daemon --name`): only that one runs "
          "it (absent: any daemon sharing the database). On SQLite, only the daemon's own name", nullable=True),
)


@method(
    "job.enqueue", *JOB_PARAMS,
    Param("on_duplicate", "string", "return", "when unique_key is held: return the job holding it "
          '(with "duplicate": true), or error (duplicate_id)'),
    description="Add one job (or, with a unique_key that a job holds, return that job).",
    result='the job object; with unique_key, "duplicate": whether it is the job that held the key',
    errors=(P.INVALID_PARAMS, P.DUPLICATE_ID),
)  # fmt: skip
def enqueue(api: Api, send: Send, on_duplicate: str, **params: Any) -> dict[str, Any]:
    if on_duplicate not in U.ON_DUPLICATE:
        raise P.invalid_params(f"on_duplicate must be one of {', '.join(U.ON_DUPLICATE)}", "on_duplicate")
    spec = _spec(api, {k: v for k, v in params.items() if v is not None})
    if spec.unique_key is not None:
        held = _key_conflicts(api, [spec])
        if held:
            _, key, holder, why = held[0]
            if on_duplicate == "error":
                raise _key_held(key, holder, 0, why)
            assert holder is not None
            return {**job_view(find(api, holder)), "duplicate": True}
    job = api.store.get_by_seq(_insert(api, [spec])[0].seq)
    assert job is not None
    return job_view(job) if spec.unique_key is None else {**job_view(job), "duplicate": False}


@method(
    "job.enqueue_many",
    Param("jobs", "array", required=True, description=f"job objects (at most {MAX_MANY})"),
    Param("dry_run", "boolean", False, "validate and check ids, insert nothing"),
    Param("skip_invalid", "boolean", False,
          "skip invalid jobs and duplicate ids (listed in `skipped`) and add the rest"),
    description="Add many jobs in one transaction: all are added, or none (the error names the index). "
    "With skip_invalid, the invalid ones are skipped and reported instead.",
    result='{"ids": [...], "count": n, "skipped": [{"index", "message", "code"}] (with skip_invalid)}',
    errors=(P.INVALID_PARAMS, P.DUPLICATE_ID),
)  # fmt: skip
def enqueue_many(api: Api, send: Send, jobs: list[Any], dry_run: bool, skip_invalid: bool) -> dict[str, Any]:
    if len(jobs) > MAX_MANY:
        raise P.invalid_params(f"at most {MAX_MANY} jobs per call", "jobs")
    if skip_invalid:
        return _enqueue_valid(api, jobs, dry_run)
    specs = _specs(api, jobs)
    if dry_run:
        try:
            api.lifecycle.deps.resolve(specs)
        except J.ValidationError as exc:
            raise _after_error(exc, True) from None
        ids = [s.id for s in specs]
        duplicates = J.duplicate_ids(ids, api.store.ids_taken([i for i in ids if i is not None]))
        if duplicates:
            index, job_id, why = duplicates[0]
            raise _duplicate(job_id, index, why)
    held = _key_conflicts(api, specs)
    if held:
        raise _key_held(held[0][1], held[0][2], held[0][0], held[0][3])
    if dry_run:
        return {"ids": [], "count": len(specs)}
    inserted = _insert(api, specs, many=True) if specs else []
    return {"ids": [j.id for j in inserted], "count": len(inserted)}


def _enqueue_valid(api: Api, jobs: list[Any], dry_run: bool) -> dict[str, Any]:
    """enqueue_many with skip_invalid: insert the valid jobs, list the others by index."""
    skipped: list[dict[str, Any]] = []
    valid: list[tuple[int, J.JobSpec]] = []
    check = _Placer(api)
    for i, raw in enumerate(jobs):
        try:
            valid.append((i, check(J.validate_spec(raw, api.now))))
        except J.ValidationError as exc:
            skipped.append({"index": i, "message": str(exc), "code": P.INVALID_PARAMS})
    ids = [spec.id for _, spec in valid]
    bad = {}
    for position, _, why in J.duplicate_ids(ids, api.store.ids_taken([i for i in ids if i is not None])):
        bad[position] = why
        skipped.append({"index": valid[position][0], "message": why, "code": P.DUPLICATE_ID})
    for position, _, _, why in _key_conflicts(api, [spec for _, spec in valid]):
        if position not in bad:
            bad[position] = why
            skipped.append({"index": valid[position][0], "message": why, "code": P.DUPLICATE_ID})
    kept = [(i, spec) for position, (i, spec) in enumerate(valid) if position not in bad]
    kept = _skip_bad_after(api, kept, skipped)
    specs = [spec for _, spec in kept]
    skipped.sort(key=lambda s: s["index"])
    if dry_run or not specs:
        return {"ids": [], "count": len(specs), "skipped": skipped}
    inserted = _insert(api, specs, many=True)
    return {"ids": [j.id for j in inserted], "count": len(inserted), "skipped": skipped}


def _skip_bad_after(api: Api, kept: list[tuple[int, J.JobSpec]],
                    skipped: list[dict[str, Any]]) -> list[tuple[int, J.JobSpec]]:  # fmt: skip
    """skip_invalid: leave out, one by one, the jobs whose `after` cannot be met."""
    while kept:
        try:
            api.lifecycle.deps.resolve([spec for _, spec in kept])
            return kept
        except J.ValidationError as exc:
            position = getattr(exc, "index", 0)
            skipped.append({"index": kept[position][0], "message": str(exc), "code": P.INVALID_PARAMS})
            del kept[position]
    return kept


@method(
    "job.get",
    Param("id", "string", required=True),
    Param("attempts", "boolean", True, "include the attempts"),
    description="One job, with its attempts, its parents, its dependents and the hook jobs it fired.",
    result="the job object (with attempts_detail, parents and dependents: [{id, state, last_error}], "
    "after_condition, hooks: [{id, hook, state, exit_code, last_error}])",
    errors=(P.JOB_NOT_FOUND,),
)
def get(api: Api, send: Send, id: str, attempts: bool) -> dict[str, Any]:
    return job_detail(api.store, find(api, id), attempts)


@method(
    "job.list",
    Param("state", "string", description="one of " + ", ".join(J.STATES), nullable=True),
    Param("limit", "integer", 100, f"at most this many (max {MAX_LIST})"),
    Param("offset", "integer", 0, "skip this many"),
    Param("newest_first", "boolean", False),
    Param("search", "string", description="substring of id or command", nullable=True),
    Param("order", "string", "created", "created, priority or run_at"),
    Param("ids", "array", description=f"only these jobs (at most {MAX_LIST_IDS} ids); unknown ids are left out",
          nullable=True),
    Param("queue", "string", description="only jobs of this queue", nullable=True),
    Param("tags", "object", description="only jobs with all these KEY: VALUE tags", nullable=True),
    description="Jobs in enqueue order (or by priority), optionally of one state or queue, with some tags, "
    "or only the ones named.",
    result='{"jobs": [...], "total": n, "matched": n}  (total: jobs of that state, queue and tags, '
           'or all; matched: of those, the ones search and ids select)',
    errors=(P.INVALID_PARAMS, P.QUEUE_NOT_FOUND),
)
def list_jobs(api: Api, send: Send, state: str | None, limit: int, offset: int,
              newest_first: bool, search: str | None, order: str,
              ids: list[Any] | None, queue: str | None, tags: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    if state is not None and state not in J.STATES:
        raise P.invalid_params(f"unknown state {state!r} (one of {', '.join(J.STATES)})", "state")
    if not 0 <= limit <= MAX_LIST:
        raise P.invalid_params(f"limit must be from 0 to {MAX_LIST}", "limit")
    if offset < 0:
        raise P.invalid_params("offset must be >= 0", "offset")
    if order not in ("created", "priority", "run_at"):
        raise P.invalid_params("order must be created, priority or run_at", "order")
    if ids is not None and (len(ids) > MAX_LIST_IDS or not all(isinstance(i, str) for i in ids)):
        raise P.invalid_params(f"ids must be an array of at most {MAX_LIST_IDS} strings", "ids")
    tags = _tag_filter(api, queue, tags)
    rows = api.store.list_jobs(state, limit, offset, newest_first, search, order, ids, queue, tags)
    total = matching(api, state, queue, tags)
    # A count of its own only when search or ids select: the state's count is kept in memory.
    matched = total if not search and ids is None else \
        api.store.count_jobs(state, search, ids, queue, tags)  # fmt: skip
    return {"jobs": [job_view(r) for r in rows], "total": total, "matched": matched}


def _tag_filter(api: Api, queue: str | None, tags: dict[str, Any] | None) -> dict[str, str]:
    if queue is not None:
        find_queue(api, queue)
    try:
        return Q.validate_tags(tags)
    except Q.ValidationError as exc:
        raise P.invalid_params(str(exc), exc.field) from None


def matching(api: Api, state: str | None, queue: str | None, tags: dict[str, str]) -> int:
    """How many jobs a filter matches: from the counts in memory, but with tags (a count)."""
    if tags:
        return api.store.count_jobs(state, queue=queue, tags=tags)
    counts = api.store.counts if queue is None else api.store.queue_counts.get(queue, {})
    return counts.get(state, 0) if state else sum(counts.values())


def _stopped_while_waiting(job_id: str, job: dict[str, Any] | None) -> P.RpcError:
    state = job["state"] if job else "deleted"
    return P.RpcError(
        P.SHUTTING_DOWN, f"the daemon stopped before job {job_id!r} reached a final state (it is {state})",
        {"id": job_id, "job": job_view(job) if job else None},
    )  # fmt: skip


@method(
    "job.cancel",
    Param("id", "string", required=True),
    Param("with_dependents", "boolean", False, "also cancel every job downstream of it (whatever "
          "its after_condition)"),
    description="Cancel a scheduled, blocked, pending, assigned, failed or running job (a running one is "
    "killed first; the reply comes once it is dead). Its dependents that need it to succeed are "
    "cancelled with it (last_error names it).",
    result="the job object, now cancelled",
    errors=(P.JOB_NOT_FOUND, P.INVALID_STATE),
)
def cancel(api: Api, send: Send, id: str, with_dependents: bool) -> Any:
    job = find(api, id)
    if job["state"] not in J.CANCELLABLE_STATES and not with_dependents:
        raise invalid_state(job, "only scheduled, blocked, pending, assigned, failed or running jobs can be "
                                 "cancelled")  # fmt: skip
    downstream = api.lifecycle.deps.descendants(job["seq"]) if with_dependents else []
    elsewhere = _held_elsewhere(api, job)  # (its daemon is asked to kill it; the reply comes when it did)
    flight = api.lifecycle.cancel(job, api.now) if job["state"] in J.CANCELLABLE_STATES else None
    for seq in downstream:
        other = api.store.get_by_seq(seq)
        if other is not None and other["state"] in J.CANCELLABLE_STATES:
            api.lifecycle.cancel(other, api.now)
    if flight is None and not elsewhere:
        return job_view(find(api, id))
    api.waits.add(job["seq"], Waiter(lambda j: send(job_view(j) if j else None),
                                     lambda j: send(error=_stopped_while_waiting(id, j))))  # fmt: skip
    return DEFERRED


def _held_elsewhere(api: Api, job: dict[str, Any]) -> bool:
    """Assigned or running, but not by this daemon: another one sharing the database has it."""
    return job["state"] in J.HELD_STATES and api.lifecycle.inflight.get(job["seq"]) is None


@method(
    "job.retry",
    Param("id", "string", required=True),
    description="Run a failed or dead job again now, with a fresh set of retries.",
    result="the job object, now pending",
    errors=(P.JOB_NOT_FOUND, P.INVALID_STATE),
)
def retry(api: Api, send: Send, id: str) -> dict[str, Any]:
    job = find(api, id)
    if job["state"] not in J.RETRYABLE_STATES:
        raise invalid_state(job, "only failed or dead jobs can be retried")
    api.lifecycle.retry(job, api.now)
    return job_view(find(api, id))


@method(
    "job.delete",
    Param("id", "string", required=True),
    description="Remove a job that is not running (nor assigned to a worker), with its attempts and logs.",
    result='{"deleted": id}',
    errors=(P.JOB_NOT_FOUND, P.INVALID_STATE),
)
def delete(api: Api, send: Send, id: str) -> dict[str, Any]:
    job = find(api, id)
    if job["state"] in J.HELD_STATES:
        doing = "running" if job["state"] == J.PROCESSING else "assigned to a worker"
        raise P.RpcError(P.INVALID_STATE, f"job {id!r} is {doing}; cancel it first",
                         {"id": id, "state": job["state"]})  # fmt: skip
    segments = api.lifecycle.delete(job, api.now)

    def collect() -> None:
        api.collect_segments(segments)

    api.out.later(collect)
    return {"deleted": id}


@method(
    "job.wait",
    Param("id", "string", required=True),
    Param("timeout", "number", description="seconds to wait at most; null = forever", nullable=True),
    description="Answer when the job reaches a final state (completed, dead, cancelled) or the "
    "timeout passes; other clients are served meanwhile.",
    result='{"job": job object, "timed_out": bool}',
    errors=(P.JOB_NOT_FOUND,),
)
def wait(api: Api, send: Send, id: str, timeout: float | None) -> Any:
    job = find(api, id)
    if job["state"] in J.FINAL_STATES:
        return {"job": job_view(job), "timed_out": False}
    if timeout is not None and timeout <= 0:
        return {"job": job_view(job), "timed_out": True}

    def answer(timed_out: bool) -> Any:
        return lambda j: send({"job": job_view(j) if j else None, "timed_out": timed_out})

    waiter = Waiter(answer(False), lambda j: send(error=_stopped_while_waiting(id, j)), answer(True))
    api.waits.add(job["seq"], waiter, None if timeout is None else api.mono + timeout)
    return DEFERRED
