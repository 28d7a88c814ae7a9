"""Rows and the records the daemon gets from them."""

from __future__ import annotations

import json
from typing import Any

from queuectl.daemon.store.interface import Runnable

_JOB_NAMES = (
    "seq, id, command, state, priority, attempts, charged, max_retries, timeout, run_at, cwd, "
    "env, created_at, updated_at, started_at, finished_at, exit_code, last_error, queue, slots, tags, "
    "unique_key, unique_while, on_success, on_failure, on_finish, hook, max_output, on_daemon"
)
# hook_of: the id of the job a hook job reports on (its seq is what is stored).
JOB_COLUMNS = _JOB_NAMES + ", (SELECT p.id FROM jobs AS p WHERE p.seq = jobs.hook_of)"
ATTEMPT_COLUMNS = (
    "n, child, pid, assigned_at, started_at, finished_at, exit_code, signal, timed_out, "
    "charged, error, segment, out_off, out_len, err_off, err_len, queue, slots, slot, dropped, max_output, "
    "daemon"
)
RUNNABLE_COLUMNS = (
    "seq, id, command, priority, timeout, cwd, env, max_retries, attempts, charged, queue, slots, hook, "
    "(on_success IS NOT NULL OR on_failure IS NOT NULL OR on_finish IS NOT NULL), updated_at, max_output"
)


def runnable(row: tuple[Any, ...]) -> Runnable:
    (seq, id_, command, priority, timeout, cwd, env, max_retries, attempts, charged, queue, slots, hook, hooks,
     ready, limit) = row  # fmt: skip
    # (a pending job's updated_at is when it became pending: nothing else touches it meanwhile)
    return Runnable(
        seq, id_, command, priority, timeout, cwd, json.loads(env) if env else None,
        max_retries, attempts, charged, queue=queue, slots=slots, hook=hook, hooks=bool(hooks),
        ready_at=ready, max_output=limit,
    )  # fmt: skip


ATTEMPT_KEYS = tuple(c.strip() for c in ATTEMPT_COLUMNS.split(","))
# (on_daemon is `on` to clients: ON is a keyword in SQL, not a column name to quote everywhere)
JOB_KEYS = (*(c.strip() for c in _JOB_NAMES.replace("on_daemon", "on").split(",")), "hook_of")


def job_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    job = dict(zip(JOB_KEYS, row, strict=True))
    job["env"] = json.loads(job["env"]) if job["env"] else {}
    job["tags"] = json.loads(job["tags"]) if job["tags"] else {}
    return job
