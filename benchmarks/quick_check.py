"""How long the daemon's start-up check of the database takes on a large queue.

    python -m benchmarks.quick_check                    # 1,000,000 jobs in a temporary home
    python -m benchmarks.quick_check --jobs 200000
    python -m benchmarks.quick_check --home DIR         # an existing home (seeded if it has no database)

Prints the seconds for `PRAGMA quick_check` (what the daemon runs at every start,
see queuectl/daemon/store.py), `PRAGMA integrity_check` (for comparison; it also
checks every index entry against its row) and opening the store as the daemon does
(quick_check, migrations, counts per state), each on a fresh connection, and the database size. By default the OS page cache
is warm (as after a daemon restart); --cold drops the database file's pages from
it before each measurement (posix_fadvise DONTNEED: that file only), as after a
reboot.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from benchmarks.seed import seed_home
from queuectl import paths as qpaths


def drop_cache(db_path: Path) -> None:
    fd = os.open(db_path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def timed_pragma(db_path: Path, pragma: str, cold: bool = False) -> tuple[float, str]:
    if cold:
        drop_cache(db_path)
    db = sqlite3.connect(str(db_path), isolation_level=None)
    try:
        t0 = time.perf_counter()
        result = db.execute(f"PRAGMA {pragma}").fetchone()[0]
        return time.perf_counter() - t0, result
    finally:
        db.close()


def timed_open(db_path: Path, cold: bool = False) -> float:
    from queuectl.daemon.store import Store

    if cold:
        drop_cache(db_path)
    t0 = time.perf_counter()
    store = Store(db_path)
    elapsed = time.perf_counter() - t0
    store.close()
    return elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=1_000_000, help="jobs to seed (default 1,000,000)")
    p.add_argument("--home", type=Path, help="use (or seed) this home instead of a temporary one")
    p.add_argument("--repeat", type=int, default=3, help="measure each figure this many times (best kept)")
    p.add_argument("--cold", action="store_true", help="drop the file from the page cache before each")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="queuectl-qc-") as tmp:
        home = args.home or Path(tmp) / "home"
        db_path = qpaths.for_home(home).db
        if not db_path.exists():
            print(f"seeding {args.jobs:,} jobs into {db_path} ...", flush=True)
            print(f"  seeded in {seed_home(home, args.jobs):.1f}s", flush=True)
        jobs = sqlite3.connect(str(db_path)).execute("SELECT count(*) FROM jobs").fetchone()[0]
        size_mb = db_path.stat().st_size / 1e6
        quick = min(timed_pragma(db_path, "quick_check", args.cold) for _ in range(args.repeat))
        full = min(timed_pragma(db_path, "integrity_check", args.cold) for _ in range(args.repeat))
        opened = min(timed_open(db_path, args.cold) for _ in range(args.repeat))
        cache = "cold: file dropped from the page cache" if args.cold else "warm page cache"
        print(f"jobs:               {jobs:,} ({size_mb:.0f} MB, {cache})")
        print(f"PRAGMA quick_check: {quick[0]:.2f}s ({quick[1]})")
        print(f"PRAGMA integrity_check: {full[0]:.2f}s ({full[1]})")
        print(f"Store() open (quick_check + counts): {opened:.2f}s")


if __name__ == "__main__":
    main()
