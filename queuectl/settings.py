"""Runtime configuration keys: names, types, defaults and validation (pure code).

Values are persisted by the daemon in the `config` table and take effect
without a restart. The CLI passes `config set KEY VALUE` as a string; `parse`
turns it into the key's type.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from queuectl import hooks as H
from queuectl import ratelimit
from queuectl.durations import DurationError, parse_duration
from queuectl.jobs import ValidationError
from queuectl.sizes import MAX_OUTPUT, SizeError, parse_size


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    kind: type  # int, float or str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    # A string setting checked (and normalized) by this instead of choices.
    normalize: Callable[[str], str] | None = None


MAX_WORKERS = 256  # the one home of this limit: config `workers`, workers.scale, --workers


DAY = 86400.0
MAX_RETAIN = 100 * 365 * DAY  # longer is a typo, not a policy


def _default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def _rate(value: str) -> str:
    """rate_limit: N/PERIOD in its short form, or "none"."""
    return ratelimit.rate_text(ratelimit.parse_rate(value, "rate_limit")) or ratelimit.NONE


def _hook(name: str) -> Callable[[str], str]:
    return lambda value: H.validate_default(value, name)


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("max_retries", int, 3, "retries after the first attempt before a job is dead", 0, 1000),
        Setting("backoff_base", float, 2.0, "a failed job waits backoff_base ** attempts seconds", 1.0, 1e6),
        Setting("backoff_max", float, 3600.0, "upper bound of one backoff delay, in seconds", 0.0, 1e9),
        Setting("backoff_jitter", float, 0.0, "fraction (0..1) by which a backoff delay is shortened at random", 0.0, 1.0),
        Setting("default_timeout", float, 0.0, "timeout in seconds for jobs that set none (0: no timeout)", 0.0, 365 * 86400.0),
        Setting("kill_grace", float, 5.0, "seconds between SIGTERM and SIGKILL when a job is killed", 0.0, 3600.0),
        Setting("shutdown_grace", float, 10.0, "seconds running jobs get to finish on a graceful stop", 0.0, 86400.0),
        Setting("workers", int, _default_workers(), "number of worker children the daemon runs", 0, MAX_WORKERS),
        Setting("worker_silence_limit", float, 30.0, "seconds a worker child may send nothing (it sends a heartbeat every 2 s) before it is killed as wedged", 5.0, 3600.0),
        Setting("max_output_bytes", int, 64 << 20, "output kept per attempt (stdout and stderr together); past it the rest is dropped and the attempt says how much (jobs may set their own, max_output)", 0, MAX_OUTPUT),
        Setting("disk_free_min_bytes", int, 1 << 30, "the disk floor: with less free space than the smaller of this and disk_free_min_percent of the disk (on the state directory's filesystem), no new job starts until space returns (0: off)", 0, MAX_OUTPUT),
        Setting("disk_free_min_percent", float, 5.0, "the disk floor's other half: a percentage of the filesystem's size (see disk_free_min_bytes; 0: off)", 0.0, 100.0),
        Setting("retain_completed", float, 7 * DAY, "seconds a completed job (and its output) is kept before the daemon prunes it; 0 or none: forever", 0.0, MAX_RETAIN),
        Setting("retain_dead", float, 30 * DAY, "seconds a dead job (and its output) is kept before the daemon prunes it; 0 or none: forever", 0.0, MAX_RETAIN),
        Setting("retain_cancelled", float, 7 * DAY, "seconds a cancelled job (and its output) is kept before the daemon prunes it; 0 or none: forever", 0.0, MAX_RETAIN),
        Setting("retain_max_jobs", int, 0, "most finished jobs kept: past it the oldest finished are pruned first; 0 or none: no cap", 0, 1_000_000_000),
        Setting("synchronous", str, "NORMAL", "SQLite durability: NORMAL (fast, a power loss may drop the last commits) or FULL (fsync per commit); PostgreSQL always commits durably", choices=("NORMAL", "FULL")),
        Setting("rate_limit", str, ratelimit.NONE, "at most N job starts in any PERIOD, over every queue: N/PERIOD (10/m, 2/s, 5/10s) or none", normalize=_rate),
        Setting("on_success", str, "", "hook command run (as a job of its own) when a job completes, for jobs that name none; empty: none", normalize=_hook("on_success")),
        Setting("on_failure", str, "", "hook command run when a job goes dead (no retries left), for jobs that name none; empty: none", normalize=_hook("on_failure")),
        Setting("on_finish", str, "", "hook command run when a job completes or goes dead, for jobs that name none; empty: none", normalize=_hook("on_finish")),
        Setting("hook_timeout", float, 300.0, "timeout in seconds of a hook job (0: none)", 0.0, 365 * 86400.0),
        Setting("hook_max_retries", int, 0, "retries of a hook job that fails", 0, 1000),
        Setting("lease", float, 10.0, "daemons sharing a PostgreSQL database: seconds a daemon's lease lasts; when it lapses another daemon rescues its jobs, and a daemon that cannot renew kills its jobs a second before", 3.0, 3600.0),
        Setting("lease_renew", float, 2.0, "daemons sharing a PostgreSQL database: seconds between lease renewals (at most a third of the lease is used)", 0.1, 600.0),
        Setting("cluster_poll", float, 1.0, "daemons sharing a PostgreSQL database: seconds between looks at the database for work another daemon added, in case a notification was lost", 0.05, 60.0),
    )
}


def check(name: str, value: Any) -> Any:
    """Validate a typed value for `name`; returns it normalized."""
    setting = SETTINGS.get(name)
    if setting is None:
        raise ValidationError(
            f"unknown config key {name!r} (known: {', '.join(sorted(SETTINGS))})", "key"
        )
    if setting.kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValidationError(f"{name} must be an integer", "value")
    elif setting.kind is float:
        if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
            raise ValidationError(f"{name} must be a number", "value")
        value = float(value)
    elif setting.kind is str:
        if not isinstance(value, str):
            raise ValidationError(f"{name} must be a string", "value")
        if setting.normalize is not None:
            try:
                return setting.normalize(value)
            except ValidationError as exc:
                raise ValidationError(str(exc), "value") from None
        value = value.upper()
        if setting.choices and value not in setting.choices:
            raise ValidationError(f"{name} must be one of {', '.join(setting.choices)}", "value")
    if setting.minimum is not None and value < setting.minimum:
        raise ValidationError(f"{name} must be >= {setting.minimum:g}", "value")
    if setting.maximum is not None and value > setting.maximum:
        raise ValidationError(f"{name} must be <= {setting.maximum:g}", "value")
    return value


# Settings that are lengths of time: `config set` takes them with units too (`1h30m`).
SECONDS = frozenset({"backoff_max", "default_timeout", "kill_grace", "shutdown_grace", "worker_silence_limit",
                     "hook_timeout", "retain_completed", "retain_dead", "retain_cancelled", "lease",
                     "lease_renew", "cluster_poll"})
# Settings that are sizes in bytes: `config set` takes them with units too (`64MiB`).
BYTES = frozenset({"max_output_bytes", "disk_free_min_bytes"})
# Settings where 0 means "no limit": `config set` takes `none` for it too.
NONE_IS_ZERO = frozenset({"retain_completed", "retain_dead", "retain_cancelled", "retain_max_jobs"})


def parse(name: str, text: str) -> Any:
    """Parse a value typed on the command line into the key's type, then check it."""
    setting = SETTINGS.get(name)
    if setting is None:
        return check(name, text)  # raises the unknown-key error
    if name in NONE_IS_ZERO and text.strip().lower() == "none":
        text = "0"
    try:
        if name in BYTES:
            value: Any = parse_size(text)
        else:
            value = parse_duration(text) if name in SECONDS else setting.kind(text)
    except (DurationError, SizeError) as exc:
        raise ValidationError(f"{name}: {exc}", "value") from None
    except ValueError:
        kind = "an integer" if setting.kind is int else "a number"
        raise ValidationError(f"{name} must be {kind}, not {text!r}", "value") from None
    return check(name, value)


def defaults() -> dict[str, Any]:
    return {name: s.default for name, s in SETTINGS.items()}
