"""The PostgreSQL store beside a million finished jobs: do the dispatch reads and a
claim stay fast? Medians in microseconds, against the same store with no finished jobs.

    python -m benchmarks.pg_scale                    # 1,000,000 finished jobs (about a minute to load)
    python -m benchmarks.pg_scale --finished 100000

Measured on the store alone (no daemon), on a durable server of its own, as a daemon
named `bench` (PgStore(url, name=...), as several daemons sharing the database run it):
the runnable window (the next jobs of a queue in dispatch order, what the daemon reads to
claim), a turn that claims one job, starts and finishes it, and within that turn the claim
alone (the claim statement of store/postgres/writes.py, a CTE locking the job's row FOR
UPDATE SKIP LOCKED, and the attempt's INSERT), the same claim while config rate_limit
is set (it then also takes the pool's advisory lock and counts every daemon's starts in
the window: a 1-minute window here, never full), a status-like read (the oldest pending
job of a queue), and the reload of the counts (the job_counts table) that every daemon
sharing the database makes on each other daemon's notification and every
`cluster_poll`. Also prints the jobs table's dead tuples after the run, which autovacuum
clears (docs/postgres.md gives the settings the schema sets).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.postgres import durable_server
from benchmarks.util import median

PENDING = 2000


def insert_finished(db: Any, finished: int, now: float) -> None:
    """`finished` completed jobs, each with its attempt (ids done-1, done-2, ...), as a
    daemon leaves them, finished 1 s apart before `now`; in the caller's transaction."""
    db.execute(
        "WITH j AS (INSERT INTO jobs (id, command, state, max_retries, created_at, updated_at, started_at, "
        "finished_at, exit_code, attempts) SELECT 'done-' || g, 'true', 'completed', 3, %s - g, %s - g, %s - g, "
        "%s - g, 0, 1 FROM generate_series(1, %s) g RETURNING seq, started_at, finished_at) "
        "INSERT INTO attempts (job_seq, n, assigned_at, started_at, finished_at, exit_code) "
        "SELECT seq, 1, started_at, started_at, finished_at, 0 FROM j", (now, now, now, now, finished))  # fmt: skip


def load(store: Any, finished: int) -> None:
    """`finished` completed jobs (each with its attempt) and PENDING pending ones, in SQL."""
    now = time.time()
    db = store.db
    db.execute("BEGIN")
    insert_finished(db, finished, now)
    db.execute(
        "INSERT INTO jobs (id, command, state, max_retries, created_at, updated_at) "
        "SELECT 'todo-' || g, 'true', 'pending', 3, %s, %s FROM generate_series(1, %s) g", (now, now, PENDING))  # fmt: skip
    db.execute("COMMIT")
    db.execute("VACUUM ANALYZE jobs")
    db.execute("VACUUM ANALYZE attempts")
    store.reload_counts()


def timed(n: int, op: Any, warm: int = 20) -> float:
    for _ in range(warm):
        op()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        op()
        times.append((time.perf_counter() - t0) * 1e6)
    return median(times)


def measure(store: Any, n: int) -> dict[str, float]:
    from queuectl.ratelimit import Rate

    now = time.time()
    claims: list[float] = []
    pool_rate: list[Rate | None] = [None]

    def run_one() -> None:
        (job,) = store.runnable_window(1)
        with store.transaction():
            t0 = time.perf_counter()
            attempt = store.claim(job, 1, now, pool_rate=pool_rate[0])
            claims.append((time.perf_counter() - t0) * 1e6)
            store.mark_started(job.seq, attempt, now, 4242, "1-1-1", 0, 0)
            store.finish_attempt(job.seq, attempt, now, exit_code=0, signal=None, timed_out=False, error=None,
                                 out_len=0, err_len=0, charged=True, new_state="completed", run_at=None,
                                 last_error=None)  # fmt: skip

    figures = {
        "window of 100": timed(n, lambda: store.runnable_window(100)),
        "oldest pending": timed(n, lambda: store.oldest_pending("default")),
        "claim+start+finish turn": timed(min(n, PENDING // 2 - 40), run_one),
    }
    figures["claim (in that turn)"] = median(claims[20:])  # (not the warm-up's)
    claims.clear()
    pool_rate[0] = Rate(1_000_000, 60.0)
    timed(min(n, PENDING // 2 - 40), run_one)
    figures["claim under rate_limit"] = median(claims[20:])
    figures["counts reload (cluster)"] = timed(min(n, 20), store.reload_counts, warm=3)
    return figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.pg_scale", description=__doc__.split("\n\n")[0])
    ap.add_argument("--finished", type=int, default=1_000_000, help="finished jobs (default 1,000,000)")
    ap.add_argument("--n", type=int, default=500, help="repetitions of each read (default 500)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from queuectl.daemon.store.postgres import PgStore

    server = durable_server()
    rows: dict[int, dict[str, float]] = {}
    try:
        for finished in (0, args.finished):
            store = PgStore(server.fresh_url("scale"), name="bench")  # type: ignore[attr-defined]
            try:
                t0 = time.perf_counter()
                load(store, finished)
                print(f"loaded {finished:,} finished jobs in {time.perf_counter() - t0:.1f} s", flush=True)
                rows[finished] = measure(store, args.n)
                time.sleep(1.0)  # (the statistics collector reports within a second)
                store.db.execute("SELECT pg_stat_clear_snapshot()")
                dead = store.db.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'jobs'").fetchone()
                print(f"  jobs' dead tuples after the run: {dead[0] if dead else '?'}")
            finally:
                store.close()
    finally:
        server.stop()  # type: ignore[attr-defined]
    print(f"\n{'median, us':28s} {'0 finished':>12s} {f'{args.finished:,} finished':>20s}")
    for key in rows[0]:
        print(f"{key:28s} {rows[0][key]:12,.0f} {rows[args.finished][key]:20,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
