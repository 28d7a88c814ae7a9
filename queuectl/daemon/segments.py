"""Log segment files: a worker child's writing them (LogSegments), which may go,
removing them, and what the logs directory holds.

A segment (`<epoch>-<child>-<n>.out` and `.err`) may be removed once no attempt
points into it and no child can write to it again: a live child writes only to
its newest segment, so its older ones (lower n) are as free as a dead child's.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from queuectl import fsguard

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


class LogSegments:
    """This child's append-only stdout/stderr files, rotated at a size limit, or once
    written to and older than the job's `rotate_after` (so that the jobs of one segment
    finish, and are pruned, close together: see docs/operations.md, "Retention").

    Segment names are made of numbers only (epoch-child-n), never of a job id.
    """

    def __init__(self, logs_dir: str, epoch: int, child_id: int, limit: int):
        self.logs_dir = logs_dir
        self.prefix = f"{epoch}-{child_id}"
        self.limit = limit
        self.n = 0
        self.out_fd = self.err_fd = -1
        self._open_next()

    def _open_next(self, close_old: bool = True) -> None:
        if close_old:
            self.close()
        self.n += 1
        self.name = f"{self.prefix}-{self.n}"
        self.opened_at = time.monotonic()
        # Never through a link, never into a file that is not our own (fsguard).
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        self.out_fd = fsguard.open_nofollow(os.path.join(self.logs_dir, self.name + ".out"), flags)
        self.err_fd = fsguard.open_nofollow(os.path.join(self.logs_dir, self.name + ".err"), flags)
        # From here on only our captures append to them: their sizes are counted (grew),
        # not asked of the kernel twice a job.
        self.out_size = os.fstat(self.out_fd).st_size
        self.err_size = os.fstat(self.err_fd).st_size

    def grew(self, out: int, err: int) -> None:
        self.out_size += out
        self.err_size += err

    def rotate_if_full(self, max_age: float) -> tuple[int, int]:
        out, err = self.out_size, self.err_size
        old = (out or err) and time.monotonic() - self.opened_at >= max_age
        if out >= self.limit or err >= self.limit or old:
            was = (self.name, self.out_fd, self.err_fd, self.n, self.opened_at)
            try:
                self._open_next(close_old=False)
            except (OSError, fsguard.UnsafePath):
                # Disk full or the like: keep appending to the current segment.
                self.name, self.out_fd, self.err_fd, self.n, self.opened_at = was
                self.out_size, self.err_size = out, err
                return out, err
            for fd in was[1:3]:
                os.close(fd)
            return self.out_size, self.err_size
        return out, err

    def close(self) -> None:
        for fd in (self.out_fd, self.err_fd):
            if fd >= 0:
                os.close(fd)
        self.out_fd = self.err_fd = -1
