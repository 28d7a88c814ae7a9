"""Times, durations and sizes for people, short: `14:03:05` today, `2026-01-31` before;
`850ms`, `54.2s`, `8m50s`, `2h05m`, `3d04h`; `512 B`, `5.1 kB`. Pure code; datetime is
imported only when a time is formatted (the fast path prints durations)."""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime


def span(seconds: float | None) -> str:
    """How long something took or has been going: 850ms, 54.2s, 8m50s, 2h05m, 3d04h."""
    if seconds is None:
        return "-"
    s = max(float(seconds), 0.0)
    if s < 1:
        return f"{s * 1000:.0f}ms"
    if s < 59.95:
        return f"{s:.1f}s"
    whole = int(s + 0.5)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole // 60 % 60:02d}m"
    return f"{whole // 86400}d{whole // 3600 % 24:02d}h"


def setting(seconds: float | None) -> str:
    """A configured length (a timeout) as it would be typed: 90s, 10m, 1h30m, 2.5s."""
    if seconds is None:
        return "-"
    s = float(seconds)
    if s < 60 or s != int(s):
        return f"{s:g}s"
    out, rest = "", int(s)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out


def size(n: int | None) -> str:
    if n is None:
        return "-"
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 999.95 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def _local(iso: str) -> datetime | None:
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso).astimezone()
    except (ValueError, TypeError, OverflowError, OSError):
        return None


def short_time(iso: str | None, now: float | None = None) -> str:
    """A daemon time in local time: HH:MM:SS when it is today, the date otherwise."""
    if not iso:
        return "-"
    t = _local(iso)
    if t is None:
        return iso
    from datetime import datetime

    today = datetime.fromtimestamp(time.time() if now is None else now).astimezone().date()
    return t.strftime("%H:%M:%S") if t.date() == today else t.strftime("%Y-%m-%d")


def long_time(iso: str | None, now: float | None = None) -> str:
    """A daemon time in local time with its distance from now: 2026-01-31 14:03:05 (5m ago)."""
    if not iso:
        return "-"
    t = _local(iso)
    if t is None:
        return iso
    return f"{t.strftime('%Y-%m-%d %H:%M:%S')} ({_distance(t.timestamp(), now)})"


def age(iso: str | None, now: float | None = None) -> str:
    """How long ago: 5m10s ago (or in 3m for a time to come)."""
    t = _local(iso) if iso else None
    if t is None:
        return "-"
    return _distance(t.timestamp(), now)


def _distance(t: float, now: float | None) -> str:
    delta = t - (time.time() if now is None else now)
    if abs(delta) < 1:
        return "now"
    return f"in {span(delta)}" if delta > 0 else f"{span(-delta)} ago"
