"""`python -m benchmarks`: run the queuectl benchmarks, print a table, write JSON."""

from __future__ import annotations

import argparse
import dataclasses
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import install, parts, peers, report
from benchmarks.daemon import BenchDaemon
from benchmarks.install import Target
from benchmarks.parts import Sizes
from benchmarks.seed import seed_home
from benchmarks.spawn import raw_rate
from benchmarks.util import median
from queuectl import paths as qpaths

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"
QUICK = Sizes(
    drain_jobs=1_000, single_enqueue_jobs=500, pickup_jobs=16, schedule_jobs=40,
    schedule_spread_s=1.5, spawn_seconds=1.0, cli_repeat=5, cli_loop_jobs=50, rpc_repeat=20,
    memory_jobs=3_000, stored_jobs=20_000,
)  # fmt: skip
DAEMON_PARTS = frozenset({"pickup", "schedule", "enqueue", "cli", "drain", "memory"})


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--jobs", type=int, help="jobs per drain (default 10,000; 1,000 with --quick)")
    p.add_argument("--pickups", type=int, help="jobs of the pickup latency part (default 200; 16 with --quick)")
    p.add_argument("--runs", type=int, help="repeat everything K times, report medians (default 1; 3 with --compare)")
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
    p.add_argument("--only", metavar="PARTS",
                   help=f"comma-separated parts to run (default all): {', '.join(report.PARTS)}; "
                        "drain brings spawn (its ratio's denominator)")  # fmt: skip
    p.add_argument("--compare", metavar="REF",
                   help="also measure git revision REF (a commit, branch, tag, HEAD~1), installed into a "
                        "venv of its own, against this tree installed the same way; runs alternate")  # fmt: skip
    p.add_argument("--cache-dir", type=Path, metavar="DIR",
                   help=f"where --compare keeps its venvs (default {install.default_cache()})")
    args = p.parse_args(argv)
    if args.runs is None:
        args.runs = 3 if args.compare else 1
    if args.runs < 1 or any(n is not None and n < 1 for n in (args.jobs, args.pickups)):
        p.error("--runs, --jobs and --pickups must be at least 1")
    if args.compare and (args.peers or args.profile):
        p.error("--compare does not go with --peers or --profile")
    chosen = [s.strip() for s in (args.only or ",".join(report.PARTS)).split(",") if s.strip()]
    unknown = [name for name in chosen if name not in report.PARTS]
    if unknown or not chosen:
        p.error(f"--only takes some of: {', '.join(report.PARTS)} (not {', '.join(unknown) or 'nothing'})")
    if "drain" in chosen:
        chosen.append("spawn")
    if args.skip_scale:
        chosen = [name for name in chosen if name != "scale"]
    args.parts = tuple(name for name in report.PARTS if name in chosen)
    return args


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_once(root: Path, sizes: Sizes, target: Target, chosen: tuple[str, ...], template: Path | None,
             peer_names: tuple[str, ...], profile: Path | None, tolerant: bool = False) -> dict[str, float]:
    """One run of the chosen parts against one target. `tolerant` (--compare): a part that
    fails (e.g. against an older revision that lacks what it needs) loses its figures only."""
    figs: dict[str, float] = {}
    want = set(chosen)

    def step(name: str, fn: Callable[[], None]) -> None:
        if name not in want:
            return
        try:
            fn()
        except Exception as exc:
            if not tolerant:
                raise
            progress(f"{target.label}: the {name} part failed ({exc}); its figures are left out")

    def spawn() -> None:
        progress("raw spawn limit (1, then 2 processes)")
        figs["spawn.raw_1_jobs_s"], figs["spawn.cpu_us_per_job"] = raw_rate(1, sizes.spawn_seconds)
        figs["spawn.raw_2_jobs_s"], _ = raw_rate(2, sizes.spawn_seconds)

    if want & DAEMON_PARTS:
        empty = BenchDaemon(root / "empty", workers=2, target=target)
        with empty.start() as d:
            if "memory" in want:
                figs["memory.rss_start_mb"] = d.rss_mb()

            def pickup() -> None:
                low, high = sizes.pickup_gap_s
                progress(f"pickup latency ({sizes.pickup_jobs} jobs, one at a time, {low:g}-{high:g} s idle before each)")
                figs.update(parts.pickup(d, sizes.pickup_jobs, sizes.pickup_gap_s))

            def schedule() -> None:
                progress(f"schedule precision ({sizes.schedule_jobs} jobs over {sizes.schedule_spread_s:g}s)")
                figs.update(parts.schedule(d, sizes.schedule_jobs, sizes.schedule_spread_s))

            def enqueue() -> None:
                progress(f"job.enqueue x {sizes.single_enqueue_jobs}")
                figs["enqueue.single_jobs_s"] = parts.enqueue_single(d, sizes.single_enqueue_jobs)

            def cli() -> None:
                progress(f"CLI wall times, and loops of {sizes.cli_loop_jobs} jobs")
                figs.update(parts.cli(d, sizes.cli_repeat, sizes.cli_loop_jobs))

            def drain() -> None:
                progress(f"drain of {sizes.drain_jobs} jobs")
                dr = parts.drain(d, sizes.drain_jobs, sizes.rpc_repeat, sizes.cli_repeat, "empty", profile)
                figs.update(dr.listing)
                figs["drain.jobs"] = sizes.drain_jobs
                figs["enqueue.many_jobs_s"] = dr.enqueue_many_jobs_s
                figs["drain.jobs_s"] = dr.drain_jobs_s
                if "spawn.raw_2_jobs_s" in figs:
                    figs["drain.vs_raw_2"] = dr.drain_jobs_s / figs["spawn.raw_2_jobs_s"]
                figs["drain.first_start_ms"] = dr.first_start_s * 1000
                figs["drain.daemon_cpu_us_per_job"] = dr.daemon_cpu_us
                figs["drain.children_cpu_us_per_job"] = dr.children_cpu_us
                figs["drain.cpu_us_per_job"] = dr.daemon_cpu_us + dr.children_cpu_us

            def memory() -> None:
                progress(f"processing up to {sizes.memory_jobs} jobs in all (memory)")
                figs["memory.processed"] = parts.process_until(d, sizes.memory_jobs)
                figs["memory.rss_processed_mb"] = d.rss_mb()
                total = sum(d.counts().values())
                figs["memory.db_bytes_per_job"] = parts.db_bytes(empty.paths.db) / total

            step("pickup", pickup)
            step("schedule", schedule)
            step("enqueue", enqueue)
            step("cli", cli)
            step("spawn", spawn)  # just before the drain, as its denominator
            step("drain", drain)
            step("memory", memory)
    else:
        step("spawn", spawn)
    if template is not None:
        step("scale", lambda: figs.update(scale(root / "scale", template, sizes, figs, profile, target)))
    for peer in peer_names:
        progress(f"peer: {peer}")
        figs.update(peer_figures(peer, root / peer, sizes, figs))
    return figs


def scale(home: Path, template: Path, sizes: Sizes, empty: dict[str, float],
          profile: Path | None, target: Target) -> dict[str, float]:  # fmt: skip
    paths = qpaths.for_home(home)
    paths.state_dir.mkdir(parents=True)
    shutil.copyfile(template, paths.db)
    figs: dict[str, float] = {}
    progress("scale: starting a daemon on the stored jobs")
    t0 = time.perf_counter()
    with BenchDaemon(home, workers=2, target=target).start() as d:
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
    for key, ours, theirs in (("scale.enqueue_single_vs_empty", "scale.enqueue_single_jobs_s", "enqueue.single_jobs_s"),
                              ("scale.enqueue_many_vs_empty", "scale.enqueue_many_jobs_s", "enqueue.many_jobs_s"),
                              ("scale.drain_vs_empty", "scale.drain_jobs_s", "drain.jobs_s")):  # fmt: skip
        if theirs in empty:  # that part ran too
            figs[key] = figs[ours] / empty[theirs]
    return figs


def peer_figures(peer: str, workdir: Path, sizes: Sizes, ours: dict[str, float]) -> dict[str, float]:
    assert peer == "huey"
    figs = peers.huey(workdir, sizes.drain_jobs, sizes.single_enqueue_jobs, min(sizes.pickup_jobs, 100))
    for key, num, den in (
        ("peer.huey.enqueue_vs_queuectl", ours.get("enqueue.single_jobs_s"), figs["peer.huey.enqueue_single_jobs_s"]),
        ("peer.huey.drain_vs_queuectl", ours.get("drain.jobs_s"), figs["peer.huey.drain_jobs_s"]),
        ("peer.huey.completed_p50_vs_queuectl", figs["peer.huey.completed_p50_ms"], ours.get("pickup.completed_p50_ms")),
    ):
        if num is not None and den is not None:  # our part of it ran (--only)
            figs[key] = num / den
    return figs


def measure(root: Path, sizes: Sizes, n_runs: int, chosen: tuple[str, ...], targets: list[Target],
            peer_names: tuple[str, ...], profile: Path | None) -> list[list[dict[str, float]]]:
    """Every run of every target: runs[target index][run]. With two targets the runs
    alternate, A B, B A, A B, ... so that a drift in the machine's load hits both alike."""
    templates: list[Path | None] = [None] * len(targets)
    seed_s = [math.nan] * len(targets)
    if "scale" in chosen:
        for i, target in enumerate(targets):
            progress(f"building a database with {sizes.stored_jobs:,} finished jobs ({target.label})")
            seed_s[i] = seed_home(root / f"seed{i}", sizes.stored_jobs, target)
            templates[i] = qpaths.for_home(root / f"seed{i}").db
    tolerant = len(targets) > 1
    runs: list[list[dict[str, float]]] = [[] for _ in targets]
    for k in range(n_runs):
        order = list(range(len(targets)))
        if k % 2:
            order.reverse()
        for i in order:
            target = targets[i]
            progress(f"run {k + 1} of {n_runs}" + (f": {target.label}" if tolerant else ""))
            figs = run_once(root / f"run{k}-{i}", sizes, target, chosen, templates[i], peer_names,
                            profile, tolerant)  # fmt: skip
            template = templates[i]
            if template is not None and "scale.drain_jobs_s" in figs:
                figs["scale.stored_jobs"] = sizes.stored_jobs
                figs["scale.seed_s"] = seed_s[i]
                figs["scale.db_bytes_per_job"] = parts.db_bytes(template) / sizes.stored_jobs
            runs[i].append(figs)
    return runs


def medians(figures: tuple[report.Figure, ...], runs: list[dict[str, float]]) -> dict[str, float]:
    return {f.key: median(vals) if (vals := [r[f.key] for r in runs if f.key in r]) else math.nan
            for f in figures}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else Sizes()
    if args.jobs is not None:
        sizes = dataclasses.replace(sizes, drain_jobs=args.jobs)
    if args.stored is not None:
        sizes = dataclasses.replace(sizes, stored_jobs=args.stored)
    if args.pickups is not None:
        sizes = dataclasses.replace(sizes, pickup_jobs=args.pickups)
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
    try:
        targets = targets_for(args)
    except install.InstallError as exc:
        print(f"--compare: {exc}", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="qbench-"))
    try:
        if args.keep:
            progress(f"temporary homes under {root} (kept)")
        runs = measure(root, sizes, args.runs, args.parts, targets, peer_names, args.profile)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    figures = report.figures_for(peer_names, args.parts)
    values = medians(figures, runs[0])
    meta = {"quick": args.quick, "runs": args.runs, "sizes": dataclasses.asdict(sizes),
            "parts": list(args.parts), "peers": list(peer_names), "profiled": args.profile is not None,
            "queuectl": targets[0].queuectl_file(),
            "started_at": started, "elapsed_s": round(time.time() - started, 1)}  # fmt: skip
    doc = report.document(figures, values, runs[0], meta)
    if len(targets) > 1:
        base = targets[1]
        base_values = medians(figures, runs[1])
        print(report.compare_table(figures, base.label, base_values, values))
        doc["compare"] = report.compare_document(figures, base_values, values, runs[1], {
            "ref": args.compare, "commit": base.commit, "label": base.label, "queuectl": base.queuectl_file()})
        print(f"\nmedians of {args.runs} runs each, alternating; this/base = this tree's figure / {base.label}'s")
    else:
        print(report.table(figures, values))
    report.write(args.out, doc)
    print(f"\nwritten to {args.out}")
    return 0


def targets_for(args: argparse.Namespace) -> list[Target]:
    """[this tree] or, with --compare, [this tree, REF], both installed into venvs."""
    if not args.compare:
        return [Target.current()]
    cache = args.cache_dir or install.default_cache()
    base = install.install_ref(args.compare, cache, progress)
    this = install.install_tree(cache, progress)
    for target in (this, base):
        where = target.queuectl_file()
        if not where.startswith(str(Path(target.python).parent.parent)):
            raise install.InstallError(f"{target.label} imports queuectl from {where}, not from its venv")
    return [this, base]


if __name__ == "__main__":
    sys.exit(main())
