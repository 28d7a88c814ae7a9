"""Checking and building the params of requests, for Client and AsyncClient alike (a bad
argument is refused here, before anything is sent, as InvalidParams)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal

from queuectl.client.rpc import MAX_TIMEOUT
from queuectl.errors import invalid_params

UniqueWhile = Literal["pending", "active", "kept"]  # how long a job holds its unique_key
OnDuplicate = Literal["return", "error"]  # a held unique_key: the job holding it, or DuplicateId
AfterCondition = Literal["success", "failure", "always"]  # what a job's parents must have done
LONG_CALL = 60.0  # at least this long for cancel (deferred until the job is dead), retry, delete
PAGE_SIZE = 1000  # jobs per request when a list is iterated

def check_wait_timeout(timeout: float | None) -> None:
    if timeout is not None and not 0 <= timeout < float("inf"):  # NaN fails this too
        raise invalid_params("timeout must be a number of seconds >= 0 (or None: no limit)", "timeout")


def check_client_timeout(timeout: float) -> float:
    if not 0 < timeout <= MAX_TIMEOUT:  # NaN fails this too
        raise invalid_params("timeout must be a number of seconds above 0 and at most 24 days", "timeout")
    return float(timeout)


def _time_param(value: str | datetime | None, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        # The wire takes a time without a zone as UTC, a naive datetime is usually local
        # time: refuse rather than guess.
        raise invalid_params(f"{name} must be a timezone-aware datetime (or an ISO 8601 string)", name)
    return value.isoformat()


def current_dir() -> str:
    try:
        return os.getcwd()
    except OSError as exc:  # the directory was removed under us
        raise invalid_params(f"the current directory is gone ({exc.strerror}); a job runs in the directory "
                             "it was enqueued from: give cwd=", "cwd") from None  # fmt: skip


def with_cwd(spec: Mapping[str, object]) -> dict[str, object]:
    """A job spec sent as given, with this process's directory as cwd when it has none
    (as the CLI does; the daemon's own directory is rarely what a caller means)."""
    job = dict(spec)
    if "cwd" not in job:
        job["cwd"] = current_dir()
    return job


def enqueue_spec(
    command: str, *, id: str | None, priority: int | None, timeout: float | None,
    max_retries: int | None, run_at: str | datetime | None, delay: float | None,
    cwd: str | os.PathLike[str] | None, env: Mapping[str, str] | None, queue: str | None = None,
    slots: int | None = None, tags: Mapping[str, str] | None = None, unique_key: str | None = None,
    unique_while: UniqueWhile | None = None, on_duplicate: OnDuplicate | None = None,
    after: str | Iterable[str] | None = None, after_condition: AfterCondition | None = None,
    on_success: str | None = None, on_failure: str | None = None, on_finish: str | None = None,
    max_output: int | str | None = None, on: str | None = None,
) -> dict[str, object]:  # fmt: skip
    spec: dict[str, object] = {"command": command}
    given: dict[str, object] = {"id": id, "priority": priority, "timeout": timeout, "max_retries": max_retries,
                                "run_at": _time_param(run_at, "run_at"), "delay": delay,
                                "cwd": None if cwd is None else os.fspath(cwd),
                                "env": None if env is None else dict(env), "queue": queue, "slots": slots,
                                "tags": None if tags is None else dict(tags), "unique_key": unique_key,
                                "unique_while": unique_while, "on_duplicate": on_duplicate,
                                "after": after if after is None or isinstance(after, str) else list(after),
                                "after_condition": after_condition, "on_success": on_success,
                                "on_failure": on_failure, "on_finish": on_finish,
                                "max_output": max_output, "on": on}  # fmt: skip
    spec.update({k: v for k, v in given.items() if v is not None})
    return with_cwd(spec)


def list_params(state: str | None, limit: int, offset: int, newest_first: bool, search: str | None,
                order: str | None, queue: str | None = None,
                tags: Mapping[str, str] | None = None) -> dict[str, object]:  # fmt: skip
    params: dict[str, object] = {"limit": limit, "offset": offset}
    if queue is not None:
        params["queue"] = queue
    if tags:
        params["tags"] = dict(tags)
    if state is not None:
        params["state"] = state
    if newest_first:
        params["newest_first"] = True
    if search is not None:
        params["search"] = search
    if order is not None:
        params["order"] = order
    return params


def dlq_list_params(limit: int, offset: int, queue: str | None) -> dict[str, object]:
    params: dict[str, object] = {"limit": limit, "offset": offset}
    if queue is not None:
        params["queue"] = queue
    return params


def status_params(queue: str | None) -> dict[str, object] | None:
    return {"queue": queue} if queue is not None else None


PRUNE_CALL = 3600.0  # job.prune answers once done: a million jobs take minutes


def prune_params(older_than: float | None, states: Iterable[str] | None, queue: str | None,
                 dry_run: bool) -> dict[str, object]:  # fmt: skip
    params: dict[str, object] = {"dry_run": dry_run}
    if older_than is not None:
        params["older_than"] = older_than
    if states is not None:
        params["states"] = list(states)
    if queue is not None:
        params["queue"] = queue
    return params


def queue_params(name: str, **given: object) -> dict[str, object]:
    """queue.*'s params: the name, and the others given (None: left out, the default)."""
    return {"name": name, **{k: v for k, v in given.items() if v is not None}}


def dlq_retry_params(job_id: str | None, all: bool) -> dict[str, object]:
    if (job_id is None) == (not all):
        raise invalid_params("give a job id or all=True, not both", "id")
    return {"id": job_id} if job_id is not None else {"all": True}


# Autostart applies to every method but these (as for the CLI: status never starts a daemon).
NO_AUTOSTART = frozenset({"daemon.status", "daemon.metrics", "daemon.shutdown", "workers.stop", "workers.status"})
