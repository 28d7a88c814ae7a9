"""Completion hooks, pure: which hooks a finished job fires, what a hook job is called, and
what it is told (its environment; the job itself comes as JSON on its stdin).

A job may name a command for each kind of hook: `on_success` (it completed),
`on_failure` (it went dead: no retries left), `on_finish` (either). Config keys of the
same names are the defaults of jobs that name none of that kind. When the job reaches
that state, each hook becomes a job of its own, made in the same transaction that
settles the job (docs/lifecycle.md, "Completion hooks"). Cancelling a job fires none.

No I/O here; the daemon's side is queuectl/daemon/hooks.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queuectl.execlimits import ExecLimits, exec_limits
from queuectl.validation import ValidationError

KINDS = ("success", "failure", "finish")
FIELDS = tuple(f"on_{kind}" for kind in KINDS)  # the job fields and config keys
# What fires each kind: the final state the job reached.
FIRES = {"completed": ("success", "finish"), "dead": ("failure", "finish")}
MAX_ID_LENGTH = 200  # as jobs.MAX_ID_LENGTH (a longer hook id is generated instead)
PRIORITY = 1_000_000  # a hook goes before every other pending job of its queue


def validate_hook(value: Any, field: str, limits: ExecLimits | None = None) -> str:
    """A hook's command: a non-empty shell command line (as a job's command)."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a shell command (a string)", field)
    if not value.strip():
        raise ValidationError(f"{field} must not be empty: give the command to run (or leave {field} out)", field)
    if "\x00" in value:
        raise ValidationError(f"{field} must not contain a NUL byte", field)
    try:
        size = len(value.encode())
    except UnicodeEncodeError:
        raise ValidationError(f"{field} must be valid unicode text", field) from None
    limit = (limits or exec_limits()).max_string
    if size > limit:
        raise ValidationError(f"{field} is {size:,} bytes; the kernel runs at most {limit:,} bytes in one "
                              "argument of `sh -c`", field)  # fmt: skip
    return value


def validate_default(value: Any, field: str) -> str:
    """A config default hook: a command, or "" for none."""
    if isinstance(value, str) and value == "":
        return ""
    return validate_hook(value, field)


def firing(state: str, hooks: Mapping[str, str | None]) -> list[str]:
    """The kinds of hook a job fires on reaching `state`, in the order they are made:
    those of `hooks` (kind -> command or None) that are set and that state fires."""
    return [kind for kind in FIRES.get(state, ()) if hooks.get(kind)]


def hook_id(parent_id: str, kind: str, earlier: int) -> str | None:
    """`<job id>.hook.<kind>` for a job's first hook of that kind, then `.2`, `.3`... (a
    job retried out of the DLQ and dead again fires again). None when that would be too
    long an id: the hook gets a generated one."""
    name = f"{parent_id}.hook.{kind}" + (f".{earlier + 1}" if earlier else "")
    return name if len(name) <= MAX_ID_LENGTH else None


def hook_env(job: Mapping[str, Any], kind: str) -> dict[str, str]:
    """What a hook is told in its environment about the job that finished (the hook's own
    id is QUEUECTL_HOOK_ID; the job's whole record is on its stdin)."""
    exit_code = job.get("exit_code")
    return {
        "QUEUECTL_HOOK": kind,
        "QUEUECTL_JOB_ID": str(job["id"]),
        "QUEUECTL_JOB_STATE": str(job["state"]),
        "QUEUECTL_EXIT_CODE": "" if exit_code is None else str(exit_code),
        "QUEUECTL_ATTEMPTS": str(job.get("attempts") or 0),
        "QUEUECTL_JOB_QUEUE": str(job.get("queue") or "default"),
        "QUEUECTL_LAST_ERROR": str(job.get("last_error") or "")[:1000].replace("\x00", ""),
    }
