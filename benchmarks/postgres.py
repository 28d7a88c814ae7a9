"""One daemon on PostgreSQL against one on SQLite, same machine, same run, interleaved:
drain, pickup from idle, single job.enqueue and job.enqueue_many. Prints medians.

    python -m benchmarks.postgres                  # 4,000 jobs per drain, 3 runs
    python -m benchmarks.postgres --jobs 1000 --runs 1

PostgreSQL is a server of this run's own (tests/pgserver.py: initdb and pg_ctl as the
`postgres` user, a Unix socket) with durable settings (fsync on); the daemon's
`synchronous` NORMAL sets `synchronous_commit = off` for its session, as SQLite's
NORMAL does not sync at commit either (docs/postgres.md). Needs PostgreSQL's server
programs and root. This measures one daemon against one; several daemons on one
database are benchmarks/cluster.py's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks import parts
from benchmarks.daemon import BenchDaemon
from benchmarks.util import median

FIGURES = (
    ("drain", "drain, 2 workers", "jobs/s"),
    ("daemon_cpu_us", "drain: daemon CPU per job", "us"),
    ("enqueue_many", "job.enqueue_many, chunks of 1,000", "jobs/s"),
    ("enqueue_single", "job.enqueue, one per request", "jobs/s"),
    ("pickup.start_p50_ms", "pickup enqueue->start p50", "ms"),
    ("pickup.completed_p50_ms", "pickup send->job.wait done p50", "ms"),
)


def durable_server() -> object:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.pgserver import PgServer

    server = PgServer().start()
    server.pg_ctl("restart", "-w", "-t", "60", "-l", str(server.log), "-o",
                  f"-c listen_addresses='' -c unix_socket_directories={server.sockdir}")  # fmt: skip
    return server


def one_run(root: Path, database: str | None, jobs: int) -> dict[str, float]:
    d = BenchDaemon(root, workers=2)
    if database is not None:
        d.env["QUEUECTL_DATABASE"] = database
    with d.start():
        figures = parts.pickup(d, 100)
        figures["enqueue_single"] = parts.enqueue_single(d, 2000)
        result = parts.drain(d, jobs, rpc_repeat=5, cli_repeat=1, prefix="pg" if database else "sqlite")
    figures.update(drain=result.drain_jobs_s, daemon_cpu_us=result.daemon_cpu_us, enqueue_many=result.enqueue_many_jobs_s)
    return figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.postgres", description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=4000, help="jobs per drain (default 4,000)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each store, interleaved (default 3)")
    args = ap.parse_args(argv)
    server = durable_server()
    results: dict[str, list[dict[str, float]]] = {"sqlite": [], "postgresql": []}
    try:
        for run in range(args.runs):
            for kind in results:
                print(f"run {run + 1} of {args.runs}: {kind}", flush=True)
                with tempfile.TemporaryDirectory() as tmp:
                    url = server.fresh_url("bench") if kind == "postgresql" else None  # type: ignore[attr-defined]
                    results[kind].append(one_run(Path(tmp) / "home", url, args.jobs))
    finally:
        server.stop()  # type: ignore[attr-defined]
    print(f"\n{'figure':40s} {'SQLite':>10s} {'PostgreSQL':>11s} {'PG/SQLite':>10s}  unit")
    for key, title, unit in FIGURES:
        lite = median([r[key] for r in results["sqlite"]])
        pg = median([r[key] for r in results["postgresql"]])
        print(f"{title:40s} {lite:10,.1f} {pg:11,.1f} {pg / lite:10.2f}  {unit}")
    print(f"\nmedians of {args.runs} runs each, interleaved; {args.jobs:,} jobs per drain")
    return 0


if __name__ == "__main__":
    sys.exit(main())
