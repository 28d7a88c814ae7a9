"""The Python client library: `from queuectl import Client` (docs/python.md).

One typed method per RPC method, over the same transport (queuectl.client.rpc) and the
same socket discovery and autostart rules as the CLI, which is built on this class.

What the synchronous Client and the AsyncClient (queuectl.client.aio) share lives beside
it: finding the socket (location.py), checking and building params (params.py), and the
multi-step operations written once as "plans" (plans.py: following logs across attempts,
waiting in slices), run by a blocking driver here and an async one there.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from queuectl.client.location import Location
from queuectl.client.metrics_calls import MetricsCalls
from queuectl.client.models import (
    ConfigChange,
    ConfigEntry,
    DaemonStats,
    DaemonStatus,
    Deleted,
    DlqRetried,
    EnqueueManyResult,
    FollowNote,
    Job,
    JobPage,
    LogChunk,
    ShutdownResult,
    WaitResult,
    WorkersStatus,
)
from queuectl.client.params import (
    LONG_CALL,
    NO_AUTOSTART,
    PAGE_SIZE,
    AfterCondition,
    OnDuplicate,
    UniqueWhile,
    check_client_timeout,
    check_wait_timeout,
    dlq_list_params,
    dlq_retry_params,
    enqueue_spec,
    list_params,
    status_params,
    with_cwd,
)
from queuectl.client.plans import Plan, _AwaitEvent, _Call, _Sleep, attempt_plan, follow_plan, wait_plan
from queuectl.client.prune_calls import PruneCalls
from queuectl.client.queue_calls import QueueCalls
from queuectl.client.rpc import DEFAULT_TIMEOUT, RpcClient, probe
from queuectl.client.schedule_calls import ScheduleCalls

if TYPE_CHECKING:
    from queuectl.client.events import EventStream

T = TypeVar("T")


# --- the client ----------------------------------------------------------------------------

class Client(QueueCalls, ScheduleCalls, MetricsCalls, PruneCalls):
    """A client of the queuectl daemon. Every method is one request (or a few), each with
    the client's timeout; see docs/python.md.

    Safe to share between threads (each call borrows its own socket) and across
    `os.fork()` (the child makes its own ZeroMQ context on first use)."""

    def __init__(self, socket: str | os.PathLike[str] | None = None, *, home: str | os.PathLike[str] | None = None,
                 timeout: float = DEFAULT_TIMEOUT, autostart: bool = False):  # fmt: skip
        """socket: the control socket's path (default: found as the CLI finds it; see
        Location). home: a --home directory. timeout: seconds to wait for each answer.
        autostart: start the user's own daemon in the background when none runs (as the
        CLI does; never for the system service or an explicit socket)."""
        import threading

        self.timeout = check_client_timeout(timeout)
        self.location = Location(socket, home)
        self.socket_path = self.location.socket_path
        self.autostart = autostart
        self._start_checked = False
        self._start_lock = threading.Lock()
        self.rpc = RpcClient(self.socket_path, self.timeout)

    # The namespaces are made on use, not kept: a client in a reference cycle would be
    # left to the garbage collector, which may finalize its ZeroMQ context before its
    # sockets and then wait forever.
    @property
    def dlq(self) -> DlqMethods:
        """dlq.list / dlq.retry."""
        return DlqMethods(self)

    @property
    def workers(self) -> WorkersMethods:
        """workers.status / scale / stop."""
        return WorkersMethods(self)

    @property
    def config(self) -> ConfigMethods:
        """config.get / set / list."""
        return ConfigMethods(self)

    def __repr__(self) -> str:
        return f"Client(socket={str(self.socket_path)!r})"

    # --- plumbing --------------------------------------------------------------------------

    def ensure_daemon(self) -> None:
        """Start the user's own daemon if the autostart rules allow it and none runs
        (once per client; what `autostart=True` does before the first request)."""
        with self._start_lock:
            if self._start_checked:
                return
            if self.location.may_autostart():
                from queuectl.client.autostart import ensure_daemon

                ensure_daemon(self.location.paths, self.location.home)
            self._start_checked = True

    def call(self, method: str, params: Any = None, timeout: float | None = None) -> Any:
        """Any RPC method, raw: the `result` as parsed JSON, or the error raised as its
        RemoteError subclass. timeout: seconds to wait for the answer (default: the client's)."""
        if self.autostart and not self._start_checked and method not in NO_AUTOSTART:
            self.ensure_daemon()
        return self.rpc.call(method, params, timeout)

    def _steps(self, plan: Plan[T]) -> Generator[Any, None, T]:
        """Run a plan: carry out its steps, yield its items, return its result."""
        events: EventStream | None = None
        try:
            step = next(plan)
            while True:
                if isinstance(step, _Call):
                    try:
                        value = self.call(step.method, step.params, step.timeout)
                    except Exception as exc:
                        step = plan.throw(exc)
                        continue
                    step = plan.send(value)
                elif isinstance(step, _Sleep):
                    time.sleep(step.seconds)
                    step = next(plan)
                elif isinstance(step, _AwaitEvent):
                    if events is None:
                        from queuectl.client.events import EventStream

                        events = EventStream(self.socket_path, ("job.",))
                    deadline = time.monotonic() + step.timeout
                    while (left := deadline - time.monotonic()) > 0:
                        event = events.next(left)
                        if event is None or event.get("job_id") == step.job_id:
                            break
                    step = next(plan)
                else:
                    yield step
                    step = next(plan)
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            plan.close()
            if events is not None:
                events.close()

    def _run(self, plan: Plan[T]) -> T:
        steps = self._steps(plan)
        while True:
            try:
                next(steps)
            except StopIteration as stop:
                result: T = stop.value
                return result

    def close(self) -> None:
        """Close the sockets (a later call opens new ones)."""
        self.rpc.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _long(self, timeout: float | None) -> float:
        return max(self.timeout, LONG_CALL) if timeout is None else timeout

    # --- job.* -----------------------------------------------------------------------------

    def enqueue(
        self, command: str, *, id: str | None = None, priority: int | None = None,
        timeout: float | None = None, max_retries: int | None = None,
        run_at: str | datetime | None = None, delay: float | None = None,
        cwd: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None,
        queue: str | None = None, slots: int | None = None, tags: Mapping[str, str] | None = None,
        unique_key: str | None = None, unique_while: UniqueWhile | None = None,
        on_duplicate: OnDuplicate | None = None, after: str | Iterable[str] | None = None,
        after_condition: AfterCondition | None = None, on_success: str | None = None,
        on_failure: str | None = None, on_finish: str | None = None, max_output: int | str | None = None,
        on: str | None = None,
    ) -> Job:  # fmt: skip
        """Add a job: `command` runs with `sh -c` in `cwd` (default: this process's current
        directory), with the daemon's environment plus `env`. None means the default
        (docs/rpc.md, job.enqueue). run_at: an aware datetime or an ISO 8601 string.
        queue: one that exists (queue_add); slots: of its concurrency it holds while it runs; tags:
        KEY: VALUE strings to find it by (list(tags=...)). unique_key: while a job holds this key
        (unique_while: "pending", "active" (the default) or "kept"), enqueueing it again returns that
        job, `duplicate` True (or with on_duplicate="error" raises DuplicateId, its data naming the
        job). after: ids of jobs it waits for (`blocked` until they are final), after_condition:
        success, failure or always. on_success/on_failure/on_finish: hook commands, run as jobs when
        it completes/dies/either. max_output: output an attempt keeps (bytes, or "10M"). on: the name
        of the only daemon that may run it (daemons sharing a PostgreSQL database; docs/postgres.md)."""
        options = {k: v for k, v in locals().items() if k not in ("self", "command")}  # (the keywords above)
        return Job(self.call("job.enqueue", enqueue_spec(command, **options)))

    def enqueue_spec(self, spec: Mapping[str, object]) -> Job:
        """Add a job given as a JSON object (job.enqueue's params), e.g. read from a file.
        Sent as it is, but for cwd, which defaults to this process's current directory."""
        return Job(self.call("job.enqueue", with_cwd(spec)))

    def enqueue_many(self, jobs: Iterable[Mapping[str, object]], *, dry_run: bool = False,
                     skip_invalid: bool = False) -> EnqueueManyResult:  # fmt: skip
        """Add up to 10,000 jobs in one transaction: all or none (the error's data["index"]
        names the first bad one), or with skip_invalid the good ones and `skipped` listing the
        rest. dry_run: check them (ids against the queue too), add none."""
        params: dict[str, object] = {"jobs": [with_cwd(j) if isinstance(j, Mapping) else j for j in jobs]}
        if dry_run:
            params["dry_run"] = True
        if skip_invalid:
            params["skip_invalid"] = True
        result: EnqueueManyResult = self.call("job.enqueue_many", params)
        return result

    def get(self, job_id: str, *, attempts: bool = True) -> Job:
        """One job; with attempts, its `attempts_detail` too. JobNotFound if there is none."""
        return Job(self.call("job.get", {"id": job_id, "attempts": attempts}))

    def list(self, state: str | None = None, *, search: str | None = None, newest_first: bool = False,
             order: str | None = None, limit: int | None = None, page_size: int = PAGE_SIZE,
             queue: str | None = None, tags: Mapping[str, str] | None = None) -> Iterator[Job]:  # fmt: skip
        """Every job (of one state, of one queue, with all these tags; whose id or command
        contains `search`), in enqueue order
        (or newest first, or `order` "priority" / "run_at"), fetched a page at a time as
        you iterate. Jobs that change meanwhile may show twice or not at all, as with any
        offset paging: list by state only what no longer changes, or take `list_page`."""
        offset = 0
        while limit is None or offset < limit:
            size = page_size if limit is None else min(page_size, limit - offset)
            page = self.list_page(state, limit=size, offset=offset, newest_first=newest_first,
                                  search=search, order=order, queue=queue, tags=tags)  # fmt: skip
            yield from page.jobs
            offset += len(page.jobs)
            if len(page.jobs) < size:
                return

    def list_page(self, state: str | None = None, *, limit: int = 100, offset: int = 0, newest_first: bool = False,
                  search: str | None = None, order: str | None = None, queue: str | None = None,
                  tags: Mapping[str, str] | None = None) -> JobPage:  # fmt: skip
        """One page of `job.list`: `jobs`, `total` (of that state, queue and tags, regardless
        of search) and `matched` (what the whole filter selects)."""
        params = list_params(state, limit, offset, newest_first, search, order, queue, tags)
        return JobPage(self.call("job.list", params))

    def wait(self, job_id: str, timeout: float | None = None) -> WaitResult:
        """Wait until the job is final (completed, dead or cancelled; a failing job is
        retried first) or `timeout` seconds have passed (None: no limit). ShuttingDown if
        the daemon stops first (its data["job"] is the job then)."""
        check_wait_timeout(timeout)
        return self._run(wait_plan(job_id, timeout, self.timeout))

    def read_logs(self, job_id: str, *, stream: Literal["stdout", "stderr"] = "stdout", attempt: int | None = None,
                  offset: int = 0, max_bytes: int | None = None) -> LogChunk:  # fmt: skip
        """One chunk of one attempt's output (job.logs), from `offset`."""
        params: dict[str, object] = {"id": job_id, "stream": stream, "attempt": attempt, "offset": offset}
        if max_bytes is not None:
            params["max_bytes"] = max_bytes
        return LogChunk(self.call("job.logs", params))

    def logs(self, job_id: str, *, stream: Literal["stdout", "stderr"] = "stdout", attempt: int | None = None) -> bytes:
        """One attempt's output so far (default: the latest attempt), exactly as written."""
        return b"".join(c.data for c in self.iter_logs(job_id, stream=stream, attempt=attempt))

    def iter_logs(self, job_id: str, *, stream: Literal["stdout", "stderr"] = "stdout", attempt: int | None = None,
                  follow: bool = False) -> Iterator[LogChunk]:  # fmt: skip
        """One attempt's output as it is read, chunk by chunk (the last one may be empty:
        it says which attempt was read, and `eof`); with follow, until the attempt ends."""
        return self._steps(attempt_plan(job_id, stream, attempt, follow))

    @overload
    def follow_logs(self, job_id: str, *, stream: Literal["stdout", "stderr"] = ...,
                    notes: Literal[False] = ...) -> Iterator[LogChunk]: ...  # fmt: skip
    @overload
    def follow_logs(self, job_id: str, *, stream: Literal["stdout", "stderr"] = ...,
                    notes: Literal[True]) -> Iterator[LogChunk | FollowNote]: ...  # fmt: skip
    def follow_logs(self, job_id: str, *, stream: Literal["stdout", "stderr"] = "stdout",
                    notes: bool = False) -> Iterator[LogChunk] | Iterator[LogChunk | FollowNote]:  # fmt: skip
        """The job's output until it is final, across its attempts (what `queuectl logs
        --follow` prints): the latest attempt's, then each retry's as it runs, waiting while
        the job is scheduled, pending, assigned or backing off. With notes, FollowNotes say when an
        attempt starts, what the job waits for, and that it is final."""
        return self._steps(follow_plan(job_id, stream, notes))

    def cancel(self, job_id: str, *, with_dependents: bool = False, timeout: float | None = None) -> Job:
        """Cancel a job that has not finished; a running one is killed first (the answer
        waits for that, hence the longer default timeout). Its dependents that need it to
        succeed are cancelled with it; with_dependents: every job downstream of it too."""
        params = {"id": job_id, **({"with_dependents": True} if with_dependents else {})}
        return Job(self.call("job.cancel", params, self._long(timeout)))

    def retry(self, job_id: str, *, timeout: float | None = None) -> Job:
        """Run a failed or dead job again now, with fresh retries."""
        return Job(self.call("job.retry", {"id": job_id}, self._long(timeout)))

    def delete(self, job_id: str, *, timeout: float | None = None) -> Deleted:
        """Remove a job that is not running, with its attempts and output."""
        result: Deleted = self.call("job.delete", {"id": job_id}, self._long(timeout))
        return result

    # --- daemon.*, rpc.*, events -----------------------------------------------------------

    def status(self, *, queue: str | None = None) -> DaemonStatus:
        """Counts of jobs per state, each queue, the workers, the daemon (with queue: that
        queue's counts, and only it in `queues`). Never starts a daemon."""
        result: DaemonStatus = self.call("daemon.status", status_params(queue))
        return result

    def stats(self) -> DaemonStats:
        """Jobs finished per minute over the last hour, and totals since the daemon started."""
        result: DaemonStats = self.call("daemon.stats")
        return result

    def shutdown(self, *, wait: bool = False) -> ShutdownResult:
        """Stop the daemon gracefully (running jobs get shutdown_grace to finish); with
        wait, return once it has exited."""
        result: ShutdownResult = self.call("daemon.shutdown")
        self.rpc.close()  # nothing more to say to this daemon
        if wait:
            self.wait_stopped()
        return result

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait until no daemon listens on the socket; False if one still does after
        timeout seconds (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while probe(self.socket_path) == "up":
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def discover(self) -> dict[str, Any]:
        """rpc.discover: every method, its params and errors (OpenRPC-style)."""
        result: dict[str, Any] = self.call("rpc.discover")
        return result

    def events(self, topics: Iterable[str] = ("",), *, wait: bool = True) -> EventStream:
        """Lifecycle events as they happen (an iterator; close it, or use `with`). topics:
        event-name prefixes, e.g. ("job.",). With wait (the default) it returns once the
        daemon has the subscription, so what you do next is seen; without, it also
        connects to a daemon that starts later."""
        from queuectl.client.events import EventStream

        if self.autostart:
            self.ensure_daemon()
        stream = EventStream(self.socket_path, tuple(topics) or ("",), self.timeout if wait else None)
        if wait:
            try:
                # One round trip: the daemon takes new subscriptions before requests, so once
                # this is answered it publishes to us.
                self.call("workers.status")
            except BaseException:
                stream.close()
                raise
        return stream


class DlqMethods:
    """dlq.*: jobs that ran out of retries (state dead)."""

    def __init__(self, client: Client):
        self._client = client

    def list(self, *, limit: int | None = None, page_size: int = PAGE_SIZE, queue: str | None = None) -> Iterator[Job]:
        """Dead jobs (of one queue), oldest first, a page at a time as you iterate."""
        offset = 0
        while limit is None or offset < limit:
            size = page_size if limit is None else min(page_size, limit - offset)
            page = self.list_page(limit=size, offset=offset, queue=queue)
            yield from page.jobs
            offset += len(page.jobs)
            if len(page.jobs) < size:
                return

    def list_page(self, *, limit: int = 100, offset: int = 0, queue: str | None = None) -> JobPage:
        return JobPage(self._client.call("dlq.list", dlq_list_params(limit, offset, queue)))

    def retry(self, job_id: str | None = None, *, all: bool = False) -> DlqRetried:
        """Move one dead job (or all=True: every one) back to pending with fresh retries."""
        result: DlqRetried = self._client.call("dlq.retry", dlq_retry_params(job_id, all))
        return result


class WorkersMethods:
    """workers.*: the pool of worker children."""

    def __init__(self, client: Client):
        self._client = client

    def status(self) -> WorkersStatus:
        result: WorkersStatus = self._client.call("workers.status")
        return result

    def scale(self, count: int) -> WorkersStatus:
        """Run `count` workers now (extra ones finish their job first). Not persisted:
        config `workers` is the size the daemon starts with."""
        result: WorkersStatus = self._client.call("workers.scale", {"count": count})
        return result

    def stop(self) -> WorkersStatus:
        """Stop every worker gracefully; the daemon keeps accepting jobs."""
        result: WorkersStatus = self._client.call("workers.stop")
        return result


class ConfigMethods:
    """config.*: settings kept by the daemon, live on change."""

    def __init__(self, client: Client):
        self._client = client

    def get(self, key: str) -> ConfigEntry:
        """One setting: its `value`, `default` and `description`."""
        result: ConfigEntry = self._client.call("config.get", {"key": key})
        return result

    def set(self, key: str, value: Any) -> ConfigChange:
        """Change a setting (saved, in effect at once). value: a typed JSON value."""
        result: ConfigChange = self._client.call("config.set", {"key": key, "value": value})
        return result

    def list(self) -> dict[str, Any]:
        """Every setting and its value."""
        result: dict[str, Any] = self._client.call("config.list")
        return result

