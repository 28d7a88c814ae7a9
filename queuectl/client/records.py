"""What the Python client returns that is a plain JSON object: `TypedDict`s, ordinary
dicts typed for mypy (status, workers, queues, config, events...). Re-exported by
queuectl.client.models, beside the classes over jobs, attempts and log chunks."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class Skipped(TypedDict):
    index: int  # into the jobs given
    message: str
    code: int  # the error code it would have raised


class EnqueueManyResult(TypedDict):
    ids: list[str]
    count: int
    skipped: NotRequired[list[Skipped]]  # with skip_invalid


class JobLink(TypedDict):
    """A parent or dependent of a job (Job.parents, Job.dependents)."""

    id: str
    state: str
    last_error: str | None


class ScheduleLastJob(TypedDict):
    id: str
    state: str


class ScheduleInfo(TypedDict):
    """A recurring schedule (docs/rpc.md, schedule.add); each run is a job with id NAME@<slot>."""

    name: str
    cron: str | None
    every: float | None  # seconds between runs (or cron)
    tz: str
    overlap: Literal["skip", "queue", "allow"]
    catch_up: Literal["none", "latest", "all"]
    job: dict[str, Any]  # each run's job spec
    paused: bool
    expression: str
    next_run: str | None  # ISO 8601; None while paused
    last_job: ScheduleLastJob | None
    created_at: str
    updated_at: str


class ScheduleDetail(ScheduleInfo):
    """schedule.get: the schedule, its next runs and the last jobs it made (newest first)."""

    next_runs: list[str]
    next_runs_local: list[str]
    jobs: list[dict[str, Any]]


class ScheduleRemoved(TypedDict):
    removed: str


class RunningJob(TypedDict):
    job_id: str
    attempt: int
    started_at: str
    running_s: float


class WorkerChild(TypedDict):
    child: int
    pid: int
    state: Literal["idle", "busy", "stopping"]
    ready: bool
    job: RunningJob | None
    queued: int


class WorkersStatus(TypedDict):
    target: int
    running: int
    busy: int
    children: list[WorkerChild]
    daemon: str  # this daemon's name
    daemons: list[dict[str, Any]] | None  # every daemon of a shared database (PostgreSQL), else None


class Storage(TypedDict):
    """What the daemon keeps on disk, in bytes (logs: as measured at most a minute ago)."""

    db_bytes: int
    db_free_bytes: int  # free pages inside the file, reused before it grows
    wal_bytes: int
    logs_bytes: int


class PruneResult(TypedDict):
    """job.prune: jobs removed per final state (dry_run: that would be, with over_cap more
    by retain_max_jobs), whole log segments deleted and their bytes, the sizes after."""

    dry_run: bool
    jobs: dict[str, int]
    over_cap: int
    total: int
    segments_deleted: int
    bytes_reclaimed: int
    storage: Storage


class DaemonInfo(TypedDict):
    name: str  # `queuectl daemon --name` (default: the host's name); what `enqueue(on=...)` names
    pid: int
    version: str
    home: str
    socket: str
    started_at: str
    uptime_s: float
    shutting_down: bool
    waiting_clients: int
    fd_limit: int
    accepting: bool  # False while it refuses new clients (too few file descriptors free)
    storage: Storage
    pruned: dict[str, int]  # since it started: jobs, segments, bytes


class QueueInfo(TypedDict):
    """A named queue (docs/rpc.md, queue.add): its settings and what it holds now."""

    name: str
    concurrency: int  # slots its jobs may hold at once
    weight: int  # its share of the pool against other queues
    paused: bool
    pending: int
    running: int  # jobs processing
    assigned: int
    slots_in_use: int  # slots its running and assigned jobs hold
    slot_indices: list[int]
    oldest_pending_age_s: float | None
    counts: dict[str, int]  # jobs per state
    created_at: str
    rate: str | None  # its rate limit, "10/m"; None: none
    rate_limited: int  # pending jobs a rate limit (its own or config rate_limit) holds back now
    rate_free_at: str | None  # when the next of them may start (None: not held, or not yet known)


class RateLimitInfo(TypedDict):
    """daemon.status's rate_limit: config rate_limit, over every queue."""

    rate: str | None
    rate_limited: int
    rate_free_at: str | None


class JobHook(TypedDict):
    """A hook job a job fired (Job.hooks, from Client.get)."""

    id: str
    hook: Literal["success", "failure", "finish"]
    state: str
    exit_code: int | None
    last_error: str | None


class QueueChange(TypedDict):
    """queue.pause / queue.resume: whether it changed (a no-op is not an error), and the queue."""

    changed: bool
    queue: QueueInfo


class QueueRemoved(TypedDict):
    removed: str


class DaemonStatus(TypedDict):
    counts: dict[str, int]  # every state, zeros included (of one queue, with `queue`)
    queues: list[QueueInfo]  # by name (only that one, with `queue`)
    rate_limit: RateLimitInfo
    workers: WorkersStatus
    daemon: DaemonInfo


class MinuteCounts(TypedDict):
    minute: str  # ISO 8601, the minute's start
    completed: int
    failed: int  # failed attempts
    dead: int


class FinishedTotals(TypedDict):
    completed: int
    failed: int
    dead: int


class DaemonStats(TypedDict):
    """daemon.stats: jobs finished per minute over the last hour (60 entries, oldest first),
    counted in memory since the daemon started."""

    per_minute: list[MinuteCounts]
    totals: FinishedTotals


class Histogram(TypedDict):
    """Buckets as daemon.metrics sends them: upper bounds (seconds), the count of each
    bucket (not cumulative; one more than bounds: above the highest), their sum and count."""

    bounds: list[float]
    counts: list[int]
    sum: float
    count: int


class QueueMetrics(TypedDict):
    counts: dict[str, int]  # enqueued, started, completed, failed, dead, cancelled: since the daemon started
    states: dict[str, int]  # jobs per state now
    oldest_pending_age_seconds: float | None
    duration_seconds: Histogram
    pickup_seconds: Histogram


class WorkerMetrics(TypedDict):
    target: int
    running: int
    busy: int
    idle: int


class DaemonFacts(TypedDict):
    uptime_seconds: float
    rss_bytes: int | None
    started_at: float  # Unix time
    loop_turn_seconds: Histogram


class DaemonMetrics(TypedDict):
    """daemon.metrics: the raw numbers `queuectl metrics` renders for Prometheus."""

    queues: dict[str, QueueMetrics]
    workers: WorkerMetrics
    daemon: DaemonFacts


class ShutdownResult(TypedDict):
    stopping: bool
    pid: int


class ConfigEntry(TypedDict):
    key: str
    value: Any
    queue: str  # queue.* events
    concurrency: int
    weight: int
    kill: bool
    default: Any
    description: str


class ConfigChange(TypedDict):
    key: str
    value: Any
    queue: str  # queue.* events
    concurrency: int
    weight: int
    kill: bool


class DlqRetried(TypedDict):
    retried: list[str]


class Deleted(TypedDict):
    deleted: str


class Event(TypedDict, total=False):
    """A lifecycle event (docs/rpc.md, "Events"): `event`, `time` and `seq` always (a gap
    in seq: events this subscriber missed), the rest depending on the event."""

    event: str  # one of EventName (typed str: a newer daemon may publish others)
    time: str
    seq: int
    job_id: str
    attempt: int
    child: int
    exit_code: int | None
    error: str | None
    state: str
    retry_at: str
    workers: int
    key: str
    value: Any
    queue: str  # queue.* events
    concurrency: int
    weight: int
    kill: bool
    rate: str | None
