"""Sizes as people write them: `1048576` (bytes), `10M`, `64MiB`, `1.5G`, `500k` (pure code,
no imports: the CLI's fast path may use it too).

K, M, G, T and KiB, MiB, GiB, TiB are powers of 1024 (what `ls -h` and `du -h` mean);
kB, MB, GB, TB are powers of 1000, as SI has them. B alone: bytes. Case-insensitive
but for that one distinction (`mb` = `MB`). Range checks stay with each caller.
"""

from __future__ import annotations

_BINARY = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
           "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}  # fmt: skip
_DECIMAL = {"kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
MAX_OUTPUT = 1 << 50  # 1 PiB: config max_output_bytes and a job's max_output ("no limit" in practice)
HINT = "bytes (1048576) or a number with a unit, e.g. 10M, 64MiB, 1.5G, 500k, 2GB"


class SizeError(ValueError):
    """Text that is not a size; str() is a one-line message naming it."""


def parse_size(text: str) -> int:
    """Bytes in `text` (rounded down); negative numbers come back negative, for the
    caller's range check."""
    s = "".join(text.split()).lower()
    i = 0
    if s[:1] in ("-", "+"):
        i = 1
    while i < len(s) and (s[i].isdigit() or s[i] == "."):
        i += 1
    number, unit = s[:i], s[i:]
    factor = _BINARY.get(unit) or _DECIMAL.get(unit)
    try:
        value = float(number)
    except ValueError:
        raise SizeError(f"invalid size {text!r}: use {HINT}") from None
    if factor is None or value != value or value in (float("inf"), float("-inf")):
        raise SizeError(f"invalid size {text!r}: use {HINT}")
    return int(value * factor)


def format_size(n: float) -> str:
    """Binary units, one decimal below 10 of a unit: `64 MiB`, `1.9 GiB`, `512 bytes`."""
    if n < 1024:
        return f"{int(n)} byte{'s' if n != 1 else ''}"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        n /= 1024
        if n < 1024 or unit == "PiB":
            text = f"{n:.1f}" if n < 10 else f"{n:.0f}"
            return f"{text.removesuffix('.0')} {unit}"
    raise AssertionError("unreachable")
