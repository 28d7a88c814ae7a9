"""Several daemons on one PostgreSQL database (docs/postgres.md, "Several daemons on one
database"), measured in one run: drains with 1, 2 and 3 daemons against one SQLite
daemon, enqueue on daemon A -> start on an idle daemon B, and the enqueue rates.
Prints a table and writes JSON.

    python -m benchmarks.cluster                  # 3,000-job drains, 40 pickups each way (2 to 3 minutes)
    python -m benchmarks.cluster --quick          # 600-job drains, 16 pickups each way (under a minute)
    python -m benchmarks.cluster --runs 3         # everything three times, medians reported
    python -m benchmarks.cluster --finished 1000000   # the pickups beside a million finished jobs

PostgreSQL is a durable server of the run's own (benchmarks.postgres.durable_server:
initdb and pg_ctl as the `postgres` user, fsync on, a Unix socket; needs root), with a
fresh database for each configuration. Every daemon has a home and a name of its own
and 2 workers, all on this machine: on 2 CPUs more daemons add coordination, not CPU.
The claim beside a million finished jobs is `python -m benchmarks.pg_scale` (its own
command: loading the million takes about a minute).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sqlite3
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import psycopg

from benchmarks import report
from benchmarks.daemon import BenchDaemon, Pipeline
from benchmarks.parts import CHUNK, IDLE_GAP_S, TRUE_JOB, enqueue_many
from benchmarks.pg_scale import insert_finished
from benchmarks.postgres import durable_server
from benchmarks.util import median, percentile

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "cluster.json"
UNFINISHED = "SELECT count(*) FROM jobs WHERE state NOT IN ('completed', 'dead', 'cancelled')"
NAMES = ("a", "b", "c")


@dataclass(frozen=True, slots=True)
class Sizes:
    drain_jobs: int = 3_000
    pickups: int = 40  # each way: A -> B, and B -> B
    single_enqueue: int = 2_000
    many_enqueue: int = 10_000
    finished: int = 0  # finished jobs loaded into the database before the pickups (--finished)


QUICK = Sizes(drain_jobs=600, pickups=16, single_enqueue=300, many_enqueue=2_000)

F = report.Figure
FIGURES: tuple[report.Figure, ...] = (
    F("drain.jobs", "drain: `true` jobs, enqueued through one daemon", "jobs"),
    F("drain.sqlite_jobs_s", "drain, SQLite, 1 daemon x 2 workers", "jobs/s"),
    F("drain.pg1_jobs_s", "drain, PostgreSQL, 1 daemon x 2 workers", "jobs/s"),
    F("drain.pg2_jobs_s", "drain, PostgreSQL, 2 daemons x 2 workers", "jobs/s"),
    F("drain.pg3_jobs_s", "drain, PostgreSQL, 3 daemons x 2 workers", "jobs/s"),
    F("drain.pg1_vs_sqlite", "drain, 1 PostgreSQL daemon / SQLite", "x"),
    F("drain.pg2_vs_sqlite", "drain, 2 PostgreSQL daemons / SQLite", "x"),
    F("drain.pg3_vs_sqlite", "drain, 3 PostgreSQL daemons / SQLite", "x"),
    F("drain.pg2_least_share", "drain, 2 daemons: the least busy one's share", "x"),
    F("drain.pg3_least_share", "drain, 3 daemons: the least busy one's share", "x"),
    F("pickup.jobs", "pickup: jobs each way (one at a time, idle before each)", "jobs"),
    F("pickup.remote_p50_ms", "enqueue on A -> start on idle B p50 (call -> started_at)", "ms", ("<=", 50.0)),
    F("pickup.remote_p99_ms", "enqueue on A -> start on idle B p99 (call -> started_at)", "ms"),
    F("pickup.remote_event_p50_ms", "enqueue on A -> B's job.started seen, p50 (client)", "ms"),
    F("pickup.remote_event_p99_ms", "enqueue on A -> B's job.started seen, p99 (client)", "ms"),
    F("pickup.local_p50_ms", "enqueue on B -> start on B p50 (call -> started_at)", "ms"),
    F("pickup.local_p99_ms", "enqueue on B -> start on B p99 (call -> started_at)", "ms"),
    F("enqueue.sqlite_single_jobs_s", "job.enqueue, one per request, SQLite", "jobs/s"),
    F("enqueue.pg_single_jobs_s", "job.enqueue, one per request, PostgreSQL", "jobs/s"),
    F("enqueue.single_pg_vs_sqlite", "job.enqueue, PostgreSQL / SQLite", "x"),
    F("enqueue.sqlite_many_jobs_s", "job.enqueue_many, chunks of 1,000, SQLite", "jobs/s"),
    F("enqueue.pg_many_jobs_s", "job.enqueue_many, chunks of 1,000, PostgreSQL", "jobs/s"),
    F("enqueue.many_pg_vs_sqlite", "job.enqueue_many, PostgreSQL / SQLite", "x"),
)


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class QueueDb:
    """The queue's database, read directly rather than through a daemon (another daemon's
    counts lag by up to `cluster_poll`): a PostgreSQL URL, or a SQLite file read-only."""

    def __init__(self, where: str | Path):
        self.conn: Any
        if isinstance(where, Path):
            self.conn = sqlite3.connect(f"file:{where}?mode=ro", uri=True, isolation_level=None)
        else:
            self.conn = psycopg.connect(where, autocommit=True)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(sql).fetchall())

    def close(self) -> None:
        self.conn.close()


def started(stack: contextlib.ExitStack, d: BenchDaemon) -> BenchDaemon:
    """Start a daemon that the stack stops (also when its start fails half way)."""
    stack.callback(d.stop)
    return d.start()


def pg_daemons(stack: contextlib.ExitStack, root: Path, url: str, count: int) -> list[BenchDaemon]:
    daemons = []
    for name in NAMES[:count]:
        d = BenchDaemon(root / name, workers=2, args=("--name", name))
        d.env["QUEUECTL_DATABASE"] = url
        daemons.append(started(stack, d))
    return daemons


# --- drain ---------------------------------------------------------------------------------


def drain(daemons: list[BenchDaemon], db: QueueDb, n: int, timeout: float = 600.0) -> float:
    """N `true` jobs, enqueued through the first daemon by job.enqueue_many in chunks of
    1,000 while every daemon's workers run. Jobs/s from the first enqueue call (the
    client's clock) to the last job's finish as its daemon recorded it (jobs.finished_at,
    the same host's clock), read once the database says every job is final (polled every
    20 ms). Every job must have completed, with one attempt."""
    t0 = time.time()
    for start in range(0, n, CHUNK):
        daemons[0].call("job.enqueue_many", {"jobs": [TRUE_JOB] * min(CHUNK, n - start)})
    deadline = time.monotonic() + timeout
    while db.rows(UNFINISHED)[0][0]:
        for d in daemons:
            d.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"the drain did not end within {timeout:.0f} s")
        time.sleep(0.02)
    ((done, end),) = db.rows("SELECT count(*), max(finished_at) FROM jobs WHERE state = 'completed'")
    ((attempts,),) = db.rows("SELECT count(*) FROM attempts")
    if done != n or attempts != n:
        raise RuntimeError(f"{done} of {n} jobs completed, with {attempts} attempts")
    return n / (end - t0)


def least_share(db: QueueDb, count: int, n: int) -> float:
    """The least busy daemon's part of the drain's jobs (1/count would be an even split)."""
    per = dict(db.rows("SELECT daemon, count(*) FROM attempts GROUP BY daemon"))
    return min(per.get(name, 0) for name in NAMES[:count]) / n


# --- enqueue -------------------------------------------------------------------------------


def enqueue_rates(d: BenchDaemon, sizes: Sizes, store: str) -> dict[str, float]:
    """job.enqueue back to back from one client, then job.enqueue_many in chunks of 1,000;
    jobs/s. The workers are at 0: what is measured is the enqueue alone (the jobs stay
    pending; the daemon is stopped next)."""
    d.scale(0)
    t0 = time.perf_counter()
    for _ in range(sizes.single_enqueue):
        d.client.call("job.enqueue", TRUE_JOB)
    single = sizes.single_enqueue / (time.perf_counter() - t0)
    many, _ = enqueue_many(d, sizes.many_enqueue)
    return {f"enqueue.{store}_single_jobs_s": single, f"enqueue.{store}_many_jobs_s": many}


# --- pickup across daemons -----------------------------------------------------------------


def pickup(a: BenchDaemon, b: BenchDaemon, db: QueueDb, n: int) -> dict[str, float]:
    """One `true` job at a time, after an idle gap (random in parts.IDLE_GAP_S) before
    each, alternately enqueued through A (no workers: B must be woken, by its LISTEN) and
    through B itself (the same path without the wake-up, for comparison).

    The start is the attempt's started_at, the time B's child recorded when it had spawned
    the job's shell; the enqueue is the client's clock just before the call (one host:
    one clock). Also the client's receipt of B's `job.started` event, which adds B's
    commit of the start and the event's trip."""
    rng = random.Random(n)
    called: dict[str, float] = {}
    event_ms: dict[str, float] = {}
    sub = Pipeline(b.paths, topics=("job.started", "job.completed"))
    try:
        time.sleep(0.2)  # (the SUB connection settles: events before that are lost)
        for i in range(-2, 2 * n):  # (the first two warm up, one each way)
            via, way = (a, "remote") if i % 2 == 0 else (b, "local")
            job_id = f"{way}-{i}" if i >= 0 else f"warmup-{way}"
            time.sleep(rng.uniform(*IDLE_GAP_S))
            called[job_id] = time.time()
            t0 = time.perf_counter()
            via.call("job.enqueue", {**TRUE_JOB, "id": job_id})
            event_ms[job_id] = (until_completed(sub, job_id) - t0) * 1000
    finally:
        sub.close()
    rows = db.rows("SELECT j.id, a.started_at, a.daemon FROM jobs j JOIN attempts a ON a.job_seq = j.seq "
                   "AND a.n = 1 WHERE j.id LIKE 'remote-%' OR j.id LIKE 'local-%'")  # fmt: skip
    start_ms: dict[str, list[float]] = {"remote": [], "local": []}
    for job_id, started_at, daemon in rows:
        if daemon != b.args[-1]:  # (B's --name)
            raise RuntimeError(f"job {job_id} ran on daemon {daemon}, not on B")
        start_ms[job_id.split("-")[0]].append((started_at - called[job_id]) * 1000)
    if len(start_ms["remote"]) != n or len(start_ms["local"]) != n:
        raise RuntimeError(f"{len(rows)} pickup jobs found, not {2 * n}")
    remote_events = [ms for job_id, ms in event_ms.items() if job_id.startswith("remote-")]
    return {
        "pickup.remote_p50_ms": percentile(start_ms["remote"], 50),
        "pickup.remote_p99_ms": percentile(start_ms["remote"], 99),
        "pickup.remote_event_p50_ms": percentile(remote_events, 50),
        "pickup.remote_event_p99_ms": percentile(remote_events, 99),
        "pickup.local_p50_ms": percentile(start_ms["local"], 50),
        "pickup.local_p99_ms": percentile(start_ms["local"], 99),
    }


def until_completed(sub: Pipeline, job_id: str, timeout: float = 30.0) -> float:
    """Events until the job completed; the client's perf_counter when its start was seen."""
    seen: float | None = None
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} did not start and complete within {timeout:.0f} s")
        for _kind, doc, t in sub.poll(1.0):
            if doc.get("job_id") != job_id:
                continue
            if doc.get("event") == "job.started" and seen is None:
                seen = t
            elif doc.get("event") == "job.completed":
                return seen if seen is not None else t


# --- a run ---------------------------------------------------------------------------------


def sqlite_part(root: Path, sizes: Sizes) -> dict[str, float]:
    with contextlib.ExitStack() as stack:
        d = started(stack, BenchDaemon(root / "sqlite", workers=2))
        db = QueueDb(d.paths.db)
        stack.callback(db.close)
        out = {"drain.sqlite_jobs_s": drain([d], db, sizes.drain_jobs)}
        out.update(enqueue_rates(d, sizes, "sqlite"))
    return out


def pg_part(root: Path, sizes: Sizes, url: str, count: int) -> dict[str, float]:
    """`count` daemons on a fresh database: the drain; then with one daemon the enqueue
    rates, and with two the pickup from A (its workers scaled to 0) to B."""
    n = sizes.drain_jobs
    with contextlib.ExitStack() as stack:
        daemons = pg_daemons(stack, root / f"pg{count}", url, count)
        db = QueueDb(url)
        stack.callback(db.close)
        out = {f"drain.pg{count}_jobs_s": drain(daemons, db, n)}
        if count > 1:
            out[f"drain.pg{count}_least_share"] = least_share(db, count, n)
        if count == 1:
            out.update(enqueue_rates(daemons[0], sizes, "pg"))
        if count == 2:
            daemons[0].scale(0)
            if sizes.finished:
                load_finished(url, sizes.finished)
            out.update(pickup(daemons[0], daemons[1], db, sizes.pickups))
    return out


def load_finished(url: str, n: int) -> None:
    """N finished jobs (benchmarks.pg_scale's rows) beside the running daemons, as
    retention keeps them (7 days by default); then a wait for every daemon's next poll."""
    progress(f"loading {n:,} finished jobs")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("BEGIN")
        insert_finished(conn, n, time.time())
        conn.execute("COMMIT")
        conn.execute("VACUUM ANALYZE jobs")
        conn.execute("VACUUM ANALYZE attempts")
    time.sleep(2.0)  # (cluster_poll is 1 s)


def one_run(server: Any, sizes: Sizes, root: Path) -> dict[str, float]:
    out: dict[str, float] = {"drain.jobs": float(sizes.drain_jobs), "pickup.jobs": float(sizes.pickups)}
    progress("SQLite: drain, enqueue rates")
    out.update(sqlite_part(root, sizes))
    for count in (1, 2, 3):
        what = {1: ", enqueue rates", 2: ", pickup A -> B", 3: ""}[count]
        progress(f"PostgreSQL, {count} daemon{'s' if count > 1 else ''}: drain{what}")
        out.update(pg_part(root, sizes, server.fresh_url(f"cluster{count}"), count))
    for count in (1, 2, 3):
        out[f"drain.pg{count}_vs_sqlite"] = out[f"drain.pg{count}_jobs_s"] / out["drain.sqlite_jobs_s"]
    for kind in ("single", "many"):
        out[f"enqueue.{kind}_pg_vs_sqlite"] = out[f"enqueue.pg_{kind}_jobs_s"] / out[f"enqueue.sqlite_{kind}_jobs_s"]
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.cluster", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="600-job drains, 16 pickups each way: under a minute")
    ap.add_argument("--runs", type=int, default=1, help="repeat everything K times, report medians (default 1)")
    ap.add_argument("--jobs", type=int, help="jobs per drain (default 3,000; 600 with --quick)")
    ap.add_argument("--pickups", type=int, help="pickups each way (default 40; 16 with --quick)")
    ap.add_argument("--finished", type=int, default=0,
                    help="finished jobs loaded into the database before the pickups (default 0)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output (default %(default)s)")
    args = ap.parse_args(argv)
    if args.runs < 1 or (args.jobs is not None and args.jobs < 1) or (args.pickups is not None and args.pickups < 1):
        ap.error("--runs, --jobs and --pickups must be at least 1")
    if args.finished < 0:
        ap.error("--finished must not be negative")
    sizes = QUICK if args.quick else Sizes()
    args.sizes = replace(sizes, drain_jobs=args.jobs or sizes.drain_jobs, pickups=args.pickups or sizes.pickups,
                         finished=args.finished)  # fmt: skip
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes: Sizes = args.sizes
    runs: list[dict[str, float]] = []
    progress("starting a PostgreSQL server")
    server = durable_server()
    try:
        for run in range(args.runs):
            progress(f"run {run + 1} of {args.runs}")
            with tempfile.TemporaryDirectory(prefix="queuectl-cluster-") as tmp:
                runs.append(one_run(server, sizes, Path(tmp)))
    finally:
        server.stop()  # type: ignore[attr-defined]
    values = {f.key: median([r[f.key] for r in runs]) for f in FIGURES}
    print(report.table(FIGURES, values))
    print(f"\n{'medians of ' + str(args.runs) + ' runs' if args.runs > 1 else 'one run'}; "
          "ratios are each run's, then their median"
          + (f"; the pickups beside {sizes.finished:,} finished jobs" if sizes.finished else "")
          + "\nthe claim beside 1,000,000 finished jobs: python -m benchmarks.pg_scale")
    meta = {"quick": args.quick, "runs": args.runs, "sizes": asdict(sizes)}
    report.write(args.out, report.document(FIGURES, values, runs, meta))
    print(f"JSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
