"""The disk floor's rule and when it looks (pure: a fake statvfs, a fake clock)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from queuectl.daemon.diskfloor import CHECK_SECONDS, DiskFloor, floor_bytes

GiB = 1 << 30


def fake(free: int, total: int) -> Any:
    return SimpleNamespace(f_bavail=free // 4096, f_blocks=total // 4096, f_frsize=4096)


def test_the_floor_is_the_smaller_of_bytes_and_percent() -> None:
    assert floor_bytes(1000 * GiB, GiB, 5.0) == GiB  # a large disk: 1 GiB
    assert floor_bytes(10 * GiB, GiB, 5.0) == GiB // 2  # a small one: 5 %
    assert floor_bytes(10 * GiB, 0, 5.0) == 0 and floor_bytes(10 * GiB, GiB, 0.0) == 0  # off


def test_crossing_the_floor_both_ways_once_and_at_most_every_few_seconds() -> None:
    disk = {"free": 100 * GiB}
    floor = DiskFloor("/x", lambda path: fake(disk["free"], 1000 * GiB))
    assert floor.check(0.0, GiB, 5.0) is None and not floor.low  # plenty
    disk["free"] = GiB // 2
    assert floor.check(1.0, GiB, 5.0) is None  # not looked yet: too soon
    change = floor.check(CHECK_SECONDS, GiB, 5.0)
    assert change is not None and change.low and change.free == GiB // 2 and change.floor == GiB
    assert floor.check(2 * CHECK_SECONDS, GiB, 5.0) is None and floor.low  # still low: said once
    assert floor.view() == {"free_bytes": GiB // 2, "total_bytes": 1000 * GiB, "floor_bytes": GiB, "low": True}
    floor.recheck_soon()  # a setting changed: the floor is off now
    change = floor.check(2 * CHECK_SECONDS + 0.1, 0, 5.0)
    assert change is not None and not change.low and not floor.low


def test_a_failing_statvfs_changes_nothing() -> None:
    def broken(path: str) -> Any:
        raise OSError(5, "EIO")

    floor = DiskFloor("/x", broken)
    floor.low = True
    assert floor.check(0.0, GiB, 5.0) is None and floor.low
