"""Durations as people write them: `2.5` (seconds), `90s`, `10m`, `1h30m`, `2d`, `500ms`.

Pure code with no imports, so the CLI's fast path (queuectl.client.fast) parses
`--delay 10m` exactly as the click commands do. Range checks (>= 0, at most a year,
...) stay with each option: this only turns the text into seconds.
"""

from __future__ import annotations

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
HINT = "seconds (2.5) or a number with units, e.g. 500ms, 90s, 10m, 1h30m, 2d"
_DIGITS = "0123456789"


class DurationError(ValueError):
    """Text that is not a duration; str() is a one-line message naming it."""


def parse_duration(text: str) -> float:
    """Seconds in `text`: a plain number as float() reads it (so `nan`, `-1`, `2e1` come
    back as numbers, for the caller's range check), or one or more <number><unit> parts,
    largest unit first, each unit once (`1h30m`, `1.5h`, `2m30s`, `500ms`)."""
    try:
        return float(text)
    except ValueError:
        pass
    s = "".join(text.split()).lower()  # `1h 30m` too
    if not s:
        raise DurationError(f"invalid duration {text!r}: use {HINT}")
    total = 0.0
    i = 0
    last = float("inf")  # the size of the previous part's unit
    while i < len(s):
        start = i
        while i < len(s) and (s[i] in _DIGITS or s[i] == "."):
            i += 1
        number = s[start:i]
        unit_start = i
        while i < len(s) and s[i].isalpha():
            i += 1
        unit = s[unit_start:i]
        if not number or number.count(".") > 1 or number == "." or unit not in UNITS \
                or UNITS[unit] >= last:  # fmt: skip
            raise DurationError(f"invalid duration {text!r}: use {HINT}")
        last = UNITS[unit]
        total += float(number) * UNITS[unit]
    return total
