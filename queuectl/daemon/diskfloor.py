"""The disk floor (pure rule, plus when to look): while the state directory's filesystem
has less free space than the floor, the daemon starts no new jobs (running ones go on),
instead of failing its commits when the disk is full; it resumes by itself once space
returns.

The floor is the smaller of config `disk_free_min_bytes` (default 1 GiB) and
`disk_free_min_percent` of the filesystem's size (default 5 %): 1 GiB on a large disk,
5 % on a small one, where 1 GiB may be much of it. Either at 0 turns it off. Free space
is what an unprivileged process may use (f_bavail): the root reserve does not count.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CHECK_SECONDS = 2.0  # statvfs at most this often (it is cheap, but the loop turns often)


def floor_bytes(total: int, min_bytes: int, min_percent: float) -> int:
    return int(min(min_bytes, total * min_percent / 100.0))


def space(st: Any) -> tuple[int, int]:
    """(free, total) bytes of a statvfs result."""
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize


@dataclass(slots=True)
class Change:
    low: bool
    free: int
    floor: int


class DiskFloor:
    def __init__(self, path: str, statvfs: Callable[[str], Any] = os.statvfs):
        self.path = path
        self.statvfs = statvfs
        self.low = False
        self.free: int | None = None
        self.total: int | None = None
        self.floor = 0
        self.next_check = 0.0  # monotonic

    def check(self, mono: float, min_bytes: int, min_percent: float) -> Change | None:
        """Look again if it is time (or forced: next_check 0); returns the change when the
        daemon crosses the floor, either way."""
        if mono < self.next_check:
            return None
        self.next_check = mono + CHECK_SECONDS
        try:
            self.free, self.total = space(self.statvfs(self.path))
        except OSError:
            return None  # cannot tell: leave things as they are
        self.floor = floor_bytes(self.total, min_bytes, min_percent)
        low = self.free < self.floor
        if low == self.low:
            return None
        self.low = low
        return Change(low, self.free, self.floor)

    def recheck_soon(self) -> None:
        """A setting changed: look at the next turn."""
        self.next_check = 0.0

    def view(self) -> dict[str, Any]:
        """daemon.status's `disk` part."""
        return {"free_bytes": self.free, "total_bytes": self.total, "floor_bytes": self.floor,
                "low": self.low}  # fmt: skip
