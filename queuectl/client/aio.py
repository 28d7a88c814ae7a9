"""AsyncClient: the Python client for asyncio, on zmq.asyncio (`from queuectl import AsyncClient`).

The same methods as Client, as coroutines (iterators as async iterators), with the same
socket checks, socket options, expires_at, discovery and autostart (the plans, params and
results are shared with Client: location.py, params.py, plans.py, models.py). The
transport is aio_transport.AsyncRpc: concurrent calls from many tasks each borrow their
own REQ socket; sockets belong to the event loop they were made in; a child made by
os.fork() makes its own context and leaves its parent's untouched.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, TypeVar, overload

from queuectl.client.aio_transport import AsyncEventStream, AsyncRpc
from queuectl.client.location import Location
from queuectl.client.metrics_calls import AsyncMetricsCalls
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
from queuectl.client.prune_calls import AsyncPruneCalls
from queuectl.client.queue_calls import AsyncQueueCalls
from queuectl.client.rpc import DEFAULT_TIMEOUT, probe
from queuectl.client.schedule_calls import AsyncScheduleCalls

T = TypeVar("T")


class AsyncClient(AsyncQueueCalls, AsyncScheduleCalls, AsyncMetricsCalls, AsyncPruneCalls):
    """Client's methods as coroutines; see Client and docs/python.md. Safe for many tasks
    of one event loop at once; not for several threads."""

    def __init__(self, socket: str | os.PathLike[str] | None = None, *, home: str | os.PathLike[str] | None = None,
                 timeout: float = DEFAULT_TIMEOUT, autostart: bool = False):  # fmt: skip
        self.timeout = check_client_timeout(timeout)
        self.location = Location(socket, home)
        self.socket_path = self.location.socket_path
        self.autostart = autostart
        self._start_checked = False
        self.rpc = AsyncRpc(self.socket_path, self.timeout)

    @property  # made on use: no reference cycle (see Client.dlq)
    def dlq(self) -> AsyncDlqMethods:
        return AsyncDlqMethods(self)

    @property
    def workers(self) -> AsyncWorkersMethods:
        return AsyncWorkersMethods(self)

    @property
    def config(self) -> AsyncConfigMethods:
        return AsyncConfigMethods(self)

    def __repr__(self) -> str:
        return f"AsyncClient(socket={str(self.socket_path)!r})"

    # --- plumbing --------------------------------------------------------------------------

    async def ensure_daemon(self) -> None:
        """Start the user's own daemon if the autostart rules allow it and none runs."""
        if self._start_checked:
            return
        if self.location.may_autostart():
            from queuectl.client.autostart import ensure_daemon

            # Starting takes up to a few hundred milliseconds of blocking waits: off the loop.
            await asyncio.to_thread(ensure_daemon, self.location.paths, self.location.home)
        self._start_checked = True

    async def call(self, method: str, params: Any = None, timeout: float | None = None) -> Any:
        """Any RPC method, raw (see Client.call)."""
        if self.autostart and not self._start_checked and method not in NO_AUTOSTART:
            await self.ensure_daemon()
        return await self.rpc.call(method, params, timeout)

    async def _steps(self, plan: Plan[Any], result: list[Any]) -> AsyncIterator[Any]:
        """Run a plan: carry out its steps, yield its items; its result goes into result."""
        events: AsyncEventStream | None = None
        try:
            step = next(plan)
            while True:
                if isinstance(step, _Call):
                    try:
                        value = await self.call(step.method, step.params, step.timeout)
                    except Exception as exc:
                        step = plan.throw(exc)
                        continue
                    step = plan.send(value)
                elif isinstance(step, _Sleep):
                    await asyncio.sleep(step.seconds)
                    step = next(plan)
                elif isinstance(step, _AwaitEvent):
                    if events is None:
                        events = AsyncEventStream(self.socket_path, ("job.",))
                        await events._connect(None)
                    deadline = time.monotonic() + step.timeout
                    while (left := deadline - time.monotonic()) > 0:
                        event = await events.next(left)
                        if event is None or event.get("job_id") == step.job_id:
                            break
                    step = next(plan)
                else:
                    yield step
                    step = next(plan)
        except StopIteration as stop:  # the plan's end (caught here: PEP 479)
            result.append(stop.value)
        finally:
            plan.close()
            if events is not None:
                events.close()

    async def _run(self, plan: Plan[T]) -> T:
        result: list[T] = []
        async for _ in self._steps(plan, result):
            pass
        return result[0]

    def close(self) -> None:
        self.rpc.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def _long(self, timeout: float | None) -> float:
        return max(self.timeout, LONG_CALL) if timeout is None else timeout

    # --- job.* -----------------------------------------------------------------------------

    async def enqueue(
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
        spec = enqueue_spec(command, id=id, priority=priority, timeout=timeout, max_retries=max_retries,
                            run_at=run_at, delay=delay, cwd=cwd, env=env, queue=queue, slots=slots, tags=tags,
                            unique_key=unique_key, unique_while=unique_while, on_duplicate=on_duplicate,
                            after=after, after_condition=after_condition, on_success=on_success,
                            on_failure=on_failure, on_finish=on_finish, max_output=max_output, on=on)  # fmt: skip
        return Job(await self.call("job.enqueue", spec))

    async def enqueue_spec(self, spec: Mapping[str, object]) -> Job:
        return Job(await self.call("job.enqueue", with_cwd(spec)))

    async def enqueue_many(self, jobs: Iterable[Mapping[str, object]], *, dry_run: bool = False,
                           skip_invalid: bool = False) -> EnqueueManyResult:  # fmt: skip
        params: dict[str, object] = {"jobs": [with_cwd(j) if isinstance(j, Mapping) else j for j in jobs]}
        if dry_run:
            params["dry_run"] = True
        if skip_invalid:
            params["skip_invalid"] = True
        result: EnqueueManyResult = await self.call("job.enqueue_many", params)
        return result

    async def get(self, job_id: str, *, attempts: bool = True) -> Job:
        return Job(await self.call("job.get", {"id": job_id, "attempts": attempts}))

    async def list(self, state: str | None = None, *, search: str | None = None, newest_first: bool = False,
                   order: str | None = None, limit: int | None = None, page_size: int = PAGE_SIZE,
                   queue: str | None = None, tags: Mapping[str, str] | None = None) -> AsyncIterator[Job]:  # fmt: skip
        offset = 0
        while limit is None or offset < limit:
            size = page_size if limit is None else min(page_size, limit - offset)
            page = await self.list_page(state, limit=size, offset=offset, newest_first=newest_first,
                                        search=search, order=order, queue=queue, tags=tags)  # fmt: skip
            for job in page.jobs:
                yield job
            offset += len(page.jobs)
            if len(page.jobs) < size:
                return

    async def list_page(self, state: str | None = None, *, limit: int = 100, offset: int = 0,
                        newest_first: bool = False, search: str | None = None,
                        order: str | None = None, queue: str | None = None,
                        tags: Mapping[str, str] | None = None) -> JobPage:  # fmt: skip
        params = list_params(state, limit, offset, newest_first, search, order, queue, tags)
        return JobPage(await self.call("job.list", params))

    async def wait(self, job_id: str, timeout: float | None = None) -> WaitResult:
        check_wait_timeout(timeout)
        return await self._run(wait_plan(job_id, timeout, self.timeout))

    async def read_logs(self, job_id: str, *, stream: Literal["stdout", "stderr"] = "stdout",
                        attempt: int | None = None, offset: int = 0, max_bytes: int | None = None) -> LogChunk:  # fmt: skip
        params: dict[str, object] = {"id": job_id, "stream": stream, "attempt": attempt, "offset": offset}
        if max_bytes is not None:
            params["max_bytes"] = max_bytes
        return LogChunk(await self.call("job.logs", params))

    async def logs(self, job_id: str, *, stream: Literal["stdout", "stderr"] = "stdout",
                   attempt: int | None = None) -> bytes:  # fmt: skip
        return b"".join([c.data async for c in self.iter_logs(job_id, stream=stream, attempt=attempt)])

    def iter_logs(self, job_id: str, *, stream: Literal["stdout", "stderr"] = "stdout", attempt: int | None = None,
                  follow: bool = False) -> AsyncIterator[LogChunk]:  # fmt: skip
        return self._steps(attempt_plan(job_id, stream, attempt, follow), [])

    @overload
    def follow_logs(self, job_id: str, *, stream: Literal["stdout", "stderr"] = ...,
                    notes: Literal[False] = ...) -> AsyncIterator[LogChunk]: ...  # fmt: skip
    @overload
    def follow_logs(self, job_id: str, *, stream: Literal["stdout", "stderr"] = ...,
                    notes: Literal[True]) -> AsyncIterator[LogChunk | FollowNote]: ...  # fmt: skip
    def follow_logs(self, job_id: str, *, stream: Literal["stdout", "stderr"] = "stdout",
                    notes: bool = False) -> AsyncIterator[LogChunk] | AsyncIterator[LogChunk | FollowNote]:  # fmt: skip
        return self._steps(follow_plan(job_id, stream, notes), [])

    async def cancel(self, job_id: str, *, with_dependents: bool = False, timeout: float | None = None) -> Job:
        params = {"id": job_id, **({"with_dependents": True} if with_dependents else {})}
        return Job(await self.call("job.cancel", params, self._long(timeout)))

    async def retry(self, job_id: str, *, timeout: float | None = None) -> Job:
        return Job(await self.call("job.retry", {"id": job_id}, self._long(timeout)))

    async def delete(self, job_id: str, *, timeout: float | None = None) -> Deleted:
        result: Deleted = await self.call("job.delete", {"id": job_id}, self._long(timeout))
        return result

    # --- daemon.*, rpc.*, events -----------------------------------------------------------

    async def status(self, *, queue: str | None = None) -> DaemonStatus:
        result: DaemonStatus = await self.call("daemon.status", status_params(queue))
        return result

    async def stats(self) -> DaemonStats:
        result: DaemonStats = await self.call("daemon.stats")
        return result

    async def shutdown(self, *, wait: bool = False) -> ShutdownResult:
        result: ShutdownResult = await self.call("daemon.shutdown")
        self.rpc.close()
        if wait:
            await self.wait_stopped()
        return result

    async def wait_stopped(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while probe(self.socket_path) == "up":
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def discover(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("rpc.discover")
        return result

    async def events(self, topics: Iterable[str] = ("",), *, wait: bool = True) -> AsyncEventStream:
        """Lifecycle events as an async iterator (see Client.events)."""
        if self.autostart:
            await self.ensure_daemon()
        stream = AsyncEventStream(self.socket_path, tuple(topics) or ("",))
        try:
            await stream._connect(self.timeout if wait else None)
            if wait:
                await self.call("workers.status")  # the daemon has the subscription once answered
        except BaseException:
            stream.close()
            raise
        return stream


class AsyncDlqMethods:
    def __init__(self, client: AsyncClient):
        self._client = client

    async def list(self, *, limit: int | None = None, page_size: int = PAGE_SIZE,
                   queue: str | None = None) -> AsyncIterator[Job]:  # fmt: skip
        offset = 0
        while limit is None or offset < limit:
            size = page_size if limit is None else min(page_size, limit - offset)
            page = await self.list_page(limit=size, offset=offset, queue=queue)
            for job in page.jobs:
                yield job
            offset += len(page.jobs)
            if len(page.jobs) < size:
                return

    async def list_page(self, *, limit: int = 100, offset: int = 0, queue: str | None = None) -> JobPage:
        return JobPage(await self._client.call("dlq.list", dlq_list_params(limit, offset, queue)))

    async def retry(self, job_id: str | None = None, *, all: bool = False) -> DlqRetried:
        result: DlqRetried = await self._client.call("dlq.retry", dlq_retry_params(job_id, all))
        return result


class AsyncWorkersMethods:
    def __init__(self, client: AsyncClient):
        self._client = client

    async def status(self) -> WorkersStatus:
        result: WorkersStatus = await self._client.call("workers.status")
        return result

    async def scale(self, count: int) -> WorkersStatus:
        result: WorkersStatus = await self._client.call("workers.scale", {"count": count})
        return result

    async def stop(self) -> WorkersStatus:
        result: WorkersStatus = await self._client.call("workers.stop")
        return result


class AsyncConfigMethods:
    def __init__(self, client: AsyncClient):
        self._client = client

    async def get(self, key: str) -> ConfigEntry:
        result: ConfigEntry = await self._client.call("config.get", {"key": key})
        return result

    async def set(self, key: str, value: Any) -> ConfigChange:
        result: ConfigChange = await self._client.call("config.set", {"key": key, "value": value})
        return result

    async def list(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._client.call("config.list")
        return result
