"""Multi-step operations written once for Client and AsyncClient: following logs across
attempts, waiting in slices. A plan is a generator that yields the steps it needs (_Call,
_Sleep, _AwaitEvent) and the items for the caller; a blocking driver (Client._steps) and
an async one (AsyncClient._steps) carry the steps out."""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any, TypeVar

from queuectl.client.models import FINAL_STATES, FollowNote, Job, LogChunk, WaitResult
from queuectl.errors import JobNotFound

T = TypeVar("T")

FOLLOW_POLL = 0.1  # seconds between reads of a running attempt's output
FOLLOW_RECHECK = 1.0  # seconds between looks at a waiting job (its events usually wake us first)
WAIT_SLICE = 60.0  # job.wait is asked for at most this long at a time (a dead daemon is noticed)


class _Call:
    __slots__ = ("method", "params", "timeout")

    def __init__(self, method: str, params: Any = None, timeout: float | None = None):
        self.method = method
        self.params = params
        self.timeout = timeout


class _Sleep:
    __slots__ = ("seconds",)

    def __init__(self, seconds: float):
        self.seconds = seconds


class _AwaitEvent:
    """Wait until the daemon publishes an event about this job, or timeout seconds."""

    __slots__ = ("job_id", "timeout")

    def __init__(self, job_id: str, timeout: float):
        self.job_id = job_id
        self.timeout = timeout


Step = _Call | _Sleep | _AwaitEvent
# A plan yields steps (the driver sends back a _Call's result, or throws its error in)
# and items for the caller; it returns its result.
Plan = Generator[Any, Any, T]


def attempt_plan(job_id: str, stream: str, attempt: int | None, follow: bool, last: bool = True) -> Plan[int]:
    """One attempt's output (the latest when attempt is None), to what is there now, or
    with follow until the attempt has finished. Yields each chunk with data, and with last
    (or when output was dropped) the chunk that ended it even when empty (it says which
    attempt, whether eof, and dropped_bytes).
    Returns the attempt number (0: the job never ran)."""
    offset = 0
    params: dict[str, Any] = {"id": job_id, "stream": stream, "attempt": attempt}
    while True:
        chunk = LogChunk((yield _Call("job.logs", {**params, "offset": offset})))
        params["attempt"] = chunk.attempt  # stay on one attempt while following
        offset = chunk.next_offset
        ended = chunk.eof or not chunk.data and (not follow or not chunk.running and chunk.attempt == 0)
        # (the ending chunk of an attempt whose output was cut, too: it says how much was dropped)
        if chunk.data or (ended and (last or chunk.raw.get("dropped_bytes"))):
            yield chunk
        if ended:
            return chunk.attempt
        if not chunk.data:
            yield _Sleep(FOLLOW_POLL)


def waiting_key(job: Job, done: int) -> tuple[Any, ...] | None:
    """What identifies the situation of a job that runs no attempt (a note is said once per
    situation); None while an attempt is about to show (processing)."""
    if job.state == "scheduled":
        return (job.state, job.raw.get("run_at"))
    if job.state == "failed":
        return (job.state, job.attempts, job.raw.get("run_at"))
    if job.state in ("pending", "assigned"):
        return (job.state, done)
    return None


def follow_plan(job_id: str, stream: str, notes: bool) -> Plan[None]:
    """The job's output until it is final: the latest attempt's, then each new attempt's in
    turn. While no attempt runs, wait for the job's events (or look again every
    FOLLOW_RECHECK seconds). With notes, FollowNotes between the chunks."""
    job = Job((yield _Call("job.get", {"id": job_id, "attempts": False})))
    done = max(job.attempts - 1, 0)  # attempts shown in full; we start at the latest
    first = done + 1
    said: tuple[Any, ...] | None = None
    while True:
        if job.attempts > done:
            n = done + 1
            if n > first and notes:  # moving on from an attempt shown above
                yield FollowNote("attempt", job, n)
            try:
                yield from attempt_plan(job_id, stream, n, True, last=False)
                done = n
            except JobNotFound:
                pass  # given back before it started (or the job deleted): look again below
            job = Job((yield _Call("job.get", {"id": job_id, "attempts": False})))
            said = None
            continue
        if job.state in FINAL_STATES:
            if notes:
                yield FollowNote("final", job, done)
            return
        key = waiting_key(job, done)
        if key is not None and key != said:
            said = key
            if notes:
                yield FollowNote("waiting", job, done)
        yield _AwaitEvent(job_id, FOLLOW_RECHECK)
        job = Job((yield _Call("job.get", {"id": job_id, "attempts": False})))


def wait_plan(job_id: str, timeout: float | None, client_timeout: float) -> Plan[WaitResult]:
    """job.wait in slices of at most WAIT_SLICE, so a daemon that died is noticed (each
    request's client timeout leaves room for the daemon's own); the daemon answers at once
    when the job settles, so the slices cost nothing."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        part = WAIT_SLICE if remaining is None else min(remaining, WAIT_SLICE)
        result = yield _Call("job.wait", {"id": job_id, "timeout": part}, part + client_timeout)
        if not result["timed_out"] or (remaining is not None and remaining <= WAIT_SLICE):
            return WaitResult(result)
