"""schedule.*: recurring schedules (docs/lifecycle.md), as methods of Client (ScheduleCalls)
and of AsyncClient (AsyncScheduleCalls): `client.schedule_add("nightly", "./backup.sh",
cron="0 3 * * *")`. Each run is an ordinary job, id NAME@<slot>."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

from queuectl.client.models import Job
from queuectl.client.params import current_dir

if TYPE_CHECKING:
    from collections.abc import Awaitable, Mapping

    from queuectl.client.records import ScheduleDetail, ScheduleInfo, ScheduleRemoved

Overlap = Literal["skip", "queue", "allow"]
CatchUp = Literal["none", "latest", "all"]


def schedule_params(
    name: str, command: str | None, *, cron: str | None, every: float | str | None, tz: str | None,
    overlap: Overlap | None, catch_up: CatchUp | None, priority: int | None, timeout: float | None,
    max_retries: int | None, cwd: str | os.PathLike[str] | None, env: Mapping[str, str] | None,
    queue: str | None = None, slots: int | None = None, tags: Mapping[str, str] | None = None,
    default_cwd: bool = False,
) -> dict[str, object]:  # fmt: skip
    """schedule.add/set's params: the name, the schedule's settings given, and `job` (each run's
    command, priority, timeout, max_retries, cwd, env, queue, slots, tags). With default_cwd (schedule.add), the
    runs' cwd is this process's directory unless given, as for an enqueue."""
    job: dict[str, object] = {k: v for k, v in (("command", command), ("priority", priority),
                              ("timeout", timeout), ("max_retries", max_retries), ("queue", queue),
                              ("slots", slots)) if v is not None}  # fmt: skip
    if cwd is not None:
        job["cwd"] = os.fspath(cwd)
    elif default_cwd:
        job["cwd"] = current_dir()
    if env is not None:
        job["env"] = dict(env)
    if tags is not None:
        job["tags"] = dict(tags)
    given = {"cron": cron, "every": every, "tz": tz, "overlap": overlap, "catch_up": catch_up}
    params: dict[str, object] = {"name": name, **{k: v for k, v in given.items() if v is not None}}
    if job:
        params["job"] = job
    return params


class ScheduleCalls:
    """Client's schedule.* methods. ScheduleNotFound when no schedule has the name."""

    if TYPE_CHECKING:

        def call(self, method: str, params: Any = None, timeout: float | None = None) -> Any: ...

    def schedule_add(
        self, name: str, command: str, *, cron: str | None = None, every: float | str | None = None,
        tz: str | None = None, overlap: Overlap | None = None, catch_up: CatchUp | None = None,
        paused: bool = False, priority: int | None = None, timeout: float | None = None,
        max_retries: int | None = None, cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None, queue: str | None = None, slots: int | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ScheduleInfo:  # fmt: skip
        """Add a schedule running `command` by `cron` (5 fields, or @hourly/@daily/@weekly/@monthly,
        in zone `tz`) or `every` (seconds, or "10m"). overlap: a run while the last is not final
        is skipped (default), queued or allowed; catch_up: runs missed while the daemon was down.
        queue, slots, tags, priority, ...: each run's job options, as for enqueue (the queue must
        exist). DuplicateId if the name is taken."""
        params = schedule_params(name, command, cron=cron, every=every, tz=tz, overlap=overlap,
                                 catch_up=catch_up, priority=priority, timeout=timeout,
                                 max_retries=max_retries, cwd=cwd, env=env, queue=queue, slots=slots,
                                 tags=tags, default_cwd=True)  # fmt: skip
        if paused:
            params["paused"] = True
        result: ScheduleInfo = self.call("schedule.add", params)
        return result

    def schedule_set(
        self, name: str, command: str | None = None, *, cron: str | None = None,
        every: float | str | None = None, tz: str | None = None, overlap: Overlap | None = None,
        catch_up: CatchUp | None = None, priority: int | None = None, timeout: float | None = None,
        max_retries: int | None = None, cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None, queue: str | None = None, slots: int | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ScheduleInfo:  # fmt: skip
        """Change what is given (None: unchanged); its next run is computed again from now."""
        params = schedule_params(name, command, cron=cron, every=every, tz=tz, overlap=overlap,
                                 catch_up=catch_up, priority=priority, timeout=timeout,
                                 max_retries=max_retries, cwd=cwd, env=env, queue=queue, slots=slots,
                                 tags=tags)  # fmt: skip
        result: ScheduleInfo = self.call("schedule.set", params)
        return result

    def schedule_list(self) -> list[ScheduleInfo]:
        """Every schedule, by name."""
        result: list[ScheduleInfo] = self.call("schedule.list")["schedules"]
        return result

    def schedule_get(self, name: str, *, runs: int = 5, jobs: int = 20) -> ScheduleDetail:
        """One schedule, with its next `runs` run times and the last `jobs` jobs it made."""
        result: ScheduleDetail = self.call("schedule.get", {"name": name, "runs": runs, "jobs": jobs})
        return result

    def schedule_pause(self, name: str) -> ScheduleInfo:
        """Make no runs until resumed."""
        result: ScheduleInfo = self.call("schedule.pause", {"name": name})
        return result

    def schedule_resume(self, name: str) -> ScheduleInfo:
        """Make runs again, from the next slot after now (missed slots are not caught up)."""
        result: ScheduleInfo = self.call("schedule.resume", {"name": name})
        return result

    def schedule_remove(self, name: str) -> ScheduleRemoved:
        """Remove the schedule (the jobs it made stay)."""
        result: ScheduleRemoved = self.call("schedule.remove", {"name": name})
        return result

    def schedule_run(self, name: str) -> Job:
        """One run now, by hand (whatever overlap says): the job made, id NAME@<now>."""
        return Job(self.call("schedule.run", {"name": name}))


class AsyncScheduleCalls:
    """AsyncClient's schedule.* methods: ScheduleCalls' as coroutines."""

    if TYPE_CHECKING:

        def call(self, method: str, params: Any = None, timeout: float | None = None) -> Awaitable[Any]: ...

    async def schedule_add(
        self, name: str, command: str, *, cron: str | None = None, every: float | str | None = None,
        tz: str | None = None, overlap: Overlap | None = None, catch_up: CatchUp | None = None,
        paused: bool = False, priority: int | None = None, timeout: float | None = None,
        max_retries: int | None = None, cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None, queue: str | None = None, slots: int | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ScheduleInfo:  # fmt: skip
        params = schedule_params(name, command, cron=cron, every=every, tz=tz, overlap=overlap,
                                 catch_up=catch_up, priority=priority, timeout=timeout,
                                 max_retries=max_retries, cwd=cwd, env=env, queue=queue, slots=slots,
                                 tags=tags, default_cwd=True)  # fmt: skip
        if paused:
            params["paused"] = True
        result: ScheduleInfo = await self.call("schedule.add", params)
        return result

    async def schedule_set(
        self, name: str, command: str | None = None, *, cron: str | None = None,
        every: float | str | None = None, tz: str | None = None, overlap: Overlap | None = None,
        catch_up: CatchUp | None = None, priority: int | None = None, timeout: float | None = None,
        max_retries: int | None = None, cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None, queue: str | None = None, slots: int | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ScheduleInfo:  # fmt: skip
        params = schedule_params(name, command, cron=cron, every=every, tz=tz, overlap=overlap,
                                 catch_up=catch_up, priority=priority, timeout=timeout,
                                 max_retries=max_retries, cwd=cwd, env=env, queue=queue, slots=slots,
                                 tags=tags)  # fmt: skip
        result: ScheduleInfo = await self.call("schedule.set", params)
        return result

    async def schedule_list(self) -> list[ScheduleInfo]:
        result: list[ScheduleInfo] = (await self.call("schedule.list"))["schedules"]
        return result

    async def schedule_get(self, name: str, *, runs: int = 5, jobs: int = 20) -> ScheduleDetail:
        result: ScheduleDetail = await self.call("schedule.get", {"name": name, "runs": runs, "jobs": jobs})
        return result

    async def schedule_pause(self, name: str) -> ScheduleInfo:
        result: ScheduleInfo = await self.call("schedule.pause", {"name": name})
        return result

    async def schedule_resume(self, name: str) -> ScheduleInfo:
        result: ScheduleInfo = await self.call("schedule.resume", {"name": name})
        return result

    async def schedule_remove(self, name: str) -> ScheduleRemoved:
        result: ScheduleRemoved = await self.call("schedule.remove", {"name": name})
        return result

    async def schedule_run(self, name: str) -> Job:
        return Job(await self.call("schedule.run", {"name": name}))
