"""Dependencies at scale: daemon CPU per job for 10,000 independent jobs, a 10,000-job
chain and a 10,000-job fan-in (one job after 9,999), and the time of one
job.enqueue_many holding a 10,000-node DAG.

    python -m benchmarks.deps [--jobs 10000] [--workers 2]

Prints one JSON document. The goal (issue 16): chain and fan-in within 2x the daemon
CPU per job of independent jobs; the DAG's enqueue_many under 2 s.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.daemon import BenchDaemon
from benchmarks.util import cpu_seconds


def shapes(n: int, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    independent = [{"id": f"i{k}", "command": "true"} for k in range(n)]
    chain = [{"id": f"c{k}", "command": "true", **({"after": [f"c{k - 1}"]} if k else {})} for k in range(n)]
    fan_in = [{"id": f"f{k}", "command": "true"} for k in range(n - 1)]
    fan_in.append({"id": "f-last", "command": "true", "after": [j["id"] for j in fan_in]})
    dag = [{"id": f"d{k}", "command": "true",
            **({"after": sorted({f"d{rng.randrange(max(0, k - 100), k)}" for _ in range(rng.randint(1, 3))})}
               if k else {})} for k in range(n)]  # fmt: skip
    return {"independent": independent, "chain": chain, "fan_in": fan_in, "dag": dag}


def run_one(d: BenchDaemon, jobs: list[dict[str, Any]], timeout: float) -> dict[str, Any]:
    before_cpu = cpu_seconds(d.pid)
    done_before = d.counts()["completed"]
    t0 = time.perf_counter()
    d.call("job.enqueue_many", {"jobs": jobs}, timeout=120)
    enqueue_s = time.perf_counter() - t0
    deadline = time.monotonic() + timeout
    while d.counts()["completed"] - done_before < len(jobs):
        if time.monotonic() > deadline:
            raise RuntimeError(f"not done within {timeout}s: {d.counts()}")
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    cpu = cpu_seconds(d.pid) - before_cpu
    return {"jobs": len(jobs), "enqueue_many_s": round(enqueue_s, 3), "wall_s": round(wall, 2),
            "daemon_cpu_s": round(cpu, 2), "daemon_cpu_us_per_job": round(cpu / len(jobs) * 1e6, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="queuectl-bench-deps-") as tmp, \
            BenchDaemon(Path(tmp) / "home", workers=args.workers).start() as d:  # fmt: skip
        for name, jobs in shapes(args.jobs, random.Random(1)).items():
            report[name] = run_one(d, jobs, args.timeout)
    base = report["independent"]["daemon_cpu_us_per_job"]
    for name in ("chain", "fan_in", "dag"):
        report[name]["cpu_vs_independent"] = round(report[name]["daemon_cpu_us_per_job"] / base, 2)
    print(json.dumps(report, indent=2))
    ok = all(report[n]["cpu_vs_independent"] <= 2 for n in ("chain", "fan_in")) and report["dag"]["enqueue_many_s"] < 2
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
