"""What the Python client returns: typed views of the daemon's JSON answers.

`Job`, `Attempt`, `LogChunk`, `WaitResult` and `FollowNote` are small read-only classes
over the JSON object the daemon sent (kept as `raw`, so nothing is lost or re-encoded:
the CLI prints `raw` for --json). Times are timezone-aware `datetime`s in UTC, parsed
when read; `raw` keeps the ISO strings (microseconds, `Z`). Answers that are plain
records (status, workers, config) are `TypedDict`s: ordinary dicts, typed for mypy.

No dataclasses here on purpose: `import dataclasses` pulls in `inspect`, which costs
more than the rest of the client put together (see docs/python.md, "Import cost").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast, get_args

# The plain records, re-exported: `from queuectl.client.models import DaemonStatus` as before.
from queuectl.client.records import ConfigChange as ConfigChange
from queuectl.client.records import ConfigEntry as ConfigEntry
from queuectl.client.records import DaemonInfo as DaemonInfo
from queuectl.client.records import DaemonMetrics as DaemonMetrics
from queuectl.client.records import DaemonStats as DaemonStats
from queuectl.client.records import DaemonStatus as DaemonStatus
from queuectl.client.records import Deleted as Deleted
from queuectl.client.records import DlqRetried as DlqRetried
from queuectl.client.records import EnqueueManyResult as EnqueueManyResult
from queuectl.client.records import Event as Event
from queuectl.client.records import FinishedTotals as FinishedTotals
from queuectl.client.records import JobHook as JobHook
from queuectl.client.records import JobLink as JobLink
from queuectl.client.records import MinuteCounts as MinuteCounts
from queuectl.client.records import PruneResult as PruneResult
from queuectl.client.records import QueueChange as QueueChange
from queuectl.client.records import QueueInfo as QueueInfo
from queuectl.client.records import QueueRemoved as QueueRemoved
from queuectl.client.records import RateLimitInfo as RateLimitInfo
from queuectl.client.records import RunningJob as RunningJob
from queuectl.client.records import ScheduleDetail as ScheduleDetail
from queuectl.client.records import ScheduleInfo as ScheduleInfo
from queuectl.client.records import ScheduleRemoved as ScheduleRemoved
from queuectl.client.records import ShutdownResult as ShutdownResult
from queuectl.client.records import Skipped as Skipped
from queuectl.client.records import WorkerChild as WorkerChild
from queuectl.client.records import WorkersStatus as WorkersStatus

# The job states (docs/lifecycle.md). `assigned`: handed to a worker that starts it as soon
# as it is free (not running yet); `blocked`: waiting for its parents (`after`). A final job never runs again unless retried.
JobState = Literal["scheduled", "blocked", "pending", "assigned", "processing", "completed", "failed", "dead",
                   "cancelled"]  # fmt: skip
STATES: tuple[JobState, ...] = get_args(JobState)
FINAL_STATES: frozenset[JobState] = frozenset({"completed", "dead", "cancelled"})

# The lifecycle events (docs/rpc.md, "Events"). An Event's `event` is one of these; a
# daemon newer than this client may publish others.
EventName = Literal[
    "job.enqueued", "job.unblocked", "job.blocked", "schedule.fired", "job.due", "job.assigned", "job.started", "job.returned", "job.completed",
    "job.failed", "job.dead", "job.cancelled", "job.interrupted", "job.retried", "job.deleted",
    "workers.changed", "config.changed", "queue.added", "queue.changed", "queue.paused", "queue.resumed",
    "queue.removed",
]  # fmt: skip
EVENT_NAMES: tuple[EventName, ...] = get_args(EventName)


def parse_time(text: Any) -> datetime | None:
    """The daemon's ISO 8601 UTC time (`2026-01-31T12:00:00.123456Z`) -> aware datetime."""
    if not isinstance(text, str):
        return None
    return datetime.fromisoformat(text)  # Python 3.11 reads the Z


class _View:
    """A read-only typed view of one JSON object from the daemon."""

    __slots__ = ("raw",)

    def __init__(self, raw: dict[str, Any]):
        self.raw = raw

    def to_dict(self) -> dict[str, Any]:
        """The JSON object as the daemon sent it (a shallow copy)."""
        return dict(self.raw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _View) and type(other) is type(self) and other.raw == self.raw

    __hash__ = None  # type: ignore[assignment]  # equal by value, and the value is a dict


class Attempt(_View):
    """One run of a job (`Job.attempts_detail`, from `Client.get`)."""

    __slots__ = ()

    @property
    def n(self) -> int:
        return int(self.raw["n"])

    @property
    def child(self) -> int | None:
        return self.raw.get("child")

    @property
    def pid(self) -> int | None:
        return self.raw.get("pid")

    @property
    def started_at(self) -> datetime | None:
        return parse_time(self.raw.get("started_at"))

    @property
    def finished_at(self) -> datetime | None:
        return parse_time(self.raw.get("finished_at"))

    @property
    def duration_ms(self) -> float | None:
        return self.raw.get("duration_ms")

    @property
    def exit_code(self) -> int | None:
        return self.raw.get("exit_code")

    @property
    def signal(self) -> int | None:
        return self.raw.get("signal")

    @property
    def error(self) -> str | None:
        return self.raw.get("error")

    @property
    def dropped_bytes(self) -> int:
        """Output dropped past the attempt's max_output (0: nothing; `truncated` says the same)."""
        return int(self.raw.get("dropped_bytes") or 0)

    @property
    def timed_out(self) -> bool:
        return bool(self.raw.get("timed_out"))

    @property
    def charged(self) -> bool:
        """Counted against max_retries (an attempt cut short by a daemon stop is not)."""
        return bool(self.raw.get("charged"))

    @property
    def queue(self) -> str | None:
        return self.raw.get("queue")

    @property
    def slots(self) -> int | None:
        return self.raw.get("slots")

    @property
    def slot(self) -> str | None:
        """The slot indices it held in its queue: "0", or "2,3" (its QUEUECTL_SLOT)."""
        return self.raw.get("slot")

    @property
    def stdout_bytes(self) -> int | None:
        return self.raw.get("stdout_bytes")

    @property
    def stderr_bytes(self) -> int | None:
        return self.raw.get("stderr_bytes")

    def __repr__(self) -> str:
        return f"Attempt(n={self.n}, exit_code={self.exit_code!r}, error={self.error!r})"


class Job(_View):
    """A job as the daemon reported it (docs/rpc.md, "The job object")."""

    __slots__ = ()

    @property
    def id(self) -> str:
        return str(self.raw["id"])

    @property
    def duplicate(self) -> bool:
        """From an enqueue with unique_key: this is the job that held the key already."""
        return bool(self.raw.get("duplicate"))

    @property
    def unique_key(self) -> str | None:
        return self.raw.get("unique_key")

    @property
    def command(self) -> str:
        return str(self.raw["command"])

    @property
    def state(self) -> JobState:
        """One of STATES."""
        return cast(JobState, str(self.raw["state"]))

    @property
    def is_final(self) -> bool:
        """completed, dead or cancelled: it will not run again unless retried."""
        return self.state in FINAL_STATES

    @property
    def priority(self) -> int:
        return int(self.raw.get("priority", 0))

    @property
    def attempts(self) -> int:
        """Attempts counted so far (the details, from `Client.get`, are `attempts_detail`)."""
        return int(self.raw.get("attempts", 0))

    @property
    def max_retries(self) -> int:
        return int(self.raw.get("max_retries", 0))

    @property
    def timeout(self) -> float | None:
        return self.raw.get("timeout")

    @property
    def run_at(self) -> datetime | None:
        """When a scheduled job, or a failed one waiting for its retry, becomes runnable."""
        return parse_time(self.raw.get("run_at"))

    @property
    def cwd(self) -> str | None:
        return self.raw.get("cwd")

    @property
    def queue(self) -> str:
        """The queue it waits in (docs/lifecycle.md, "Queues")."""
        return str(self.raw.get("queue", "default"))

    @property
    def slots(self) -> int:
        """Slots of its queue's concurrency and of the pool it holds while it runs."""
        return int(self.raw.get("slots", 1))

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.raw.get("tags") or {})

    @property
    def env(self) -> dict[str, str]:
        return dict(self.raw.get("env") or {})

    @property
    def on(self) -> str | None:
        """The name of the only daemon that may run it (`enqueue --on`); None: any daemon."""
        return self.raw.get("on")

    @property
    def created_at(self) -> datetime:
        created = parse_time(self.raw.get("created_at"))
        assert created is not None, "a job always has created_at"
        return created

    @property
    def updated_at(self) -> datetime:
        updated = parse_time(self.raw.get("updated_at"))
        assert updated is not None, "a job always has updated_at"
        return updated

    @property
    def started_at(self) -> datetime | None:
        """Of the latest attempt."""
        return parse_time(self.raw.get("started_at"))

    @property
    def finished_at(self) -> datetime | None:
        """Of the latest attempt (or when it was cancelled)."""
        return parse_time(self.raw.get("finished_at"))

    @property
    def exit_code(self) -> int | None:
        """Of the latest attempt; None when it was killed, timed out or never started."""
        return self.raw.get("exit_code")

    @property
    def last_error(self) -> str | None:
        return self.raw.get("last_error")

    @property
    def after_condition(self) -> str | None:
        """From `Client.get`: success, failure or always (what its parents must have done for
        it to run); None for a job without parents, or from methods that leave it out."""
        return self.raw.get("after_condition")

    @property
    def parents(self) -> list[JobLink] | None:
        """From `Client.get`: the jobs it waits for (`after`), each {id, state, last_error}."""
        links: list[JobLink] | None = self.raw.get("parents")
        return links

    @property
    def dependents(self) -> list[JobLink] | None:
        """From `Client.get`: the jobs waiting for it, each {id, state, last_error}."""
        links: list[JobLink] | None = self.raw.get("dependents")
        return links

    @property
    def on_success(self) -> str | None:
        """Its completion hooks (docs/lifecycle.md, "Completion hooks"): the command run as a
        job of its own when it completes; on_failure when it goes dead; on_finish either way."""
        return self.raw.get("on_success")

    @property
    def on_failure(self) -> str | None:
        return self.raw.get("on_failure")

    @property
    def on_finish(self) -> str | None:
        return self.raw.get("on_finish")

    @property
    def hook(self) -> str | None:
        """For a hook job: its kind (success, failure, finish); None for any other job."""
        return self.raw.get("hook")

    @property
    def hook_of(self) -> str | None:
        """For a hook job: the id of the job it reports on (None once that job is deleted)."""
        return self.raw.get("hook_of")

    @property
    def hooks(self) -> list[JobHook] | None:
        """From `Client.get`: the hook jobs it fired, oldest first, each {id, hook, state,
        exit_code, last_error}."""
        hooks: list[JobHook] | None = self.raw.get("hooks")
        return hooks

    @property
    def attempts_detail(self) -> list[Attempt] | None:
        """Each attempt (from `Client.get`; None from methods that leave them out)."""
        detail = self.raw.get("attempts_detail")
        return None if detail is None else [Attempt(a) for a in detail]

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, state={self.state!r}, command={self.command!r})"


class JobPage:
    """One page of `job.list` / `dlq.list`: the jobs, how many there are in all (of that
    state, queue and tags), and how many the filter selects (`matched`: with search or
    ids, fewer than total; how many pages there are)."""

    __slots__ = ("jobs", "total", "matched")

    def __init__(self, raw: dict[str, Any]):
        self.jobs = [Job(j) for j in raw["jobs"]]
        self.total: int = raw["total"]
        self.matched: int = raw.get("matched", self.total)

    def __repr__(self) -> str:
        return f"JobPage({len(self.jobs)} jobs of {self.total})"


class WaitResult(_View):
    """The answer of `job.wait`: the job when it settled (None: deleted meanwhile), and
    whether the wait ended by timing out instead."""

    __slots__ = ()

    @property
    def job(self) -> Job | None:
        job = self.raw.get("job")
        return None if job is None else Job(job)

    @property
    def timed_out(self) -> bool:
        return bool(self.raw.get("timed_out"))

    def __repr__(self) -> str:
        return f"WaitResult(job={self.job!r}, timed_out={self.timed_out})"


class LogChunk(_View):
    """A piece of one attempt's stdout or stderr, exactly the bytes the job wrote."""

    __slots__ = ("data",)

    def __init__(self, raw: dict[str, Any]):
        super().__init__(raw)
        text = raw.get("data") or ""
        if raw.get("encoding") == "base64":
            import base64  # only for output that is not UTF-8

            self.data: bytes = base64.b64decode(text)
        else:
            self.data = text.encode("utf-8")

    @property
    def attempt(self) -> int:
        """The attempt this is from (0: the job never ran)."""
        return int(self.raw.get("attempt", 0))

    @property
    def offset(self) -> int:
        return int(self.raw.get("offset", 0))

    @property
    def next_offset(self) -> int:
        return int(self.raw.get("next_offset", 0))

    @property
    def eof(self) -> bool:
        """The attempt has finished and this is the end of its output."""
        return bool(self.raw.get("eof"))

    @property
    def running(self) -> bool:
        return bool(self.raw.get("running"))

    def __repr__(self) -> str:
        return f"LogChunk(attempt={self.attempt}, offset={self.offset}, data={self.data[:40]!r}, eof={self.eof})"


class FollowNote:
    """What `follow_logs(..., notes=True)` says between the output:

    - "attempt": attempt `attempt` started (after an earlier one ended);
    - "waiting": no attempt runs: the job is scheduled, pending, assigned to a worker not free yet,
      or failed and waiting for its retry at `job.run_at` (said again only when that changes);
    - "final": the job is final (the last item).
    """

    __slots__ = ("kind", "job", "attempt")

    def __init__(self, kind: Literal["attempt", "waiting", "final"], job: Job, attempt: int):
        self.kind = kind
        self.job = job
        self.attempt = attempt

    def __repr__(self) -> str:
        return f"FollowNote({self.kind!r}, job={self.job!r}, attempt={self.attempt})"
