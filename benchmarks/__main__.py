"""`python -m benchmarks`: run the queuectl benchmarks, print a table, write JSON."""

from __future__ import annotations

import argparse
import dataclasses
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import parts, peers, report
from benchmarks.daemon import BenchDaemon
from benchmarks.parts import Sizes
from benchmarks.seed import seed_home
from benchmarks.spawn import raw_rate
from benchmarks.util import median
from queuectl import paths as qpaths

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"
QUICK = Sizes(
    drain_jobs=1_000, single_enqueue_jobs=500, pickup_jobs=100, schedule_jobs=40,
    schedule_spread_s=1.5, spawn_seconds=1.0, cli_repeat=5, rpc_repeat=20,
    memory_jobs=3_000, stored_jobs=20_000,
)  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--jobs", type=int, help="jobs per drain (default 10,000; 1,000 with --quick)")
    p.add_argument("--runs", type=int, default=1, help="repeat everything K times, report medians")
    p.add_argument("--quick", action="store_true",
                   help="small sizes everywhere (20,000 stored jobs, 3,000 for memory): < 60 s")
    p.add_argument("--skip-scale", action="store_true", help="skip the part with stored jobs")
    p.add_argument("--stored", type=int, help="finished jobs in the scale database (default 1,000,000)")
    p.add_argument("--peers", default="", help=f"comma-separated peers to measure too: {', '.join(peers.PEERS)}")
    p.add_argument("--keep", action="store_true", help="keep the temporary homes (logs) and print where")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output (default %(default)s)")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="record py-spy profiles (collapsed stacks) of the daemon and children during "
                        "the drains into DIR (the figures of such a run are perturbed)")  # fmt: skip
    args = p.parse_args(argv)
    if args.runs < 1 or (args.jobs is not None and args.jobs < 1):
        p.error("--runs and --jobs must be at least 1")
    return args


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_once(root: Path, sizes: Sizes, template: Path | None, peer_names: tuple[str, ...],
             profile: Path | None) -> dict[str, float]:  # fmt: skip
    figs: dict[str, float] = {}
    empty = BenchDaemon(root / "empty", workers=2)
    with empty.start() as d:
        figs["memory.rss_start_mb"] = d.rss_mb()
        progress(f"pickup latency ({sizes.pickup_jobs} jobs, one at a time)")
        figs.update(parts.pickup(d, sizes.pickup_jobs))
        progress(f"schedule precision ({sizes.schedule_jobs} jobs over {sizes.schedule_spread_s:g}s)")
        figs.update(parts.schedule(d, sizes.schedule_jobs, sizes.schedule_spread_s))
        progress(f"job.enqueue x {sizes.single_enqueue_jobs}")
        figs["enqueue.single_jobs_s"] = parts.enqueue_single(d, sizes.single_enqueue_jobs)
        progress("CLI wall times")
        figs.update(parts.cli(d, sizes.cli_repeat))
        progress("raw spawn limit (1, then 2 processes)")
        figs["spawn.raw_1_jobs_s"], figs["spawn.cpu_us_per_job"] = raw_rate(1, sizes.spawn_seconds)
        figs["spawn.raw_2_jobs_s"], _ = raw_rate(2, sizes.spawn_seconds)
        progress(f"drain of {sizes.drain_jobs} jobs")
        dr = parts.drain(d, sizes.drain_jobs, sizes.rpc_repeat, sizes.cli_repeat, "empty", profile)
        figs.update(dr.listing)
        figs["drain.jobs"] = sizes.drain_jobs
        figs["enqueue.many_jobs_s"] = dr.enqueue_many_jobs_s
        figs["drain.jobs_s"] = dr.drain_jobs_s
        figs["drain.vs_raw_2"] = dr.drain_jobs_s / figs["spawn.raw_2_jobs_s"]
        figs["drain.first_start_ms"] = dr.first_start_s * 1000
        figs["drain.daemon_cpu_us_per_job"] = dr.daemon_cpu_us
        figs["drain.children_cpu_us_per_job"] = dr.children_cpu_us
        progress(f"processing up to {sizes.memory_jobs} jobs in all (memory)")
        figs["memory.processed"] = parts.process_until(d, sizes.memory_jobs)
        figs["memory.rss_processed_mb"] = d.rss_mb()
        total = sum(d.counts().values())
    figs["memory.db_bytes_per_job"] = parts.db_bytes(empty.paths.db) / total
    if template is not None:
        figs.update(scale(root / "scale", template, sizes, figs, profile))
    for peer in peer_names:
        progress(f"peer: {peer}")
        figs.update(peer_figures(peer, root / peer, sizes, figs))
    return figs


def scale(home: Path, template: Path, sizes: Sizes, empty: dict[str, float],
          profile: Path | None) -> dict[str, float]:  # fmt: skip
    paths = qpaths.for_home(home)
    paths.state_dir.mkdir(parents=True)
    shutil.copyfile(template, paths.db)
    figs: dict[str, float] = {}
    progress("scale: starting a daemon on the stored jobs")
    t0 = time.perf_counter()
    with BenchDaemon(home, workers=2).start() as d:
        figs["scale.daemon_start_s"] = time.perf_counter() - t0
        rss_start = d.rss_mb()
        progress(f"scale: job.enqueue x {sizes.single_enqueue_jobs}")
        figs["scale.enqueue_single_jobs_s"] = parts.enqueue_single(d, sizes.single_enqueue_jobs)
        progress(f"scale: drain of {sizes.drain_jobs} jobs")
        dr = parts.drain(d, sizes.drain_jobs, sizes.rpc_repeat, sizes.cli_repeat, "scale", profile)
        figs.update(dr.listing)
        figs["scale.enqueue_many_jobs_s"] = dr.enqueue_many_jobs_s
        figs["scale.drain_jobs_s"] = dr.drain_jobs_s
        figs["memory.rss_stored_mb"] = max(rss_start, d.rss_mb())
    figs["scale.enqueue_single_vs_empty"] = figs["scale.enqueue_single_jobs_s"] / empty["enqueue.single_jobs_s"]
    figs["scale.enqueue_many_vs_empty"] = figs["scale.enqueue_many_jobs_s"] / empty["enqueue.many_jobs_s"]
    figs["scale.drain_vs_empty"] = figs["scale.drain_jobs_s"] / empty["drain.jobs_s"]
    return figs


def peer_figures(peer: str, workdir: Path, sizes: Sizes, ours: dict[str, float]) -> dict[str, float]:
    assert peer == "huey"
    figs = peers.huey(workdir, sizes.drain_jobs, sizes.single_enqueue_jobs, min(sizes.pickup_jobs, 100))
    figs["peer.huey.enqueue_vs_queuectl"] = ours["enqueue.single_jobs_s"] / figs["peer.huey.enqueue_single_jobs_s"]
    figs["peer.huey.drain_vs_queuectl"] = ours["drain.jobs_s"] / figs["peer.huey.drain_jobs_s"]
    figs["peer.huey.completed_p50_vs_queuectl"] = figs["peer.huey.completed_p50_ms"] / ours["pickup.completed_p50_ms"]
    return figs


def measure(root: Path, sizes: Sizes, n_runs: int, skip_scale: bool, peer_names: tuple[str, ...],
            profile: Path | None) -> list[dict[str, float]]:
    template: Path | None = None
    seed_s = math.nan
    if not skip_scale:
        progress(f"building a database with {sizes.stored_jobs:,} finished jobs")
        seed_s = seed_home(root / "seed", sizes.stored_jobs)
        template = qpaths.for_home(root / "seed").db
    runs = []
    for k in range(n_runs):
        progress(f"run {k + 1} of {n_runs}")
        figs = run_once(root / f"run{k}", sizes, template, peer_names, profile)
        if template is not None:
            figs["scale.stored_jobs"] = sizes.stored_jobs
            figs["scale.seed_s"] = seed_s
            figs["scale.db_bytes_per_job"] = parts.db_bytes(template) / sizes.stored_jobs
        runs.append(figs)
    return runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else Sizes()
    if args.jobs is not None:
        sizes = dataclasses.replace(sizes, drain_jobs=args.jobs)
    if args.stored is not None:
        sizes = dataclasses.replace(sizes, stored_jobs=args.stored)
    peer_names = tuple(p for p in (s.strip() for s in args.peers.split(",")) if p)
    for peer in peer_names:
        if peer not in peers.PEERS:
            print(f"unknown peer {peer!r} (known: {', '.join(peers.PEERS)})", file=sys.stderr)
            return 2
        if peers.missing(peer):
            print(f"{peer} is not installed; for the benchmark only, install it with:\n"
                  f"  {peers.INSTALL_HINT[peer]}", file=sys.stderr)  # fmt: skip
            return 2
    if args.profile is not None:
        if not (Path(sys.executable).parent / "py-spy").exists():
            print(f"--profile needs py-spy: {sys.executable} -m pip install py-spy", file=sys.stderr)
            return 2
        args.profile.mkdir(parents=True, exist_ok=True)
    started = time.time()
    root = Path(tempfile.mkdtemp(prefix="qbench-"))
    try:
        if args.keep:
            progress(f"temporary homes under {root} (kept)")
        runs = measure(root, sizes, args.runs, args.skip_scale, peer_names, args.profile)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    figures = report.figures_for(peer_names)
    values = {f.key: median(vals) if (vals := [r[f.key] for r in runs if f.key in r]) else math.nan
              for f in figures}  # fmt: skip
    print(report.table(figures, values))
    meta = {"quick": args.quick, "runs": args.runs, "sizes": dataclasses.asdict(sizes),
            "peers": list(peer_names), "profiled": args.profile is not None,
            "started_at": started, "elapsed_s": round(time.time() - started, 1)}  # fmt: skip
    report.write(args.out, report.document(figures, values, runs, meta))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
