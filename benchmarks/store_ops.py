"""What one loop turn's storage costs, SQLite against PostgreSQL, in the store alone
(no daemon, no sockets): medians of many repetitions, in microseconds.

    python -m benchmarks.store_ops               # 2,000 repetitions of each operation
    python -m benchmarks.store_ops --n 500

Operations (each one turn: a transaction, and a request's savepoint where a request
would have one):
  enqueue    insert one job, commit
  status     a status-like read turn: the counts (memory), each queue's oldest pending
             job, one job by id; commit of a transaction that wrote nothing
  run        claim a job, its start and its finish in one turn (a short job), commit

PostgreSQL is the tests' server (tests/pgserver.py: a Unix socket, fsync=off), so
both stores commit without waiting for a disk: SQLite in WAL mode with
synchronous=NORMAL does not sync at commit either. Needs PostgreSQL's server programs
and root (the server runs as `postgres`).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from queuectl import jobs as J
from queuectl.daemon.store import Storage, Store
from queuectl.jobs import JobSpec


def timed(n: int, op: Callable[[int], Any]) -> float:
    """Median microseconds of `op(i)` over n runs (after a warm-up that lets psycopg
    prepare its statements)."""
    for i in range(20):
        op(-1 - i)
    times = []
    for i in range(n):
        start = time.perf_counter()
        op(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def measure(store: Storage, n: int) -> dict[str, float]:
    now = time.time()

    def enqueue(i: int) -> None:
        with store.transaction(), store.savepoint():
            store.insert_jobs([JobSpec("true")], now, 3, None)

    def status(i: int) -> None:
        with store.transaction(), store.savepoint():
            dict(store.counts)
            for q in store.queues_load():
                store.oldest_pending(q.name)
            store.get("probe")

    with store.transaction():
        store.insert_jobs([JobSpec("true", id="probe")], now, 3, None)
    results = {"enqueue": timed(n, enqueue), "status": timed(n, status)}
    jobs = iter(store.runnable_window(1_000_000))  # (what enqueue made)

    def run(i: int) -> None:
        job = next(jobs)
        with store.transaction():
            n = store.claim(job, 1, now)
            store.mark_started(job.seq, n, now, 4242, "1-1-1", 0, 0, job.queue)
            store.finish_attempt(job.seq, n, now, exit_code=0, signal=None, timed_out=False, error=None,
                                 out_len=0, err_len=0, charged=True, new_state=J.COMPLETED, run_at=None,
                                 last_error=None, queue=job.queue)  # fmt: skip

    results["run"] = timed(n, run)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    from queuectl.daemon.store.postgres import PgStore
    from tests.pgserver import PgServer

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = Store(Path(tmp) / "queue.db")
        results["sqlite"] = measure(sqlite, args.n)
        sqlite.close()
    server = PgServer().start()
    try:
        pg = PgStore(server.fresh_url("bench"))
        results["postgres"] = measure(pg, args.n)
        pg.close()
    finally:
        server.stop()
    print(f"{'median µs':12}{'sqlite':>10}{'postgres':>10}")
    for op in results["sqlite"]:
        print(f"{op:12}{results['sqlite'][op]:10.0f}{results['postgres'][op]:10.0f}")


if __name__ == "__main__":
    main()
