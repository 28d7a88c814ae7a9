"""How stored jobs and attempts look to clients, and the lookups every handler needs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from queuectl import jobs as J
from queuectl import protocol as P

if TYPE_CHECKING:
    from queuectl.daemon.api import Api
    from queuectl.daemon.store.interface import Storage

TIME_FIELDS = ("run_at", "created_at", "updated_at", "started_at", "finished_at")


def job_view(job: dict[str, Any]) -> dict[str, Any]:
    """A stored job as clients see it: ISO times, no internal keys."""
    view = {k: v for k, v in job.items() if k not in ("seq", "charged")}
    for key in TIME_FIELDS:
        view[key] = J.format_time(job[key])
    return view


def job_detail(store: Storage, job: dict[str, Any], attempts: bool = True) -> dict[str, Any]:
    """job.get's answer (what `show --json` prints, and what a hook reads on stdin): the job,
    its attempts, its parents and dependents, and the hook jobs it fired."""
    view = job_view(job)
    if attempts:
        view["attempts_detail"] = [attempt_view(a) for a in store.attempts_of(job["seq"])]
    view["parents"], view["dependents"] = store.links(job["seq"])
    dep = store.dep_state(job["seq"])
    view["after_condition"] = dep.condition if dep else None
    view["hooks"] = store.hooks_of(job["seq"])
    return view


def attempt_view(attempt: dict[str, Any]) -> dict[str, Any]:
    view = {
        k: attempt[k]
        for k in ("n", "child", "pid", "exit_code", "signal", "error", "timed_out", "charged", "queue",
                  "slots", "slot", "daemon")
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
    # Output past the attempt's limit was dropped (the job ran on): how much, and the limit.
    view["truncated"] = bool(attempt["dropped"])
    view["dropped_bytes"] = attempt["dropped"]
    view["max_output"] = attempt["max_output"]
    return view


def find(api: Api, job_id: Any) -> dict[str, Any]:
    job = api.store.get(job_id) if isinstance(job_id, str) else None
    if job is None:
        raise P.RpcError(P.JOB_NOT_FOUND, f"no job with id {job_id!r}", {"id": job_id})
    return job


def invalid_state(job: dict[str, Any], allowed: str) -> P.RpcError:
    return P.RpcError(P.INVALID_STATE, f"job {job['id']!r} is {job['state']}; {allowed}",
                      {"id": job["id"], "state": job["state"]})  # fmt: skip
