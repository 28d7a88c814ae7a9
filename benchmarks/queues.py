"""Named queues: what they cost (issue 15).

    python -m benchmarks.queues                   # 3 runs, medians; 10,000-job drains, 100,000 backlog
    python -m benchmarks.queues --jobs 2000 --backlog 20000 --runs 1     # quick

- drain: N `true` jobs, all in `default` / spread evenly over 20 queues, enqueued with
  the workers at 0, then scaled to 2: jobs/s until all completed. Alternating, same run.
- pickup: one job at a time into an idle queue (parts.pickup: enqueue -> start), on an
  idle daemon / while another queue holds `backlog` pending jobs (paused, so that both
  workers are free: what is measured is the backlog's cost to dispatch) / while another
  queue with that backlog runs at concurrency 1 (one worker is left for the idle queue).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.daemon import BenchDaemon
from benchmarks.parts import enqueue_many, pickup

GAP = (0.01, 0.01)  # s between pickups: the backlog's cost is what is measured here, not idleness


def drain(d: BenchDaemon, n: int, queues: int) -> float:
    names = ["default"] if queues == 1 else [f"q{i:02d}" for i in range(queues)]
    for name in names:
        if name != "default" and not any(q["name"] == name for q in d.call("queue.list")):
            d.call("queue.add", {"name": name})
    d.scale(0)
    jobs = [{"command": "true", "queue": names[i % len(names)]} for i in range(n)]
    for start in range(0, n, 1000):
        d.call("job.enqueue_many", {"jobs": jobs[start : start + 1000]})
    t0 = time.perf_counter()
    d.call("workers.scale", {"count": 2})
    while any(d.counts().get(s) for s in ("pending", "assigned", "processing")):
        time.sleep(0.02)
    return n / (time.perf_counter() - t0)


def backlog(d: BenchDaemon, name: str, n: int, concurrency: int, paused: bool) -> None:
    d.call("queue.add", {"name": name, "concurrency": concurrency})
    if paused:
        d.call("queue.pause", {"name": name})
    for start in range(0, n, 10_000):
        d.call("job.enqueue_many", {"jobs": [{"command": "sleep 0.05", "queue": name}] * min(10_000, n - start)})


def one_run(args: argparse.Namespace, home: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    with BenchDaemon(home / "drain").start() as d:
        enqueue_many(d, 100)  # warm up
        d.wait_idle()
        for queues in (1, 20, 1, 20):  # alternating: A B A B, the better of each pair of halves
            rate = drain(d, args.jobs, queues)
            key = f"drain.{queues}q.jobs_per_s"
            out[key] = max(out.get(key, 0.0), rate)
    with BenchDaemon(home / "idle").start() as d:
        out["pickup.idle.p50_ms"] = pickup(d, args.pickups, GAP)["pickup.start_p50_ms"]
    with BenchDaemon(home / "paused").start() as d:
        backlog(d, "flood", args.backlog, 1, paused=True)
        out["pickup.backlog_paused.p50_ms"] = pickup(d, args.pickups, GAP)["pickup.start_p50_ms"]
    with BenchDaemon(home / "busy").start() as d:
        backlog(d, "flood", args.backlog, 1, paused=False)
        time.sleep(0.5)
        out["pickup.backlog_running.p50_ms"] = pickup(d, args.pickups, GAP)["pickup.start_p50_ms"]
        d.call("queue.pause", {"name": "flood", "kill": True})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.queues")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--pickups", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs: list[dict[str, float]] = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="qbench-") as tmp:
            runs.append(one_run(args, Path(tmp)))
        print(f"run {i + 1}: {json.dumps(runs[-1])}", flush=True)
    medians: dict[str, Any] = {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}
    medians["drain.20q_vs_1q"] = round(medians["drain.20q.jobs_per_s"] / medians["drain.1q.jobs_per_s"], 3)
    for variant in ("paused", "running"):
        medians[f"pickup.backlog_{variant}_vs_idle"] = round(
            medians[f"pickup.backlog_{variant}.p50_ms"] / medians["pickup.idle.p50_ms"], 3)
    print(json.dumps({"medians": medians, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
