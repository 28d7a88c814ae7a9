"""Completion hooks, the daemon's side: the hook jobs a job fires when it completes or goes
dead, made in the transaction that settles it (so no hook is lost in a crash, and none
is made twice). Each is an ordinary job (its own id, attempts, timeout and logs) with:

- its command from the job's on_success / on_failure / on_finish (or the config's
  default, copied into the job when it was enqueued);
- the job as JSON on its stdin, exactly what `show --json` (job.get) gives at that moment;
- QUEUECTL_* variables about the job (queuectl/hooks.py: hook_env), on top of the job's env;
- the job's queue and cwd, priority 1,000,000 (before the queue's other pending jobs), no
  rate limit, config hook_timeout and hook_max_retries, and no hooks of its own.

What a hook does never changes its job's state. See docs/lifecycle.md, "Completion hooks".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from queuectl import hooks as H
from queuectl.daemon.methods.views import job_detail
from queuectl.daemon.store.interface import Storage
from queuectl.jobs import JobSpec


def make_hooks(store: Storage, seq: int, state: str, config: Mapping[str, Any]) -> list[JobSpec]:
    """The hook jobs job `seq` fires on reaching `state` (already written), to enqueue."""
    job = store.get_by_seq(seq)
    if job is None or job.get("hook") is not None:
        return []
    kinds = H.firing(state, {kind: job.get(f"on_{kind}") for kind in H.KINDS})
    if not kinds:
        return []
    detail = job_detail(store, job)
    stdin = json.dumps(detail, ensure_ascii=False).encode()
    specs = []
    for kind in kinds:
        earlier = sum(1 for h in detail["hooks"] if h["hook"] == kind)
        hook_id = H.hook_id(job["id"], kind, earlier)
        if hook_id is not None and store.ids_taken([hook_id]):
            hook_id = None  # (a job of that name exists: the hook gets a generated id)
        specs.append(JobSpec(
            command=job[f"on_{kind}"], id=hook_id, priority=H.PRIORITY,
            timeout=config.get("hook_timeout") or 0.0, max_retries=config.get("hook_max_retries", 0),
            cwd=job["cwd"], env={**(job["env"] or {}), **H.hook_env(job, kind)}, queue=job["queue"],
            hook=kind, hook_of=seq, stdin=stdin,
        ))  # fmt: skip
    return specs
