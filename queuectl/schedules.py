"""Recurring schedules: their validation and their slots (pure code, no I/O but the zone
database). Cron expressions are read by cronsim (docs/lifecycle.md says why); the
@hourly/@daily/@weekly/@monthly/@yearly names are translated here first.

A slot is a unix time. For cron, slots are wall-clock times in the schedule's zone:
a time that does not exist there (spring forward) is run once at the next valid
minute, and a time that happens twice (fall back) is run once, at its first
occurrence. `--every` slots are multiples of the interval since the Unix epoch, so
they do not depend on when the schedule was made and never move with daylight saving.
"""

from __future__ import annotations

import contextlib
import os
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from queuectl import jobs as J

OVERLAPS = ("skip", "queue", "allow")
CATCH_UPS = ("none", "latest", "all")
MAX_CATCH_UP = 100
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_EVERY = 366 * 86400
NICKNAMES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
             "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
             "@annually": "0 0 1 1 *"}  # fmt: skip
# What a schedule's job spec may hold: the rest (id, run_at, delay, after) is the schedule's to set.
JOB_FIELDS = frozenset({"command", "priority", "timeout", "max_retries", "cwd", "env", "queue", "slots", "tags"})


def validate_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise J.ValidationError("name must be 1 to 100 letters, digits, '.', '_' or '-', starting with a "
                                "letter or digit", "name")  # fmt: skip
    return name


def validate_cron(expr: Any) -> str:
    from cronsim import CronSim, CronSimError

    if not isinstance(expr, str) or not expr.strip():
        raise J.ValidationError("cron must be a cron expression (5 fields, or @hourly, @daily...)", "cron")
    expr = " ".join(expr.split())
    try:
        CronSim(NICKNAMES.get(expr.lower(), expr), datetime(2000, 1, 1))
    except (CronSimError, ValueError, KeyError, IndexError) as exc:
        raise J.ValidationError(f"cron {expr!r} is not a valid cron expression: {exc}", "cron") from None
    return expr


def validate_every(value: Any) -> int:
    """Seconds between runs: a number, or a duration with units (`10m`, `1h30m`)."""
    if isinstance(value, str):
        from queuectl.durations import DurationError, parse_duration

        try:
            value = parse_duration(value)
        except DurationError as exc:
            raise J.ValidationError(f"every: {exc}", "every") from None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 1 <= value <= MAX_EVERY \
            or value != int(value):  # fmt: skip
        raise J.ValidationError("every must be a whole number of seconds from 1s to 366d (e.g. 10m, 1h30m)",
                                "every")  # fmt: skip
    return int(value)


def local_zone() -> str:
    """The IANA name of this machine's zone (TZ, /etc/localtime, /etc/timezone), or UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        candidates.append(os.path.realpath("/etc/localtime").partition("zoneinfo/")[2])
    try:
        with open("/etc/timezone") as f:
            candidates.append(f.read().strip())
    except OSError:
        pass
    for name in candidates:
        if name and _zone_or_none(name) is not None:
            return name
    return "UTC"


def _zone_or_none(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def validate_tz(name: Any) -> str:
    if not isinstance(name, str) or _zone_or_none(name) is None:
        raise J.ValidationError(f"tz {name!r} is not a known IANA time zone (e.g. Europe/Berlin, UTC)", "tz")
    return name


def validate_choice(value: Any, field: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise J.ValidationError(f"{field} must be one of {', '.join(choices)}", field)
    return str(value)


def validate_job(job: Any, now: float) -> dict[str, Any]:
    """A schedule's job spec: checked as a job would be, fields the schedule sets refused."""
    if not isinstance(job, dict):
        raise J.ValidationError("job must be an object (command, priority, timeout, ...)", "job")
    extra = sorted(set(job) - JOB_FIELDS)
    if extra:
        raise J.ValidationError(f"a schedule's job cannot have {extra[0]!r} (it takes: "
                                f"{', '.join(sorted(JOB_FIELDS))})", extra[0])  # fmt: skip
    J.validate_spec(job, now)
    return {k: v for k, v in job.items() if v is not None}


# --- slots ------------------------------------------------------------------------------


def next_slot(cron: str | None, every: int | None, tz: str, after: float) -> float:
    """The first slot strictly after `after`."""
    if cron is None:
        assert every
        return (after // every + 1) * every
    from cronsim import CronSim

    zone = ZoneInfo(tz)
    start = datetime.fromtimestamp(after, zone)
    for slot in CronSim(NICKNAMES.get(cron.lower(), cron), start):
        if slot.fold == 1 and slot.utcoffset() != slot.replace(fold=0).utcoffset():
            continue  # the second pass through a repeated hour: that time ran already
        ts = slot.timestamp()
        if ts > after:
            return ts
    raise ValueError("no next slot")  # (cronsim iterates forever)


def slots(cron: str | None, every: int | None, tz: str, first: float, until: float,
          cap: int) -> list[float]:  # fmt: skip
    """Slots from `first` (a slot) up to `until`, at most `cap` of them (the earliest)."""
    out: list[float] = []
    slot = first
    while slot <= until and len(out) < cap:
        out.append(slot)
        slot = next_slot(cron, every, tz, slot)
    return out


def count_after(cron: str | None, every: int | None, tz: str, first: float, until: float) -> int:
    """How many slots lie from `first` to `until` (for the log of skipped ones; an estimate
    past 10,000)."""
    if cron is None and every:
        return int((until - first) // every) + 1 if until >= first else 0
    return len(slots(cron, every, tz, first, until, 10_000))


def slot_text(slot: float, tz: str) -> str:
    """The slot as ISO 8601 in its zone, with the offset (what follows NAME@ in a run's id)."""
    return datetime.fromtimestamp(slot, ZoneInfo(tz)).isoformat(timespec="seconds")


def run_id(name: str, slot: float, tz: str) -> str:
    return f"{name}@{slot_text(slot, tz)}"


def upcoming(cron: str | None, every: int | None, tz: str, after: float, n: int) -> list[float]:
    out: list[float] = []
    for _ in range(n):
        after = next_slot(cron, every, tz, after)
        out.append(after)
    return out


def describe(cron: str | None, every: int | None) -> str:
    if cron is not None:
        return cron
    assert every is not None
    return "every " + format_every(every)


def format_every(seconds: int) -> str:
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"

