"""job.* handlers: enqueue, read, control and logs of jobs."""

from __future__ import annotations

import base64
import heapq
import itertools
from typing import TYPE_CHECKING, Any

import structlog

from queuectl import jobs as J
from queuectl import protocol as P
from queuectl.daemon.requests import Waiter
from queuectl.daemon.rpc import Deferred, Param, method
from queuectl.daemon.store import DuplicateIdError, Runnable

if TYPE_CHECKING:
    from queuectl.daemon.supervisor import Supervisor

log = structlog.get_logger("queuectl")
MAX_MANY = 10_000
MAX_LIST = 10_000
MAX_LIST_IDS = 1_000
MAX_LOG_CHUNK = 4 * 1024 * 1024
TIME_FIELDS = ("run_at", "created_at", "updated_at", "started_at", "finished_at")


def job_view(job: dict[str, Any]) -> dict[str, Any]:
    """A stored job as clients see it: ISO times, no internal keys."""
    view = {k: v for k, v in job.items() if k not in ("seq", "charged")}
    for key in TIME_FIELDS:
        view[key] = J.format_time(job[key])
    return view


def attempt_view(attempt: dict[str, Any]) -> dict[str, Any]:
    view = {
        k: attempt[k]
        for k in ("n", "child", "pid", "exit_code", "signal", "error", "timed_out", "charged")
    }
    view["timed_out"] = bool(view["timed_out"])
    view["charged"] = bool(view["charged"])
    for key in ("started_at", "finished_at"):
        view[key] = J.format_time(attempt[key])
    if attempt["started_at"] and attempt["finished_at"]:
        view["duration_ms"] = round((attempt["finished_at"] - attempt["started_at"]) * 1000, 3)
    else:
        view["duration_ms"] = None
    view["stdout_bytes"] = attempt["out_len"]
    view["stderr_bytes"] = attempt["err_len"]
    return view


def find(sup: Supervisor, job_id: Any) -> dict[str, Any]:
    job = sup.store.get(job_id) if isinstance(job_id, str) else None
    if job is None:
        raise P.RpcError(P.JOB_NOT_FOUND, f"no job with id {job_id!r}", {"id": job_id})
    return job


def _spec(raw: Any, now: float, index: int | None = None) -> J.JobSpec:
    try:
        return J.validate_spec(raw, now)
    except J.ValidationError as exc:
        where = f"job {index}: " if index is not None else ""
        extra = {"index": index} if index is not None else {}
        raise P.invalid_params(where + str(exc), exc.field, **extra) from None


def _insert(sup: Supervisor, specs: list[J.JobSpec], now: float) -> list[Runnable]:
    timeout = sup.config["default_timeout"] or None
    try:
        jobs = sup.store.insert_jobs(specs, now, sup.config["max_retries"], timeout)
    except DuplicateIdError as exc:
        raise P.RpcError(
            P.DUPLICATE_ID, f"a job with id {exc.job_id!r} exists already",
            {"id": exc.job_id, "index": exc.index},
        ) from None  # fmt: skip
    for job, spec in zip(jobs, specs, strict=True):
        if job.state == J.SCHEDULED:
            assert spec.run_at is not None
            sup.add_timer(job.seq, spec.run_at)
        else:
            sup.add_runnable(job)
        if sup.has_subscribers:
            sup.emit("job.enqueued", job_id=job.id, state=job.state)
    if len(jobs) == 1:
        log.info("job.enqueued", job_id=jobs[0].id, state=jobs[0].state, priority=jobs[0].priority)
    else:  # one line per batch: a 1,000-job batch is not worth 1,000 log lines
        log.info("job.enqueued_many", count=len(jobs), first_id=jobs[0].id, last_id=jobs[-1].id)
    return jobs


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
)


@method(
    "job.enqueue", *JOB_PARAMS,
    description="Add one job.",
    result="the job object",
    errors=(P.INVALID_PARAMS, P.DUPLICATE_ID),
)  # fmt: skip
def enqueue(sup: Supervisor, send: Any, **params: Any) -> dict[str, Any]:
    now = sup.current_now
    raw = {k: v for k, v in params.items() if v is not None}
    spec = _spec(raw, now)
    job = sup.store.get_by_seq(_insert(sup, [spec], now)[0].seq)
    assert job is not None
    return job_view(job)


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
def enqueue_many(
    sup: Supervisor, send: Any, jobs: list[Any], dry_run: bool, skip_invalid: bool
) -> dict[str, Any]:
    if len(jobs) > MAX_MANY:
        raise P.invalid_params(f"at most {MAX_MANY} jobs per call", "jobs")
    now = sup.current_now
    if skip_invalid:
        return _enqueue_valid(sup, jobs, now, dry_run)
    specs = [_spec(raw, now, i) for i, raw in enumerate(jobs)]
    if dry_run:
        indexed = [(i, s.id) for i, s in enumerate(specs) if s.id is not None]
        seen: set[str] = set()
        for i, job_id in indexed:
            if job_id in seen:
                raise P.RpcError(P.DUPLICATE_ID, f"id {job_id!r} appears twice", {"id": job_id, "index": i})
            seen.add(job_id)
        taken = sup.store.ids_taken(list(seen))
        for i, job_id in indexed:
            if job_id in taken:
                raise P.RpcError(
                    P.DUPLICATE_ID, f"a job with id {job_id!r} exists already", {"id": job_id, "index": i}
                )
        return {"ids": [], "count": len(specs)}
    jobs = _insert(sup, specs, now) if specs else []
    return {"ids": [j.id for j in jobs], "count": len(jobs)}


def _enqueue_valid(sup: Supervisor, jobs: list[Any], now: float, dry_run: bool) -> dict[str, Any]:
    """enqueue_many with skip_invalid: insert the valid jobs, list the others by index."""
    skipped: list[dict[str, Any]] = []
    candidates: list[tuple[int, J.JobSpec]] = []
    seen: set[str] = set()
    for i, raw in enumerate(jobs):
        try:
            spec = J.validate_spec(raw, now)
        except J.ValidationError as exc:
            skipped.append({"index": i, "message": str(exc), "code": P.INVALID_PARAMS})
            continue
        if spec.id is not None:
            if spec.id in seen:
                skipped.append({"index": i, "message": f"id {spec.id!r} appears twice",
                                "code": P.DUPLICATE_ID})  # fmt: skip
                continue
            seen.add(spec.id)
        candidates.append((i, spec))
    taken = sup.store.ids_taken(list(seen))
    specs = []
    for i, spec in candidates:
        if spec.id in taken:
            skipped.append({"index": i, "message": f"a job with id {spec.id!r} exists already",
                            "code": P.DUPLICATE_ID})  # fmt: skip
        else:
            specs.append(spec)
    skipped.sort(key=lambda s: s["index"])
    if dry_run or not specs:
        return {"ids": [], "count": len(specs), "skipped": skipped}
    inserted = _insert(sup, specs, now)
    return {"ids": [j.id for j in inserted], "count": len(inserted), "skipped": skipped}


@method(
    "job.get",
    Param("id", "string", required=True),
    Param("attempts", "boolean", True, "include the attempts"),
    description="One job, with its attempts.",
    result="the job object (with an attempts array)",
    errors=(P.JOB_NOT_FOUND,),
)
def get(sup: Supervisor, send: Any, id: str, attempts: bool) -> dict[str, Any]:
    job = find(sup, id)
    view = job_view(job)
    if attempts:
        view["attempts_detail"] = [attempt_view(a) for a in sup.store.attempts_of(job["seq"])]
    return view


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
    description="Jobs in enqueue order (or by priority), optionally of one state, or only the ones named.",
    result='{"jobs": [...], "total": n}  (total: jobs in that state, or all)',
    errors=(P.INVALID_PARAMS,),
)
def list_jobs(
    sup: Supervisor, send: Any, state: str | None, limit: int, offset: int,
    newest_first: bool, search: str | None, order: str, ids: list[Any] | None,
) -> dict[str, Any]:  # fmt: skip
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
    rows = sup.store.list_jobs(state, limit, offset, newest_first, search, order, ids)
    counts = sup.store.counts
    total = counts[state] if state else sum(counts.values())
    return {"jobs": [job_view(r) for r in rows], "total": total}


@method(
    "job.cancel",
    Param("id", "string", required=True),
    description="Cancel a scheduled, pending, failed or running job (a running one is killed first; "
    "the reply comes once it is dead).",
    result="the job object, now cancelled",
    errors=(P.JOB_NOT_FOUND, P.INVALID_STATE),
)
def cancel(sup: Supervisor, send: Any, id: str) -> Any:
    job = find(sup, id)
    state, seq = job["state"], job["seq"]
    if state not in J.CANCELLABLE_STATES:
        raise P.RpcError(
            P.INVALID_STATE, f"job {id!r} is {state}; only scheduled, pending, failed or running "
            "jobs can be cancelled", {"id": id, "state": state},
        )  # fmt: skip
    if state == J.PROCESSING:
        flight = sup.inflight[seq]
        flight.abort = "cancel"
        child = sup.pool.children.get(flight.child)
        sup.waiters.setdefault(seq, []).append(Waiter(
            lambda j: send(job_view(j) if j else None),
            lambda j: send(error=_stopped_while_waiting(id, j)),
        ))  # fmt: skip
        if child is not None:
            sup.out.after_commit.append(lambda: sup.pool.send(child, [P.ABORT, seq, "cancel"]))
        return Deferred
    sup.drop_from_window(seq)
    sup.drop_timer(seq)
    sup.store.cancel(seq, state, sup.current_now)
    log.info("job.cancelled", job_id=id, previous_state=state)
    sup.job_settled(seq, id, J.CANCELLED)
    return job_view(find(sup, id))


@method(
    "job.retry",
    Param("id", "string", required=True),
    description="Run a failed or dead job again now, with a fresh set of retries.",
    result="the job object, now pending",
    errors=(P.JOB_NOT_FOUND, P.INVALID_STATE),
)
def retry(sup: Supervisor, send: Any, id: str) -> dict[str, Any]:
    job = find(sup, id)
    retry_job(sup, job)
    return job_view(find(sup, id))


def retry_job(sup: Supervisor, job: dict[str, Any]) -> None:
    state, seq = job["state"], job["seq"]
    if state not in J.RETRYABLE_STATES:
        raise P.RpcError(
            P.INVALID_STATE, f"job {job['id']!r} is {state}; only failed or dead jobs can be retried",
            {"id": job["id"], "state": state},
        )  # fmt: skip
    sup.drop_timer(seq)
    sup.store.retry(seq, state, sup.current_now)
    sup.add_runnable(sup.store.runnable(seq))
    sup.emit("job.retried", job_id=job["id"])
    log.info("job.retried", job_id=job["id"], previous_state=state)


@method(
    "job.delete",
    Param("id", "string", required=True),
    description="Remove a job that is not running, with its attempts and logs.",
    result='{"deleted": id}',
    errors=(P.JOB_NOT_FOUND, P.INVALID_STATE),
)
def delete(sup: Supervisor, send: Any, id: str) -> dict[str, Any]:
    job = find(sup, id)
    state, seq = job["state"], job["seq"]
    if state == J.PROCESSING:
        raise P.RpcError(
            P.INVALID_STATE, f"job {id!r} is running; cancel it first", {"id": id, "state": state}
        )
    sup.drop_from_window(seq)
    sup.drop_timer(seq)
    segments = sup.store.delete(seq, state)
    sup.release_waiters(seq)  # a wait on it ends now, with job: null
    sup.out.after_commit.append(lambda: sup.collect_segments(segments))
    sup.emit("job.deleted", job_id=id)
    log.info("job.deleted", job_id=id, previous_state=state)
    return {"deleted": id}


@method(
    "job.logs",
    Param("id", "string", required=True),
    Param("attempt", "integer", description="attempt number; default the latest", nullable=True),
    Param("stream", "string", "stdout", "stdout or stderr"),
    Param("offset", "integer", 0, "byte offset into this attempt's output"),
    Param("max_bytes", "integer", 1024 * 1024, f"chunk size (max {MAX_LOG_CHUNK})"),
    description="A chunk of one attempt's stdout or stderr. Read on from next_offset until eof.",
    result='{"data", "encoding": "utf-8"|"base64", "offset", "next_offset", "eof", "running", "attempt"}',
    errors=(P.JOB_NOT_FOUND, P.INVALID_PARAMS),
)
def logs(
    sup: Supervisor, send: Any, id: str, attempt: int | None, stream: str, offset: int,
    max_bytes: int,
) -> dict[str, Any]:  # fmt: skip
    job = find(sup, id)
    if stream not in ("stdout", "stderr"):
        raise P.invalid_params("stream must be stdout or stderr", "stream")
    if offset < 0:
        raise P.invalid_params("offset must be >= 0", "offset")
    if not 1 <= max_bytes <= MAX_LOG_CHUNK:
        raise P.invalid_params(f"max_bytes must be from 1 to {MAX_LOG_CHUNK}", "max_bytes")
    n = attempt if attempt is not None else job["attempts"]
    empty = {"data": "", "encoding": "utf-8", "offset": offset, "next_offset": offset,
             "attempt": n, "running": False, "eof": True}  # fmt: skip
    if n == 0 and attempt is None:
        return empty  # never ran yet
    row = sup.store.attempt(job["seq"], n)
    if row is None:
        raise P.RpcError(P.JOB_NOT_FOUND, f"job {id!r} has no attempt {n}", {"id": id, "attempt": n})
    running = row["finished_at"] is None
    if row["segment"] is None:  # never started: given to a worker (more may come), or could not start
        return {**empty, "running": running, "eof": not running}
    ext, start, length = (
        ("out", row["out_off"], row["out_len"]) if stream == "stdout"
        else ("err", row["err_off"], row["err_len"])
    )  # fmt: skip
    path = sup.paths.logs_dir / f"{row['segment']}.{ext}"
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            end = start + length if length is not None else size
            end = min(end, size)
            pos = min(start + offset, end)
            f.seek(pos)
            data = f.read(min(max_bytes, end - pos))
    except FileNotFoundError:
        return empty
    next_offset = offset + len(data)
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(data).decode(), "base64"
    return {
        "data": text, "encoding": encoding, "offset": offset, "next_offset": next_offset,
        "attempt": n, "running": running, "eof": not running and start + next_offset >= end,
    }  # fmt: skip


_wait_tokens = itertools.count()


@method(
    "job.wait",
    Param("id", "string", required=True),
    Param("timeout", "number", description="seconds to wait at most; null = forever", nullable=True),
    description="Answer when the job reaches a final state (completed, dead, cancelled) or the "
    "timeout passes; other clients are served meanwhile.",
    result='{"job": job object, "timed_out": bool}',
    errors=(P.JOB_NOT_FOUND,),
)
def wait(sup: Supervisor, send: Any, id: str, timeout: float | None) -> Any:
    job = find(sup, id)
    if job["state"] in J.FINAL_STATES:
        return {"job": job_view(job), "timed_out": False}
    if timeout is not None and timeout <= 0:
        return {"job": job_view(job), "timed_out": True}
    seq = job["seq"]
    token = next(_wait_tokens)

    def settled(final: dict[str, Any] | None) -> None:
        send({"job": job_view(final) if final else None, "timed_out": False})

    def abandoned(current: dict[str, Any] | None) -> None:
        send(error=_stopped_while_waiting(id, current))

    waiter = Waiter(settled, abandoned)

    def expired() -> None:
        if waiter.done:
            return
        waiters = sup.waiters.get(seq, [])
        if waiter in waiters:
            waiters.remove(waiter)
        waiter.done = True  # a timeout answers instead of the settle
        current = sup.store.get_by_seq(seq)
        send({"job": job_view(current) if current else None, "timed_out": True})

    sup.waiters.setdefault(seq, []).append(waiter)
    if timeout is not None:
        heapq.heappush(sup.wait_deadlines, (sup.current_mono + timeout, token, expired))
    return Deferred


def _stopped_while_waiting(job_id: str, job: dict[str, Any] | None) -> P.RpcError:
    state = job["state"] if job else "deleted"
    return P.RpcError(
        P.SHUTTING_DOWN, f"the daemon stopped before job {job_id!r} reached a final state (it is {state})",
        {"id": job_id, "job": job_view(job) if job else None},
    )  # fmt: skip
