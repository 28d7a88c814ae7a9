"""Retention over a long run (issue 17): does what the daemon keeps on disk stay flat?

    python -m benchmarks.soak --jobs 1000000 --retain 5s       # the soak
    python -m benchmarks.soak --prunable 1000000 --jobs 0      # pickup while pruning only
    python -m benchmarks.soak --jobs 20000 --prunable 20000    # quick

- soak: `--jobs` jobs through a daemon (2 workers) with `retain_completed` set to
  `--retain`, fed by job.enqueue_many in batches of 1,000 (at most 10,000 pending at
  once); each job prints `--output` bytes (a shell builtin, so a job costs what `true`
  costs). Every jobs/10 completed it prints the database file, its WAL, the logs
  directory and the daemon's RSS: they must stay flat once the first retention period
  has passed (the last line compares the end with the first report past 20 %).
- pickup while pruning: `--prunable` completed jobs are written straight into a
  stopped daemon's database (the fast setup: rows as the daemon writes them, finished
  an hour ago; going through a daemon costs about a millisecond a job), then
  enqueue -> start of single jobs onto an idle worker (parts.pickup, its p99) is
  measured with retention off (nothing to prune), then again right after
  `retain_completed` is set to 60 s, while the background pruner works the backlog off;
  `--rounds` such pairs, alternating (the machine's load drifts). It prints each p99 and
  the median of the pairs' ratios; the pruner must still have work left at the end.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.daemon import BenchDaemon
from benchmarks.parts import pickup
from queuectl.durations import parse_duration

BATCH = 1000
MAX_PENDING = 10_000


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file())


def sizes(d: BenchDaemon) -> dict[str, float]:
    db = d.paths.db
    wal = Path(f"{db}-wal")
    return {"db_mb": db.stat().st_size / 2**20, "wal_mb": (wal.stat().st_size if wal.exists() else 0) / 2**20,
            "logs_mb": dir_bytes(d.paths.logs_dir) / 2**20, "rss_mb": d.rss_mb()}  # fmt: skip


def flat(reports: list[dict[str, Any]], jobs: int, retain: float) -> dict[str, float | None]:
    """The last report against the first one past 20 % of the jobs and 3 retention
    periods (by then what is kept is what one retention period holds)."""
    base = next((r for r in reports if r["completed"] >= jobs * 0.2 and r["elapsed_s"] >= 3 * retain),
                reports[0])  # fmt: skip
    end = reports[-1]
    return {k: round(end[k] / base[k], 2) if base[k] else None for k in ("db_mb", "wal_mb", "logs_mb", "rss_mb")}


def soak(home: Path, jobs: int, retain: float, output: int) -> list[dict[str, Any]]:
    reports: list[dict[str, Any]] = []
    command = f"printf '%0{max(output - 1, 1)}d\\n' 0" if output > 0 else "true"
    with BenchDaemon(home / "soak").start() as d:
        d.call("config.set", {"key": "retain_completed", "value": retain})
        step = max(jobs // 10, 1)
        sent = 0
        next_report = step
        t0 = time.perf_counter()
        while True:
            done = d.call("daemon.stats")["totals"]["completed"]
            if done >= next_report:
                row = {"completed": done, "elapsed_s": round(time.perf_counter() - t0, 1), **sizes(d),
                       "kept": d.counts()["completed"], "pruned": d.call("daemon.status")["daemon"]["pruned"]["jobs"]}  # fmt: skip
                reports.append(row)
                print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
                next_report += step
                if done >= jobs:
                    break
            counts = d.counts()
            if sent < jobs and counts["pending"] < MAX_PENDING - BATCH:
                n = min(BATCH, jobs - sent)
                d.call("job.enqueue_many", {"jobs": [{"command": command}] * n})
                sent += n
            else:
                time.sleep(0.05)
            d.check_alive()
    return reports


def fill(d: BenchDaemon, n: int) -> None:
    """n completed jobs (one attempt each, no output) written into the stopped daemon's
    database, as the daemon writes them; ids time-ordered like generated ones."""
    now = time.time()
    db = sqlite3.connect(d.paths.db)
    try:
        (seq0,) = db.execute("SELECT coalesce(max(seq), 0) FROM jobs").fetchone()
        for start in range(0, n, 100_000):
            rows = range(start, min(n, start + 100_000))
            t = now - 3600
            db.executemany(
                "INSERT INTO jobs(seq, id, command, state, attempts, charged, max_retries, created_at, updated_at, "
                "started_at, finished_at, exit_code) VALUES (?, ?, 'true', 'completed', 1, 1, 3, ?, ?, ?, ?, 0)",
                ((seq0 + i + 1, f"fill-{i:09d}", t, t, t, t) for i in rows),
            )  # fmt: skip
            db.executemany(
                "INSERT INTO attempts(job_seq, n, child, pid, assigned_at, started_at, finished_at, exit_code, "
                "charged) VALUES (?, 1, 1, 1, ?, ?, ?, 0, 1)",
                ((seq0 + i + 1, t, t, t) for i in rows),
            )  # fmt: skip
            db.commit()
    finally:
        db.close()


def pickup_while_pruning(home: Path, prunable: int, pickups: int, rounds: int) -> dict[str, Any]:
    d = BenchDaemon(home / "prune")
    d.start()
    d.call("config.set", {"key": "retain_completed", "value": 0})  # nothing pruned yet
    d.stop()
    t0 = time.perf_counter()
    fill(d, prunable)
    out: dict[str, Any] = {"prunable": prunable, "fill_s": round(time.perf_counter() - t0, 1)}
    idle: list[float] = []
    busy: list[float] = []
    with d.start(timeout=300):
        t1 = time.perf_counter()
        for _ in range(rounds):  # idle, pruning, idle, pruning, ...: the machine's load drifts
            d.call("config.set", {"key": "retain_completed", "value": 0})  # the pruner stops
            time.sleep(0.2)
            idle.append(pickup(d, pickups)["pickup.start_p99_ms"])
            d.call("config.set", {"key": "retain_completed", "value": 60})  # and starts again
            time.sleep(0.2)
            busy.append(pickup(d, pickups)["pickup.start_p99_ms"])
        left = d.counts()["completed"]
        out.update({
            "idle.p99_ms": [round(x, 2) for x in idle], "pruning.p99_ms": [round(x, 2) for x in busy],
            "p99_ratio_median": statistics.median(b / a for a, b in zip(idle, busy, strict=True)),
            "left_after": left,
        })  # fmt: skip
        if left < 2 * rounds * (pickups + 1) + 1:
            out["warning"] = "the pruner ran out of work during the measurement: use more --prunable"
        while d.counts()["completed"] > 2 * rounds * (pickups + 1):  # the rest (not the pickups' jobs)
            time.sleep(0.5)
        out["prune_rate_per_s"] = round(prunable / (time.perf_counter() - t1), 0)
        out.update({f"after.{k}": round(v, 2) for k, v in sizes(d).items()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs through the soak (0: no soak)")
    parser.add_argument("--retain", default="5s", help="retain_completed during the soak (5s)")
    parser.add_argument("--output", type=int, default=100, help="bytes each soak job prints (100)")
    parser.add_argument("--prunable", type=int, default=1_000_000, help="jobs to prune behind the pickups (0: skip)")
    parser.add_argument("--pickups", type=int, default=100, help="single jobs per measurement (100)")
    parser.add_argument("--rounds", type=int, default=3, help="idle/pruning measurement pairs (3)")
    args = parser.parse_args()
    jobs = args.jobs
    with tempfile.TemporaryDirectory(prefix="qsoak-") as tmp:
        if args.prunable:
            result = pickup_while_pruning(Path(tmp), args.prunable, args.pickups, args.rounds)
            print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}), flush=True)
        if jobs:
            retain = parse_duration(args.retain)
            reports = soak(Path(tmp), jobs, retain, args.output)
            print(json.dumps({"end_vs_base": flat(reports, jobs, retain)}))


if __name__ == "__main__":
    main()
