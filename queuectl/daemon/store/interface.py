"""What the daemon needs from storage, as one interface, and the records it trades in.

The daemon's core and its RPC methods use storage only through `Storage`. SQLite
(store/sqlite.py) is the embedded implementation; PostgreSQL (store/postgres/, one
daemons share one database) implements the same methods and SharedStorage's; nothing
above it but daemon/cluster.py knows which one it has (store.open_store picks). All SQL
lives in the implementations.

Writes happen inside `transaction()` (the loop opens one per turn: group commit)
and, within it, each request inside a `savepoint()`. Counts per state are kept in
memory by the store (the daemon is the only writer), so `status` scans nothing.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from queuectl import jobs as J
from queuectl.jobs import JobSpec
from queuectl.queues import QueueConfig
from queuectl.ratelimit import Rate
from queuectl.retention import Candidate


class UnusableDatabase(Exception):
    """The database cannot be used: damaged, not a database, from a newer queuectl, or
    not openable. The message is one line for the operator, naming the database."""

    def __init__(self, message: str, damaged: bool = False):
        super().__init__(message)
        self.damaged = damaged


class DuplicateIdError(Exception):
    """An id exists already, or appears twice in one batch (`index` in the batch)."""

    def __init__(self, job_id: str, index: int, why: str):
        super().__init__(why)
        self.job_id = job_id
        self.index = index
        self.why = why


class ClaimLost(Exception):
    """claim(): the job is not pending any more, or another daemon sharing the database is
    claiming it right now. Nothing was written; dispatch moves on to the next job."""

    def __init__(self, seq: int):
        super().__init__(f"job {seq} was claimed elsewhere")
        self.seq = seq


class QueueFull(ClaimLost):
    """claim(): the job's queue has no room left for it (its concurrency, or its rate
    limit), counting what every daemon sharing the database holds or started of it.
    Nothing was written; the job stays pending."""


class PoolFull(QueueFull):
    """claim(): config `rate_limit` (every queue's starts together) has no room, counting
    every daemon's starts. No job but a hook may start until it has."""


class KeyHeldError(Exception):
    """A unique key is held by a job already (`job_id`), or is given twice in one batch
    (`index` in the batch of the later one)."""

    def __init__(self, key: str, job_id: str, index: int):
        super().__init__(f"unique key {key!r} is held by job {job_id!r}")
        self.key = key
        self.job_id = job_id
        self.index = index


@dataclass(slots=True)
class Runnable:
    """What dispatch needs of a pending job, kept in the in-memory window."""

    seq: int
    id: str
    command: str
    priority: int
    timeout: float | None
    cwd: str | None
    env: dict[str, str] | None
    max_retries: int
    attempts: int
    charged: int
    state: str = J.PENDING  # as inserted (scheduled or pending)
    queue: str = "default"
    slots: int = 1  # of its queue's concurrency and of the pool, held while it runs
    hook: str | None = None  # a hook job's kind (success, failure, finish); None: an ordinary job
    hooks: bool = False  # it has hooks of its own (on_success, ...)
    ready_at: float = 0.0  # when it became pending (enqueued, due, retried): pickup latency's start
    max_output: int | None = None  # its own output limit per attempt; None: config max_output_bytes

    @property
    def key(self) -> tuple[int, int]:
        """Dispatch order: higher priority first, then enqueue order."""
        return (-self.priority, self.seq)


@dataclass(slots=True)
class DepState:
    """What releasing a dependent needs to know of it."""

    seq: int
    id: str
    state: str
    condition: str | None  # after_condition; None: it has no parents
    waiting_on: int  # parents not final yet (while blocked)
    run_at: float | None
    cancelled_by: int | None  # the parent whose end cancelled it


class Storage(Protocol):
    """Everything the daemon asks of its database."""

    # Exceptions that mean "the database could not do it" (disk full, I/O error, a lost
    # connection): the transaction is rolled back and nothing of it happened.
    errors: tuple[type[BaseException], ...]
    # Jobs per state, kept current by the store's own writes; and the same per queue
    # (every queue that holds a job or exists, each with every state).
    counts: dict[str, int]
    queue_counts: dict[str, dict[str, int]]
    # This daemon's name (queuectl/identity.py), recorded on each attempt claim() makes.
    daemon_name: str
    # Other daemons may write the same database (PostgreSQL): it is a SharedStorage too.
    shared: bool

    # --- life and transactions
    def transaction(self) -> AbstractContextManager[None]: ...
    def savepoint(self) -> AbstractContextManager[None]: ...
    def reload_counts(self) -> None: ...
    def next_epoch(self) -> int: ...
    def set_synchronous(self, mode: str) -> None: ...
    def start_checkpointer(self) -> None: ...
    def close(self) -> None: ...

    # --- settings
    def config_load(self) -> dict[str, Any]: ...
    def config_save(self, key: str, value: Any) -> None: ...

    # --- queues (the `queues` table; `default` always exists)
    def queues_load(self) -> list[QueueConfig]: ...
    def queue_save(self, queue: QueueConfig) -> None: ...
    def queue_delete(self, name: str) -> None: ...
    def oldest_pending(self, queue: str) -> float | None: ...

    # --- enqueue
    def ids_taken(self, ids: list[str]) -> set[str]: ...
    # unique key -> the id of the job holding it, for the keys that are held. insert_jobs
    # refuses a held key atomically (KeyHeldError): a unique index, not a read-then-write.
    def key_holders(self, keys: list[str]) -> dict[str, str]: ...
    def insert_jobs(self, specs: list[JobSpec], now: float, max_retries: int,
                    default_timeout: float | None) -> list[Runnable]: ...  # fmt: skip

    # --- reads (jobs as dicts of their columns, times in unix seconds)
    def get(self, job_id: str) -> dict[str, Any] | None: ...
    def get_by_seq(self, seq: int) -> dict[str, Any] | None: ...
    def list_jobs(self, state: str | None = None, limit: int = 100, offset: int = 0,
                  newest_first: bool = False, search: str | None = None,
                  order: str = "created", ids: list[str] | None = None, queue: str | None = None,
                  tags: dict[str, str] | None = None) -> list[dict[str, Any]]: ...  # fmt: skip
    def count_jobs(self, state: str | None = None, search: str | None = None,
                   ids: list[str] | None = None, queue: str | None = None,
                   tags: dict[str, str] | None = None) -> int: ...  # fmt: skip
    def attempts_of(self, seq: int) -> list[dict[str, Any]]: ...
    def attempt(self, seq: int, n: int) -> dict[str, Any] | None: ...
    # Pending jobs this daemon may run: unpinned, or pinned to daemon_name (`enqueue --on`).
    def runnable_window(self, limit: int, queue: str = "default") -> list[Runnable]: ...
    def runnable(self, seq: int) -> Runnable | None: ...
    def timed_window(self, limit: int) -> list[tuple[float, int]]: ...
    def segments_in_use(self, segments: set[str]) -> set[str]: ...
    # --- completion hooks: a hook job's stdin; the hook jobs of a job, oldest first
    def stdin_of(self, seq: int) -> bytes | None: ...
    def hooks_of(self, seq: int) -> list[dict[str, Any]]: ...
    # --- rate limits: (queue, started_at) of the attempts started after `since`, oldest first
    def starts_since(self, since: float) -> list[tuple[str, float]]: ...

    # --- state changes (each knows the state it leaves, for the counts)
    def make_runnable(self, seq: int, now: float) -> bool: ...
    # (`queue`: the job's queue, for the counts per queue)
    # `limits`: the job's queue; on a shared database its concurrency and rate limit are
    # checked against every daemon's jobs of it (QueueFull); `pool_rate`, config rate_limit,
    # against every daemon's starts (PoolFull). A single daemon's dispatch has checked
    # both already.
    def claim(self, job: Runnable, child: int, now: float, slot: str = "0",
              max_output: int | None = None, limits: QueueConfig | None = None,
              pool_rate: Rate | None = None) -> int: ...  # fmt: skip
    # A start may be held and written with its attempt's finish (one write for a short
    # job); write_starts() writes what is held, before the turn reads jobs or commits.
    def mark_started(self, seq: int, attempt: int, t: float, pid: int, segment: str,
                     out_off: int, err_off: int, queue: str = "default") -> None: ...  # fmt: skip
    def write_starts(self) -> None: ...
    def return_unstarted(self, seq: int, attempt: int, now: float, queue: str = "default") -> None: ...
    def finish_attempt(self, seq: int, attempt: int, now: float, *, exit_code: int | None,
                       signal: int | None, timed_out: bool, error: str | None,
                       out_len: int | None, err_len: int | None, charged: bool,
                       new_state: str, run_at: float | None,
                       last_error: str | None, started: bool = True,
                       queue: str = "default", dropped: int = 0) -> bool: ...  # fmt: skip
    def requeue_interrupted(self, now: float) -> list[tuple[int, str, int]]: ...
    def shift_relative_waits(self, step: float) -> int: ...
    def retry(self, seq: int, state: str, now: float, queue: str = "default") -> None: ...
    def cancel(self, seq: int, state: str, now: float, queue: str = "default") -> None: ...
    def delete(self, seq: int, state: str, queue: str = "default") -> set[str]: ...

    # --- retention (queuectl/retention.py): a final state's oldest finished jobs that nothing
    # keeps (no unique key held, no unfinished dependent), and removing them in batches
    def prune_candidates(self, state: str, before: float | None, limit: int,
                         queue: str | None = None) -> list[Candidate]: ...  # fmt: skip
    def prune_count(self, state: str, before: float, queue: str | None = None) -> int: ...
    def prune_jobs(self, seqs: list[int]) -> tuple[dict[str, int], set[str]]: ...
    def file_sizes(self) -> dict[str, int]: ...

    # --- dependencies (`after`): edges (parent seq, child seq) and blocked jobs
    def job_refs(self, ids: list[str]) -> dict[str, tuple[int, str]]: ...
    def block(self, rows: list[tuple[int, str, str, int]], edges: list[tuple[int, int]]) -> None: ...
    def dependents(self, seq: int) -> list[int]: ...
    def parents(self, seq: int) -> list[int]: ...
    def dep_state(self, seq: int, lock: bool = False) -> DepState | None: ...
    def set_waiting(self, seq: int, n: int) -> None: ...
    def unblock(self, seq: int, run_at: float | None, now: float) -> str: ...
    def cancel_dependent(self, seq: int, now: float, error: str, by: int | None) -> str: ...
    def reblock(self, seq: int, waiting_on: int, now: float) -> None: ...
    def unlink(self, seq: int) -> None: ...
    def links(self, seq: int, limit: int = 1000) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]: ...

    # --- schedules: rows as dicts (job: its JSON spec; times in unix seconds)
    def schedule_get(self, name: str) -> dict[str, Any] | None: ...
    # (the schedule, busy) to fire it: locked for this turn; busy: another daemon fires it now
    def schedule_to_fire(self, name: str) -> tuple[dict[str, Any] | None, bool]: ...
    def schedule_list(self) -> list[dict[str, Any]]: ...
    def schedule_put(self, sched: dict[str, Any]) -> None: ...
    def schedule_advance(self, name: str, next_at: float | None, last_job: str | None, now: float) -> None: ...
    def schedule_delete(self, name: str) -> None: ...
    def schedule_jobs(self, name: str, limit: int) -> list[dict[str, Any]]: ...


class SharedStorage(Storage, Protocol):
    """A database several daemons share (PostgreSQL; docs/postgres.md): leases, and being
    woken by the others' writes (daemon/cluster.py uses these)."""

    inbox: dict[str, list[Any]]  # what the others told, not taken yet (take_inbox)
    logs_dir: Path | None  # the daemon's log segments: an ended attempt's output is copied from there

    # Lock these pending jobs for the turn, skipping those another daemon is claiming.
    def reserve(self, seqs: list[int]) -> set[int]: ...
    def register(self, lease: float, workers: int) -> None: ...
    def renew(self, lease: float, workers: int, running: int) -> bool: ...
    def resign(self) -> None: ...
    def take_back_own(self, now: float) -> list[tuple[int, str, int]]: ...
    # After a reconnect (`reconnected`): what the database says this daemon holds, and
    # putting back some of it.
    reconnected: bool
    def held_here(self) -> dict[int, int]: ...
    def take_back(self, now: float, seqs: list[int]) -> list[tuple[int, str, int]]: ...
    def rescue_lapsed(self, now: float) -> dict[str, list[tuple[int, str, int]]]: ...
    def daemons(self) -> list[dict[str, Any]]: ...
    def pinned(self) -> dict[str, int]: ...
    def wake_fd(self) -> int | None: ...
    def take_wakes(self) -> bool: ...
    # What the others sent: events ("e", each with its "daemon") and jobs whose waits end ("r").
    def take_inbox(self) -> dict[str, list[Any]]: ...
    # An attempt's stdout or stderr as copied into the database (None: nothing of it was).
    def output_read(self, seq: int, attempt: int, stream: str, offset: int, limit: int) -> bytes | None: ...
    # (events.Sharing: this transaction's events and releases, told at commit)
    def share(self, kind: str, item: Any) -> None: ...
    def unshare(self, kind: str) -> None: ...
