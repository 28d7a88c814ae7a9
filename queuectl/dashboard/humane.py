"""Numbers and words for people: durations, sizes, signal names, error texts (pure code).

The pages' scripts format times in the browser's own zone and keep relative ages
ticking (static/time.js); what is here is what the server renders, the same words
without a script.
"""

from __future__ import annotations

import re
import signal
from typing import Any

_SIGNAL_IN_TEXT = re.compile(r"\bsignal (\d+)\b")


def span(seconds: float | None) -> str:
    """A length of time: 42 s, 3 min 12 s, 2 h 05 min, 3 d 4 h."""
    if seconds is None:
        return ""
    s = int(max(seconds, 0))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86400:
        return f"{s // 3600} h {s // 60 % 60:02d} min"
    return f"{s // 86400} d {s // 3600 % 24} h"


def duration(ms: float | None) -> str:
    """How long an attempt ran: 340 ms, 2.0 s, 3 min 12 s."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return span(ms / 1000)


def setting_seconds(seconds: float | None) -> str:
    """A configured time such as a timeout: 30 s, 1.5 s, 1 h 30 min."""
    if not seconds:
        return ""
    if seconds < 60:
        return f"{seconds:g} s"
    text = span(seconds)
    for zero in (" 00 s", " 00 min", " 0 h"):
        text = text.removesuffix(zero)
    return text


def size(n: int | None) -> str:
    """Bytes in decimal units: 512 B, 5.1 kB, 5.1 MB (as the CLI writes them)."""
    from queuectl.client import human

    return "" if n is None else human.size(n)


def signal_name(number: int | None) -> str:
    if number is None:
        return ""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def error_text(error: str | None) -> str:
    """The daemon's words for a failure, with signals by name: killed by SIGKILL."""
    if not error:
        return ""
    return _SIGNAL_IN_TEXT.sub(lambda m: signal_name(int(m.group(1))), error)


def attempt_error(attempt: dict[str, Any]) -> str:
    """An attempt's error, saying "timed out" once however the daemon recorded it."""
    text = error_text(attempt.get("error"))
    if attempt.get("timed_out") and "timed out" not in text:
        text = f"{text}, timed out" if text else "timed out"
    return text


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def limit_size(n: int | None) -> str:
    """A size limit as it is set: binary units (64 MiB), as `logs` says it."""
    from queuectl.sizes import format_size

    return "" if n is None else format_size(n)


FILTERS = {"span": span, "duration": duration, "setting_seconds": setting_seconds, "size": size,
           "limit_size": limit_size, "signal_name": signal_name, "error_text": error_text}  # fmt: skip
