"""The job model: states, validation of a job spec, backoff and time on the wire.

Pure code: no I/O, no sockets, no database. The daemon and the CLI both use it
(the CLI validates an NDJSON file locally before sending any of it).
"""

from __future__ import annotations

import math
import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Job states. A job is created `scheduled` (run_at in the future) or `pending`.
SCHEDULED = "scheduled"
PENDING = "pending"
PROCESSING = "processing"
COMPLETED = "completed"
FAILED = "failed"  # waiting for its backoff to expire, then runnable again
DEAD = "dead"  # retries exhausted: the dead letter queue
CANCELLED = "cancelled"

STATES = (SCHEDULED, PENDING, PROCESSING, COMPLETED, FAILED, DEAD, CANCELLED)
FINAL_STATES = frozenset({COMPLETED, DEAD, CANCELLED})
# States a job is waiting in for a time to arrive (run_at or the end of a backoff).
TIMED_STATES = frozenset({SCHEDULED, FAILED})
RETRYABLE_STATES = frozenset({FAILED, DEAD})
CANCELLABLE_STATES = frozenset({SCHEDULED, PENDING, FAILED, PROCESSING})
DELETABLE_STATES = frozenset({COMPLETED, DEAD, CANCELLED, FAILED, SCHEDULED, PENDING})

MAX_ID_LENGTH = 200
MAX_COMMAND_BYTES = 128 * 1024
MAX_PRIORITY = 1_000_000
MAX_TIMEOUT = 365 * 24 * 3600.0
MAX_RETRIES = 1000
MAX_ENV_ENTRIES = 256

SPEC_FIELDS = frozenset(
    {"id", "command", "priority", "timeout", "run_at", "delay", "max_retries", "cwd", "env"}
)


class ValidationError(ValueError):
    """A job spec (or a parameter) that cannot be accepted; `field` names the culprit."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


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


# --- time on the wire -------------------------------------------------------------


def format_time(ts: float | None) -> str | None:
    """Unix seconds -> ISO 8601 UTC with microseconds and a Z suffix."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> float:
    """ISO 8601 -> unix seconds. A time without a zone is taken as UTC (documented)."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("run_at must be an ISO 8601 time string", "run_at")
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError(
            f"run_at {text!r} is not an ISO 8601 time (e.g. 2026-01-31T12:00:00Z)", "run_at"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


# --- validation -------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)) and math.isfinite(
        value
    )


def validate_id(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError("id must be a string", "id")
    if not value or not value.strip():
        raise ValidationError("id must not be empty", "id")
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(f"id is longer than {MAX_ID_LENGTH} characters", "id")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationError("id must not contain control characters", "id")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise ValidationError("id must be valid unicode text", "id")
    return value


def validate_command(value: Any) -> str:
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
    if size > MAX_COMMAND_BYTES:
        raise ValidationError(f"command is larger than {MAX_COMMAND_BYTES} bytes", "command")
    return value


def validate_priority(value: Any) -> int:
    if not _is_int(value) or not -MAX_PRIORITY <= value <= MAX_PRIORITY:
        raise ValidationError(
            f"priority must be an integer from {-MAX_PRIORITY} to {MAX_PRIORITY}", "priority"
        )
    return value


def validate_timeout(value: Any, name: str = "timeout") -> float | None:
    """A timeout in seconds; 0 or null means none."""
    if value is None:
        return None
    if not _is_number(value) or value < 0 or value > MAX_TIMEOUT:
        raise ValidationError(f"{name} must be a number of seconds >= 0", name)
    return float(value) or None


def validate_max_retries(value: Any) -> int:
    if not _is_int(value) or not 0 <= value <= MAX_RETRIES:
        raise ValidationError(f"max_retries must be an integer from 0 to {MAX_RETRIES}", "max_retries")
    return value


def validate_env(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError("env must be an object of string values", "env")
    if len(value) > MAX_ENV_ENTRIES:
        raise ValidationError(f"env has more than {MAX_ENV_ENTRIES} entries", "env")
    for key, val in value.items():
        if not key or "=" in key or "\x00" in key:
            raise ValidationError(f"env name {key!r} is not a valid variable name", "env")
        if not isinstance(val, str) or "\x00" in val:
            raise ValidationError(f"env value of {key!r} must be a string without NUL", "env")
    return dict(value)


def validate_spec(raw: Any, now: float) -> JobSpec:
    """Check a job object from a client and turn it into a JobSpec.

    Unknown fields are rejected so a typo ("priorty") is not silently ignored.
    """
    if not isinstance(raw, dict):
        raise ValidationError("a job must be a JSON object")
    unknown = sorted(set(raw) - SPEC_FIELDS)
    if unknown:
        raise ValidationError(f"unknown job field(s): {', '.join(map(str, unknown))}", unknown[0])
    if "command" not in raw:
        raise ValidationError("a job needs a command", "command")
    spec = JobSpec(command=validate_command(raw["command"]))
    if raw.get("id") is not None:
        spec.id = validate_id(raw["id"])
    if raw.get("priority") is not None:
        spec.priority = validate_priority(raw["priority"])
    if "timeout" in raw and raw["timeout"] is not None:
        # An explicit 0 means "no timeout", unlike an absent one (the default applies).
        spec.timeout = validate_timeout(raw["timeout"]) or 0.0
    if raw.get("max_retries") is not None:
        spec.max_retries = validate_max_retries(raw["max_retries"])
    if raw.get("run_at") is not None and raw.get("delay") is not None:
        raise ValidationError("give either run_at or delay, not both", "delay")
    if raw.get("run_at") is not None:
        spec.run_at = parse_time(raw["run_at"])
    elif raw.get("delay") is not None:
        delay = raw["delay"]
        if not _is_number(delay) or delay < 0 or delay > MAX_TIMEOUT:
            raise ValidationError("delay must be a number of seconds >= 0", "delay")
        spec.run_at = now + float(delay)
    if raw.get("cwd") is not None:
        cwd = raw["cwd"]
        if not isinstance(cwd, str) or not cwd.startswith("/") or "\x00" in cwd:
            raise ValidationError("cwd must be an absolute path", "cwd")
        spec.cwd = cwd
    spec.env = validate_env(raw.get("env"))
    return spec


_last_generated = 0


def new_job_id() -> str:
    """A generated id: 16 hex digits, the microsecond clock followed by 12 random bits.

    Time-ordered, so a million generated ids append to the id index instead of
    dirtying random pages of it; strictly increasing within a process, so a batch
    never repeats one (a clash with an existing id is still caught by the store).
    """
    global _last_generated
    value = (time.time_ns() // 1000) << 12 | secrets.randbits(12)
    if value <= _last_generated:
        value = _last_generated + 1
    _last_generated = value
    return f"{value:016x}"


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


def describe_failure(exit_code: int | None, signal: int | None, timed_out: bool) -> str:
    """The human last_error for a failed attempt."""
    if timed_out:
        return "timed out"
    if signal is not None:
        return f"killed by signal {signal}"
    return f"exit code {exit_code}"
