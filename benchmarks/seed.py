"""A database with many finished jobs, built fast: rows inserted straight into a fresh
home's queue.db (schema created by `queuectl init`), shaped like real completed jobs."""

from __future__ import annotations

import secrets
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.install import Target
from queuectl import paths as qpaths


def seed_home(home: Path, n: int, target: Target | None = None) -> float:
    """Create `home` with n completed `true` jobs (one attempt each); seconds it took.
    The schema is made by the target's `queuectl init` (default: this tree's)."""
    target = target or Target.current()
    t0 = time.perf_counter()
    subprocess.run([*target.queuectl_argv(), "--home", str(home), "init"], env=target.env(),
                   cwd=target.cwd, check=True, capture_output=True)  # fmt: skip
    db = sqlite3.connect(str(qpaths.for_home(home).db), isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=OFF")
        db.execute("BEGIN")
        start = time.time() - n * 0.01  # as if one job every 10 ms until now
        db.executemany(
            "INSERT INTO jobs(seq, id, command, state, priority, attempts, charged, max_retries, "
            "created_at, updated_at, started_at, finished_at, exit_code) "
            "VALUES (?, ?, 'true', 'completed', 0, 1, 1, 3, ?, ?, ?, ?, 0)",
            _jobs(n, start),
        )
        db.executemany(
            "INSERT INTO attempts(job_seq, n, child, pid, assigned_at, started_at, finished_at, "
            "exit_code, timed_out, charged, segment, out_off, out_len, err_off, err_len) "
            "VALUES (?, 1, ?, ?, ?, ?, ?, 0, 0, 1, ?, 0, 0, 0, 0)",
            _attempts(n, start),
        )
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return time.perf_counter() - t0


def _jobs(n: int, start: float) -> Iterator[tuple[int, str, float, float, float, float]]:
    for seq in range(1, n + 1):
        t = start + seq * 0.01
        yield seq, secrets.token_hex(8), t, t + 0.004, t + 0.001, t + 0.004


def _attempts(n: int, start: float) -> Iterator[tuple[int, int, int, float, float, float, str]]:
    for seq in range(1, n + 1):
        t = start + seq * 0.01
        child = 1 + seq % 2
        yield seq, child, 100_000 + seq % 30_000, t, t + 0.001, t + 0.004, f"1-{child}-1"
