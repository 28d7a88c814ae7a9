"""schedule.* handlers: recurring schedules whose runs are ordinary jobs (NAME@<slot>)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from queuectl import jobs as J
from queuectl import protocol as P
from queuectl import schedules as S
from queuectl.daemon.methods.job import placed
from queuectl.daemon.methods.views import job_view
from queuectl.daemon.rpc import Param, Send, method

if TYPE_CHECKING:
    from queuectl.daemon.api import Api

NAME = Param("name", "string", required=True, description="the schedule's name")
SHAPE = (
    Param("cron", "string", description="5-field cron expression, or @hourly, @daily, @weekly, @monthly",
          nullable=True),
    Param("every", "any", description="or: seconds between runs (a number, or a duration: 10m, 1h30m)",
          nullable=True),
    Param("tz", "string", description="IANA zone of the cron expression (default: the daemon's local zone)",
          nullable=True),
    Param("overlap", "string", description="skip (default), queue or allow: a run while the last one is "
          "not final", nullable=True),
    Param("catch_up", "string", description="none (default), latest or all: slots missed while the daemon "
          "was down", nullable=True),
    Param("job", "object", description="each run's job: command, priority, timeout, max_retries, cwd, env, "
          "queue (it must exist), slots, tags", nullable=True),
)  # fmt: skip
SCHEDULE_RESULT = ("the schedule: {name, cron, every, expression, tz, overlap, catch_up, job, paused, "
                   "next_run, last_job: {id, state} or null, created_at, updated_at}")  # fmt: skip


def _invalid(exc: J.ValidationError) -> P.RpcError:
    return P.invalid_params(str(exc), exc.field)


def _find(api: Api, name: Any) -> dict[str, Any]:
    sched = api.store.schedule_get(name) if isinstance(name, str) else None
    if sched is None:
        raise P.RpcError(P.SCHEDULE_NOT_FOUND, f"no schedule named {name!r}", {"schedule": name})
    return sched


def view(api: Api, sched: dict[str, Any]) -> dict[str, Any]:
    out = {k: sched[k] for k in ("name", "cron", "every", "tz", "overlap", "catch_up", "job", "paused")}
    out["expression"] = S.describe(sched["cron"], sched["every"])
    out["next_run"] = None if sched["paused"] else J.format_time(sched["next_at"])
    last = api.store.get(sched["last_job"]) if sched["last_job"] else None
    out["last_job"] = {"id": last["id"], "state": last["state"]} if last else None
    out["created_at"], out["updated_at"] = J.format_time(sched["created_at"]), J.format_time(sched["updated_at"])
    return out


def _shape(given: dict[str, Any], base: dict[str, Any], now: float) -> dict[str, Any]:
    """The schedule `base` changed by the params given (None: unchanged); checked whole."""
    sched = dict(base)
    if given.get("cron") is not None and given.get("every") is not None:
        raise P.invalid_params("give either cron or every, not both", "every")
    try:
        if given.get("cron") is not None:
            sched["cron"], sched["every"] = S.validate_cron(given["cron"]), None
        if given.get("every") is not None:
            sched["cron"], sched["every"] = None, S.validate_every(given["every"])
        if sched.get("cron") is None and sched.get("every") is None:
            raise J.ValidationError("a schedule needs cron or every", "cron")
        if given.get("tz") is not None:
            sched["tz"] = S.validate_tz(given["tz"])
        if given.get("overlap") is not None:
            sched["overlap"] = S.validate_choice(given["overlap"], "overlap", S.OVERLAPS)
        if given.get("catch_up") is not None:
            sched["catch_up"] = S.validate_choice(given["catch_up"], "catch_up", S.CATCH_UPS)
        if given.get("job") is not None:
            sched["job"] = S.validate_job({**sched.get("job", {}), **given["job"]}, now)
        if not sched.get("job"):
            raise J.ValidationError("a schedule needs a job (at least its command)", "job")
    except J.ValidationError as exc:
        raise _invalid(exc) from None
    return sched


def _placed(api: Api, sched: dict[str, Any]) -> dict[str, Any]:
    """Each run's queue exists and can take its slots, as for an enqueue (or invalid_params)."""
    try:
        placed(api, J.validate_spec({**sched["job"], "id": "schedule-check"}, api.now))
    except J.ValidationError as exc:
        raise P.invalid_params(f"job: {exc}", exc.field) from None
    return sched


def _save(api: Api, sched: dict[str, Any]) -> dict[str, Any]:
    sched["updated_at"] = api.now
    sched["next_at"] = S.next_slot(sched["cron"], sched["every"], sched["tz"], api.now)
    api.store.schedule_put(sched)
    api.scheduler.set_due(sched["name"], None if sched["paused"] else sched["next_at"])
    return view(api, sched)


@method("schedule.add", NAME, *SHAPE, Param("paused", "boolean", False, "made paused"),
        description="Add a recurring schedule: cron or every, and the job each run makes.",
        result=SCHEDULE_RESULT, errors=(P.INVALID_PARAMS, P.DUPLICATE_ID))  # fmt: skip
def add(api: Api, send: Send, name: str, paused: bool, **given: Any) -> dict[str, Any]:
    try:
        S.validate_name(name)
    except J.ValidationError as exc:
        raise _invalid(exc) from None
    if api.store.schedule_get(name) is not None:
        raise P.RpcError(P.DUPLICATE_ID, f"a schedule named {name!r} exists already", {"schedule": name})
    base: dict[str, Any] = {"name": name, "cron": None, "every": None, "tz": S.local_zone(), "overlap": "skip",
            "catch_up": "none", "job": {}, "paused": paused, "last_job": None, "created_at": api.now}  # fmt: skip
    sched = _placed(api, _shape(given, base, api.now))
    api.lifecycle.later_log("info", "schedule.added", schedule=name, expression=S.describe(sched["cron"],
                            sched["every"]), tz=sched["tz"])  # fmt: skip
    return _save(api, sched)


@method("schedule.set", NAME, *SHAPE,
        description="Change a schedule (the params given); its next run is computed again from now.",
        result=SCHEDULE_RESULT, errors=(P.INVALID_PARAMS, P.SCHEDULE_NOT_FOUND))  # fmt: skip
def set_(api: Api, send: Send, name: str, **given: Any) -> dict[str, Any]:
    return _save(api, _placed(api, _shape(given, _find(api, name), api.now)))


@method("schedule.list", description="Every schedule, by name.", result='{"schedules": [schedule, ...]}')
def list_(api: Api, send: Send) -> dict[str, Any]:
    return {"schedules": [view(api, s) for s in api.store.schedule_list()]}


@method("schedule.get", NAME, Param("runs", "integer", 5, "next runs to show"),
        Param("jobs", "integer", 20, "last jobs to show"),
        description="One schedule, its next runs and the last jobs it made.",
        result='the schedule, with "next_runs": [ISO times] and "jobs": [job objects, newest first]',
        errors=(P.SCHEDULE_NOT_FOUND,))  # fmt: skip
def get(api: Api, send: Send, name: str, runs: int, jobs: int) -> dict[str, Any]:
    sched = _find(api, name)
    out = view(api, sched)
    after = max(api.now, (sched["next_at"] or api.now) - 0.001)
    upcoming = [] if sched["paused"] else S.upcoming(sched["cron"], sched["every"], sched["tz"], after,
                                                     max(0, min(runs, 100)))  # fmt: skip
    out["next_runs"] = [J.format_time(t) for t in upcoming]
    out["next_runs_local"] = [S.slot_text(t, sched["tz"]) for t in upcoming]
    out["jobs"] = [job_view(j) for j in api.store.schedule_jobs(name, max(0, min(jobs, 1000)))]
    return out


def _pause(api: Api, name: str, paused: bool) -> dict[str, Any]:
    sched = _find(api, name)
    if sched["paused"] == paused:
        return view(api, sched)
    sched["paused"] = paused
    api.lifecycle.later_log("info", "schedule.paused" if paused else "schedule.resumed", schedule=name)
    return _save(api, sched)


@method("schedule.pause", NAME, description="Stop making runs (until resume).", result=SCHEDULE_RESULT,
        errors=(P.SCHEDULE_NOT_FOUND,))  # fmt: skip
def pause(api: Api, send: Send, name: str) -> dict[str, Any]:
    return _pause(api, name, True)


@method("schedule.resume", NAME, description="Make runs again, from the next slot after now (slots "
        "while paused are not caught up).", result=SCHEDULE_RESULT, errors=(P.SCHEDULE_NOT_FOUND,))  # fmt: skip
def resume(api: Api, send: Send, name: str) -> dict[str, Any]:
    return _pause(api, name, False)


@method("schedule.remove", NAME, description="Remove a schedule (the jobs it made stay).",
        result='{"removed": name}', errors=(P.SCHEDULE_NOT_FOUND,))  # fmt: skip
def remove(api: Api, send: Send, name: str) -> dict[str, Any]:
    _find(api, name)
    api.store.schedule_delete(name)
    api.scheduler.set_due(name, None)
    api.lifecycle.later_log("info", "schedule.removed", schedule=name)
    return {"removed": name}


@method("schedule.run", NAME, description="One run now, by hand (whatever --overlap says); its id is "
        "NAME@<now>.", result="the job object", errors=(P.SCHEDULE_NOT_FOUND, P.DUPLICATE_ID))  # fmt: skip
def run(api: Api, send: Send, name: str) -> dict[str, Any]:
    from queuectl.daemon.store.interface import DuplicateIdError

    sched = _find(api, name)
    try:
        job_id = api.scheduler.run_now(sched, api.now)
    except DuplicateIdError as exc:
        raise P.RpcError(P.DUPLICATE_ID, exc.why + " (one run by hand per second)", {"id": exc.job_id}) from None
    job = api.store.get(job_id)
    assert job is not None
    return job_view(job)
