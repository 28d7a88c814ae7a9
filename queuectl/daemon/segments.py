"""Log segment files: which may go, removing them, and what the logs directory holds.

A segment (`<epoch>-<child>-<n>.out` and `.err`) may be removed once no attempt
points into it and no child can write to it again: a live child writes only to
its newest segment, so its older ones (lower n) are as free as a dead child's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path

InUse = Callable[[set[str]], set[str]]  # the store's segments_in_use


def parse(name: str) -> tuple[str, int] | None:
    """'12-3-7' -> ('12-3', 7): the writer (epoch-child) and its number."""
    writer, _, n = name.rpartition("-")
    return (writer, int(n)) if writer and n.isdigit() else None


def writable(name: str, live: Mapping[str, int | None]) -> bool:
    """Whether a live child may still write to this segment. `live`: epoch-child of each
    living child -> the number of the segment it last reported (None: none yet)."""
    parsed = parse(name)
    if parsed is None:
        return True  # not ours to judge: never removed
    writer, n = parsed
    if writer not in live:
        return False
    current = live[writer]
    return current is None or n >= current


def remove(logs_dir: Path, candidates: set[str], in_use: InUse, live: Mapping[str, int | None]) -> tuple[int, int]:
    """Remove the candidates nothing points into; returns (segments removed, bytes freed)."""
    free = {c for c in candidates if not writable(c, live)}
    removed = freed = 0
    for seg in free - in_use(free) if free else ():
        removed += 1
        for ext in ("out", "err"):
            path = logs_dir / f"{seg}.{ext}"
            with contextlib.suppress(FileNotFoundError):
                freed += path.stat().st_size
                path.unlink()
    return removed, freed


def scan(logs_dir: Path) -> tuple[set[str], int]:
    """Every segment in the directory, and the bytes of all its files."""
    names: set[str] = set()
    total = 0
    with contextlib.suppress(FileNotFoundError), os.scandir(logs_dir) as entries:
        for entry in entries:
            stem, _, ext = entry.name.rpartition(".")
            with contextlib.suppress(FileNotFoundError):
                total += entry.stat(follow_symlinks=False).st_size
            if ext in ("out", "err") and parse(stem) is not None:
                names.add(stem)
    return names, total
