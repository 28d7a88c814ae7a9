"""The job model: states, validation of a job spec, backoff and time on the wire.

Pure code: no I/O, no sockets, no database. The daemon and the CLI both use it
(the CLI validates an NDJSON file locally before sending any of it).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from queuectl import hooks as H
from queuectl import queues as Q
from queuectl.execlimits import KERNEL_ARG_CAP as KERNEL_ARG_CAP
from queuectl.execlimits import LEGACY_ARG_MAX as LEGACY_ARG_MAX
from queuectl.execlimits import ExecLimits as ExecLimits
from queuectl.execlimits import exec_bytes as exec_bytes
from queuectl.execlimits import exec_limits as exec_limits
from queuectl.identity import validate_on
from queuectl.sizes import MAX_OUTPUT, SizeError, format_size, parse_size
from queuectl.uniquekeys import validate_unique
from queuectl.validation import SURROGATE
from queuectl.validation import ValidationError as ValidationError

# Job states. A job is created `scheduled` (run_at in the future) or `pending`.
SCHEDULED = "scheduled"
BLOCKED = "blocked"  # waiting for its parents (`after`) to reach a final state
PENDING = "pending"
ASSIGNED = "assigned"  # handed to a worker, not started yet (it starts it as soon as it is free)
PROCESSING = "processing"  # running
COMPLETED = "completed"
FAILED = "failed"  # waiting for its backoff to expire, then runnable again
DEAD = "dead"  # retries exhausted: the dead letter queue
CANCELLED = "cancelled"

STATES = (SCHEDULED, BLOCKED, PENDING, ASSIGNED, PROCESSING, COMPLETED, FAILED, DEAD, CANCELLED)
# Held by a worker child: the daemon must ask it to give the job back or stop it.
HELD_STATES = frozenset({ASSIGNED, PROCESSING})
FINAL_STATES = frozenset({COMPLETED, DEAD, CANCELLED})
# States a job is waiting in for a time to arrive (run_at or the end of a backoff).
TIMED_STATES = frozenset({SCHEDULED, FAILED})
RETRYABLE_STATES = frozenset({FAILED, DEAD})
CANCELLABLE_STATES = frozenset({SCHEDULED, BLOCKED, PENDING, ASSIGNED, FAILED, PROCESSING})
DELETABLE_STATES = frozenset({COMPLETED, DEAD, CANCELLED, FAILED, SCHEDULED, BLOCKED, PENDING})

# The errors of attempts that ended without an outcome of their own (docs/lifecycle.md).
WORKER_LOST = "worker lost: its child process died"
LOST_UNCONFIRMED = "worker lost before it confirmed the start; the command may have run"
INTERRUPTED = "interrupted: the daemon stopped while it ran"
INTERRUPTED_UNCONFIRMED = "interrupted: the daemon stopped before the start was confirmed; the command may have run"

MAX_ID_LENGTH = 200
MAX_PRIORITY = 1_000_000
MAX_TIMEOUT = 365 * 24 * 3600.0
MAX_RETRIES = 1000
MAX_ENV_ENTRIES = 256

SPEC_FIELDS = frozenset({"id", "command", "priority", "timeout", "run_at", "delay", "max_retries", "cwd",
                         "env", "queue", "slots", "tags", "after", "after_condition", "unique_key",
                         "unique_while", "on_success", "on_failure", "on_finish", "max_output", "on"})  # fmt: skip
HOOK_FIELDS = frozenset(H.FIELDS)


@dataclass(slots=True)
class JobSpec:
    """A validated job as a client asked for it. Defaults are filled by the daemon."""

    command: str
    id: str | None = None
    priority: int = 0
    timeout: float | None = None  # None: the configured default_timeout applies
    run_at: float | None = None  # unix seconds, None: now
    max_retries: int | None = None  # None: the configured max_retries applies
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    # run_at came from a delay ("in 10 minutes"), not a time of day: it moves with a
    # step of the wall clock, so the wait stays as long as asked.
    relative: bool = False
    queue: str = Q.DEFAULT
    slots: int = 1
    tags: dict[str, str] = field(default_factory=dict)
    after: list[str] = field(default_factory=list)  # parents' ids (queuectl/after.py)
    after_condition: str = "success"
    unique_key: str | None = None  # idempotent enqueue (uniquekeys.py)
    unique_while: str = "active"
    # Completion hooks (hooks.py): commands run as jobs of their own when this one ends.
    on_success: str | None = None
    on_failure: str | None = None
    on_finish: str | None = None
    # Set by the daemon only, for a hook job: its kind, the job it reports on (seq), and
    # the data its command reads on stdin (that job as JSON).
    hook: str | None = None
    hook_of: int | None = None
    stdin: bytes | None = None
    max_output: int | None = None  # bytes of output kept per attempt; None: config max_output_bytes
    on: str | None = None  # the name of the only daemon that may run it (identity.py); None: any

    def hooks(self) -> dict[str, str | None]:
        """kind -> command (None: no hook of that kind)."""
        return {"success": self.on_success, "failure": self.on_failure, "finish": self.on_finish}


# --- time on the wire -------------------------------------------------------------
# Times are ISO 8601 UTC with microseconds and a Z: 2026-01-31T12:00:00.123456Z.
# Every time a client may give (run_at, delay) must be one that formats back, so that
# no stored value can break a reader; format_time itself never raises either.

TIME_MIN_TEXT, TIME_MAX_TEXT = "0001-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z"


@lru_cache(maxsize=256)  # a reply names the same times again (a new job's created_at = updated_at)
def _format_exact(ts: float) -> str:
    """Raises (ValueError, OverflowError, OSError) for what a datetime cannot hold."""
    # isoformat pads the year to four digits (strftime's %Y does not below 1000), and
    # is the quicker of the two; [:-6] drops its "+00:00".
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def format_time(ts: float | None) -> str | None:
    """Unix seconds -> ISO 8601 UTC with microseconds and a Z suffix. Never raises:
    a stored time outside years 1..9999 (only possible in a database written by
    something else) is shown clamped to that range, and a non-number as None."""
    if ts is None:
        return None
    try:
        return _format_exact(ts)
    except (ValueError, OverflowError, OSError, TypeError):
        if not isinstance(ts, int | float) or isinstance(ts, bool) or math.isnan(ts):
            return None
        return TIME_MAX_TEXT if ts > 0 else TIME_MIN_TEXT


def parse_time(text: str, name: str = "run_at") -> float:
    """ISO 8601 -> unix seconds. A time without a zone is taken as UTC (documented).

    The time must lie in years 1 to 9999 once converted to UTC (what the wire format
    can show), e.g. 9999-12-31T23:59:59-14:00 is refused: it is in the year 10000.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(f"{name} must be an ISO 8601 time string", name)
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError(
            f"{name} {text!r} is not an ISO 8601 time (e.g. 2026-01-31T12:00:00Z)", name
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        ts = dt.timestamp()
        check_time(ts, name)
    except (ValueError, OverflowError):
        raise ValidationError(
            f"{name} {text!r} is outside the times queuectl can show: from "
            f"{TIME_MIN_TEXT} to {TIME_MAX_TEXT} in UTC", name
        ) from None  # fmt: skip
    return ts


# Unix times from year 2 to year 9998 format back without trying (NaN is not between).
_SURE_TIMES = (datetime(2, 1, 1, tzinfo=UTC).timestamp(), datetime(9999, 1, 1, tzinfo=UTC).timestamp())


def check_time(ts: float, name: str = "run_at") -> float:
    """A unix time that formats back to ISO 8601 in UTC, or ValidationError."""
    if _SURE_TIMES[0] < ts < _SURE_TIMES[1]:
        return ts
    try:
        if not math.isfinite(ts):
            raise ValueError(ts)
        _format_exact(ts)
    except (ValueError, OverflowError, OSError):
        raise ValidationError(
            f"{name} is outside the times queuectl can show: from {TIME_MIN_TEXT} to "
            f"{TIME_MAX_TEXT} in UTC", name
        ) from None  # fmt: skip
    return ts


# --- validation -------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A finite int or float (an int too large for a float is not: it overflows)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def validate_seconds(value: Any, name: str, what: str = "") -> float:
    """A finite number of seconds from 0 to MAX_TIMEOUT, or ValidationError."""
    if not _is_number(value) or not 0 <= value <= MAX_TIMEOUT:
        raise ValidationError(
            f"{name} must be a number of seconds from 0 to {MAX_TIMEOUT:,.0f} (a year){what}", name
        )
    return float(value)


_ID_CONTROL = re.compile("[\x00-\x1f\x7f]")


def validate_id(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError("id must be a string", "id")
    if not value or not value.strip():
        raise ValidationError("id must not be empty", "id")
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(f"id is longer than {MAX_ID_LENGTH} characters", "id")
    if _ID_CONTROL.search(value):
        raise ValidationError("id must not contain control characters", "id")
    if SURROGATE.search(value):
        raise ValidationError("id must be valid unicode text", "id")
    return value


def validate_command(value: Any, limits: ExecLimits | None = None) -> str:
    if not isinstance(value, str):
        raise ValidationError("command must be a string", "command")
    if not value.strip():
        raise ValidationError("command must not be empty", "command")
    if "\x00" in value:
        raise ValidationError("command must not contain a NUL byte", "command")
    try:
        size = len(value.encode())
    except UnicodeEncodeError:
        raise ValidationError("command must be valid unicode text", "command") from None
    limit = (limits or exec_limits()).max_string
    if size > limit:
        raise ValidationError(
            f"command is {size:,} bytes; the kernel runs at most {limit:,} bytes in one "
            "argument of `sh -c` (for more, put the script in a file and run that)", "command"
        )  # fmt: skip
    return value


def validate_priority(value: Any) -> int:
    if not _is_int(value) or not -MAX_PRIORITY <= value <= MAX_PRIORITY:
        raise ValidationError(
            f"priority must be an integer from {-MAX_PRIORITY} to {MAX_PRIORITY}", "priority"
        )
    return int(value)


def validate_timeout(value: Any, name: str = "timeout") -> float | None:
    """A timeout in seconds; 0 or null means none."""
    if value is None:
        return None
    return validate_seconds(value, name, "; 0 means none") or None


def validate_max_retries(value: Any) -> int:
    if not _is_int(value) or not 0 <= value <= MAX_RETRIES:
        raise ValidationError(f"max_retries must be an integer from 0 to {MAX_RETRIES}", "max_retries")
    return int(value)


def validate_max_output(value: Any) -> int:
    """Bytes of output an attempt keeps: an integer, or a size with a unit ("10M", "64MiB")."""
    if isinstance(value, str):
        try:
            value = parse_size(value)
        except SizeError as exc:
            raise ValidationError(f"max_output: {exc}", "max_output") from None
    if not _is_int(value) or not 0 <= value <= MAX_OUTPUT:
        raise ValidationError(f"max_output must be a size from 0 to {format_size(MAX_OUTPUT)} "
                              "(bytes, or e.g. 10M, 64MiB, 1G)", "max_output")  # fmt: skip
    return int(value)


def validate_env(value: Any, limits: ExecLimits | None = None) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError("env must be an object of string values", "env")
    if len(value) > MAX_ENV_ENTRIES:
        raise ValidationError(f"env has more than {MAX_ENV_ENTRIES} entries", "env")
    limit = (limits or exec_limits()).max_string
    for key, val in value.items():
        if not key or "=" in key or "\x00" in key:
            raise ValidationError(f"env name {key!r} is not a valid variable name", "env")
        if not isinstance(val, str) or "\x00" in val:
            raise ValidationError(f"env value of {key!r} must be a string without NUL", "env")
        try:
            size = len(f"{key}={val}".encode())
        except UnicodeEncodeError:
            raise ValidationError(f"env {key!r} must be valid unicode text", "env") from None
        if size > limit:
            raise ValidationError(
                f"env {key!r} is {size:,} bytes as NAME=VALUE; the kernel takes at most "
                f"{limit:,} bytes in one variable", "env"
            )  # fmt: skip
    return dict(value)


def validate_spec(raw: Any, now: float, limits: ExecLimits | None = None) -> JobSpec:
    """Check a job object from a client and turn it into a JobSpec.

    Unknown fields are rejected so a typo ("priorty") is not silently ignored.
    limits: what execve() takes (default: this process's, see exec_limits).
    """
    limits = limits or exec_limits()
    if not isinstance(raw, dict):
        raise ValidationError("a job must be a JSON object")
    if not SPEC_FIELDS.issuperset(raw):
        unknown = sorted(set(raw) - SPEC_FIELDS)
        raise ValidationError(f"unknown job field(s): {', '.join(map(str, unknown))}", unknown[0])
    if "command" not in raw:
        raise ValidationError("a job needs a command", "command")
    spec = JobSpec(command=validate_command(raw["command"], limits))
    if len(raw) > 1:  # (a job of a command only, the common one, keeps JobSpec's defaults)
        _validate_options(spec, raw, now, limits)
    total = exec_bytes(spec.command)
    if spec.env:
        total += sum(exec_bytes(f"{k}={v}") for k, v in spec.env.items())
    if total > limits.max_total:
        raise ValidationError(
            f"command and env take {total:,} bytes for execve(); at most {limits.max_total:,} "
            "are allowed (half of what the kernel takes for a command line and its "
            "environment)", "env" if spec.env else "command"
        )  # fmt: skip
    return spec


def _validate_options(spec: JobSpec, raw: dict[str, Any], now: float, limits: ExecLimits) -> None:
    """validate_spec's checks of every field but the command, into `spec`."""
    if raw.get("id") is not None:
        spec.id = validate_id(raw["id"])
    if raw.get("priority") is not None:
        spec.priority = validate_priority(raw["priority"])
    if "timeout" in raw and raw["timeout"] is not None:
        # An explicit 0 means "no timeout", unlike an absent one (the default applies).
        spec.timeout = validate_timeout(raw["timeout"]) or 0.0
    if raw.get("max_retries") is not None:
        spec.max_retries = validate_max_retries(raw["max_retries"])
    if raw.get("max_output") is not None:
        spec.max_output = validate_max_output(raw["max_output"])
    spec.on = validate_on(raw["on"]) if raw.get("on") is not None else None
    if raw.get("run_at") is not None and raw.get("delay") is not None:
        raise ValidationError("give either run_at or delay, not both", "delay")
    if raw.get("run_at") is not None:
        spec.run_at = parse_time(raw["run_at"])
    elif raw.get("delay") is not None:
        spec.run_at = check_time(now + validate_seconds(raw["delay"], "delay"), "delay")
        spec.relative = True
    if raw.get("cwd") is not None:
        cwd = raw["cwd"]
        if not isinstance(cwd, str) or not cwd.startswith("/") or "\x00" in cwd:
            raise ValidationError("cwd must be an absolute path", "cwd")
        spec.cwd = cwd
    spec.env = validate_env(raw.get("env"), limits)
    spec.queue = Q.validate_name(raw["queue"]) if raw.get("queue") is not None else Q.DEFAULT
    spec.slots = Q.validate_slots(raw["slots"]) if raw.get("slots") is not None else 1
    spec.tags = Q.validate_tags(raw.get("tags"))
    if raw.get("after") is not None or raw.get("after_condition") is not None:
        from queuectl.after import validate_after
        spec.after, spec.after_condition = validate_after(raw.get("after"), raw.get("after_condition"))
    spec.unique_key, spec.unique_while = validate_unique(raw)
    if not HOOK_FIELDS.isdisjoint(raw):
        for name in H.FIELDS:
            if raw.get(name) is not None:
                setattr(spec, name, H.validate_hook(raw[name], name, limits))


def initial_state(run_at: float | None, now: float) -> str:
    return SCHEDULED if run_at is not None and run_at > now else PENDING


# --- retries ----------------------------------------------------------------------


def backoff_delay(
    attempts: int, base: float, cap: float, jitter: float = 0.0, rng: random.Random | None = None
) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: base ** attempts, capped.

    jitter is a fraction (0..1): the delay is spread over [d * (1 - jitter), d] so
    that many jobs failing together do not all come back in the same instant.
    """
    try:
        delay = min(float(base) ** attempts, cap)
    except OverflowError:
        delay = cap
    if jitter > 0:
        delay *= 1.0 - jitter * (rng or random).random()
    return max(delay, 0.0)


@dataclass(frozen=True, slots=True)
class FailureOutcome:
    state: str  # FAILED (will run again at run_at) or DEAD
    run_at: float | None


def after_failure(
    attempts: int,
    max_retries: int,
    now: float,
    base: float,
    cap: float,
    jitter: float = 0.0,
) -> FailureOutcome:
    """Where a job goes after its `attempts`-th charged attempt failed.

    max_retries counts retries, so a job runs at most max_retries + 1 times.
    """
    if attempts > max_retries:
        return FailureOutcome(DEAD, None)
    return FailureOutcome(FAILED, now + backoff_delay(attempts, base, cap, jitter))


def duplicate_ids(ids: Sequence[str | None], taken: Collection[str]) -> list[tuple[int, str, str]]:
    """(index, id, why) of every id in a batch that appears a second time or exists
    already (`taken`), in batch order: the one rule for duplicate ids, whatever the
    path in (job.enqueue_many with or without dry_run or skip_invalid, the store)."""
    seen: set[str] = set()
    found = []
    for index, job_id in enumerate(ids):
        if job_id is None:
            continue
        if job_id in seen:
            found.append((index, job_id, f"id {job_id!r} appears twice"))
        elif job_id in taken:
            found.append((index, job_id, f"a job with id {job_id!r} exists already"))
        seen.add(job_id)
    return found


def describe_failure(exit_code: int | None, signal: int | None, timed_out: bool) -> str:
    """The human last_error for a failed attempt."""
    if timed_out:
        return "timed out"
    if signal is not None:
        return f"killed by signal {signal}"
    return f"exit code {exit_code}"
