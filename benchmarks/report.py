"""Every figure the harness reports, with the issue's targets; the table and the JSON."""

from __future__ import annotations

import json
import math
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    label: str
    unit: str
    target: tuple[str, float] | None = None  # (">=" | "<=", value)

    def met(self, value: float) -> bool | None:
        if self.target is None or value is None or math.isnan(value):
            return None
        op, bound = self.target
        return value >= bound if op == ">=" else value <= bound


F = Figure
FIGURES: tuple[Figure, ...] = (
    F("spawn.raw_1_jobs_s", "raw spawn, 1 process", "jobs/s"),
    F("spawn.raw_2_jobs_s", "raw spawn, 2 processes", "jobs/s"),
    F("spawn.cpu_us_per_job", "raw spawn: spawner's own CPU per job (not sh)", "us"),
    F("drain.jobs", "drain: jobs", "jobs"),
    F("drain.jobs_s", "drain, 2 workers", "jobs/s"),
    F("drain.vs_raw_2", "drain / raw 2-process spawn", "x", (">=", 0.6)),
    F("drain.first_start_ms", "drain: scale-up -> first job started", "ms"),
    F("drain.daemon_cpu_us_per_job", "drain: daemon CPU per job", "us"),
    F("drain.children_cpu_us_per_job", "drain: worker children's CPU per job (not sh)", "us"),
    F("drain.cpu_us_per_job", "drain: daemon + children CPU per job", "us", ("<=", 250.0)),
    F("pickup.jobs", "pickup: jobs (one at a time, idle before each)", "jobs"),
    F("pickup.gap_min_s", "pickup: idle gap before each, from", "s"),
    F("pickup.gap_max_s", "pickup: idle gap before each, to", "s"),
    F("pickup.time_resolution_us", "resolution of the daemon's times (job.get)", "us"),
    F("pickup.start_p50_ms", "pickup enqueue->start p50 (daemon times)", "ms", ("<=", 0.8)),
    F("pickup.start_p99_ms", "pickup enqueue->start p99 (daemon times)", "ms", ("<=", 3.0)),
    F("pickup.started_event_p50_ms", "pickup send->started event p50 (client)", "ms"),
    F("pickup.started_event_p99_ms", "pickup send->started event p99 (client)", "ms"),
    F("pickup.completed_p50_ms", "pickup send->job.wait done p50 (client)", "ms", ("<=", 2.5)),
    F("pickup.completed_p99_ms", "pickup send->job.wait done p99 (client)", "ms"),
    F("pickup.status_p50_ms", "daemon.status RPC from idle p50", "ms", ("<=", 0.3)),
    F("pickup.status_p99_ms", "daemon.status RPC from idle p99", "ms"),
    F("pickup.echo_p50_ms", "floor: raw ZeroMQ echo round trip from idle p50", "ms"),
    F("pickup.echo_p99_ms", "floor: raw ZeroMQ echo round trip from idle p99", "ms"),
    F("pickup.echo_warm_p50_ms", "floor: raw ZeroMQ echo round trip, back to back, p50", "ms"),
    F("schedule.jobs", "schedule: jobs", "jobs"),
    F("schedule.late_p50_ms", "schedule start - run_at p50", "ms"),
    F("schedule.late_p99_ms", "schedule start - run_at p99", "ms", ("<=", 10.0)),
    F("enqueue.single_jobs_s", "job.enqueue, one per request", "jobs/s", (">=", 5000.0)),
    F("enqueue.many_jobs_s", "job.enqueue_many, chunks of 1,000", "jobs/s", (">=", 150_000.0)),
    F("cli.python_pass_ms", "python -c pass", "ms"),
    F("cli.status_ms", "queuectl status", "ms"),
    F("cli.enqueue_ms", "queuectl enqueue -- true", "ms"),
    F("cli.status_vs_python", "queuectl status / python -c pass", "x", ("<=", 4.0)),
    F("cli.enqueue_vs_python", "queuectl enqueue / python -c pass", "x", ("<=", 4.0)),
    F("cli.loop_jobs", "CLI loops: jobs per loop", "jobs"),
    F("cli.loop_per_1000_s", "shell loop of queuectl enqueue -- true, per 1,000", "s"),
    F("cli.file_per_1000_s", "NDJSON | queuectl enqueue --file -, per 1,000", "s"),
    F("empty.rpc_status_ms", "daemon.status RPC (N pending)", "ms", ("<=", 0.3)),
    F("empty.rpc_list_pending_ms", "job.list pending limit 50 RPC (N pending)", "ms"),
    F("empty.cli_status_ms", "queuectl status (N pending)", "ms"),
    F("empty.cli_list_pending_ms", "queuectl list --state pending --limit 50", "ms"),
    F("scale.stored_jobs", "scale: finished jobs stored", "jobs"),
    F("scale.seed_s", "scale: time to build that database", "s"),
    F("scale.enqueue_single_jobs_s", "scale: job.enqueue, one per request", "jobs/s"),
    F("scale.enqueue_many_jobs_s", "scale: job.enqueue_many", "jobs/s"),
    F("scale.drain_jobs_s", "scale: drain, 2 workers", "jobs/s"),
    F("scale.enqueue_single_vs_empty", "scale/empty: single enqueue", "x", (">=", 0.8)),
    F("scale.enqueue_many_vs_empty", "scale/empty: enqueue_many", "x", (">=", 0.8)),
    F("scale.drain_vs_empty", "scale/empty: drain", "x", (">=", 0.8)),
    F("scale.rpc_status_ms", "scale: daemon.status RPC", "ms", ("<=", 50.0)),
    F("scale.rpc_list_pending_ms", "scale: job.list pending limit 50 RPC", "ms"),
    F("scale.cli_status_ms", "scale: queuectl status", "ms"),
    F("scale.cli_list_pending_ms", "scale: queuectl list --state pending --limit 50", "ms"),
    F("scale.db_bytes_per_job", "scale: database bytes per job", "B"),
    F("scale.daemon_start_s", "scale: daemon start to ready", "s"),
    F("memory.rss_start_mb", "daemon RSS at start", "MiB"),
    F("memory.processed", "memory: jobs processed", "jobs"),
    F("memory.rss_processed_mb", "daemon RSS after those jobs", "MiB"),
    F("memory.db_bytes_per_job", "database bytes per job (real rows)", "B"),
    F("memory.rss_stored_mb", "daemon RSS with the scale database", "MiB", ("<=", 100.0)),
)

PEER_FIGURES: dict[str, tuple[Figure, ...]] = {
    "huey": (
        F("peer.huey.enqueue_single_jobs_s", "huey: enqueue, one per call", "jobs/s"),
        F("peer.huey.drain_jobs_s", "huey: drain, 2 process workers", "jobs/s"),
        F("peer.huey.completed_p50_ms", "huey: enqueue -> result seen p50", "ms"),
        F("peer.huey.completed_p99_ms", "huey: enqueue -> result seen p99", "ms"),
        F("peer.huey.enqueue_vs_queuectl", "queuectl / huey: single enqueue", "x"),
        F("peer.huey.drain_vs_queuectl", "queuectl / huey: drain", "x"),
        F("peer.huey.completed_p50_vs_queuectl", "huey / queuectl: enqueue->done p50", "x"),
    ),
}


# The parts of a run, for --only (in the order they run).
PARTS = ("pickup", "schedule", "enqueue", "cli", "spawn", "drain", "memory", "scale")


def part_of(key: str) -> str:
    """Which part measures a figure."""
    if key.startswith("peer."):
        return "peers"
    if key == "enqueue.single_jobs_s":
        return "enqueue"
    if key == "enqueue.many_jobs_s" or key.startswith("empty."):
        return "drain"  # the drain's enqueue phase, and the listing with its N jobs pending
    if key == "memory.rss_stored_mb":
        return "scale"
    return key.split(".")[0]


def figures_for(peers: tuple[str, ...], parts: tuple[str, ...] = PARTS) -> tuple[Figure, ...]:
    every = FIGURES + tuple(f for p in peers for f in PEER_FIGURES[p])
    return tuple(f for f in every if part_of(f.key) in parts or part_of(f.key) == "peers")


def fmt(value: float, unit: str) -> str:
    if value is None or math.isnan(value):
        return "-"
    if unit == "x":
        return f"{value:.2f}"
    if unit in ("jobs", "B", "us"):
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    if unit == "jobs/s":
        return f"{value:,.0f}"
    return f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def table(figures: tuple[Figure, ...], values: dict[str, float]) -> str:
    rows = [("figure", "value", "unit", "target", "")]
    for f in figures:
        value = values.get(f.key, math.nan)
        met = f.met(value)
        target = f"{f.target[0]} {f.target[1]:g}" if f.target else ""
        rows.append((f.label, fmt(value, f.unit), f.unit, target,
                     "" if met is None else ("met" if met else "MISSED")))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].ljust(widths[2]),
                 row[3].ljust(widths[3]), row[4]]  # fmt: skip
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def ratio(a: float, b: float) -> float:
    try:
        return a / b
    except (ZeroDivisionError, TypeError):
        return math.nan


def compare_table(figures: tuple[Figure, ...], base_label: str, base: dict[str, float],
                  ours: dict[str, float]) -> str:  # fmt: skip
    """Each figure for the other revision and for this tree, and this tree / the other."""
    rows = [("figure", base_label, "this tree", "this/base", "unit", "target", "")]
    for f in figures:
        a, b = ours.get(f.key, math.nan), base.get(f.key, math.nan)
        met = f.met(a)
        target = f"{f.target[0]} {f.target[1]:g}" if f.target else ""
        r = ratio(a, b)
        rows.append((f.label, fmt(b, f.unit), fmt(a, f.unit), "-" if math.isnan(r) else f"{r:.2f}",
                     f.unit, target, "" if met is None else ("met" if met else "MISSED")))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(7)]
    lines = []
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), *(row[j].rjust(widths[j]) for j in (1, 2, 3)),
                 row[4].ljust(widths[4]), row[5].ljust(widths[5]), row[6]]  # fmt: skip
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def document(figures: tuple[Figure, ...], values: dict[str, float], runs: list[dict[str, float]],
             meta: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    return {
        "meta": {**meta, "python": platform.python_version(), "machine": platform.machine(),
                 "cpus": _cpus()},  # fmt: skip
        "figures": {f.key: _json_number(values.get(f.key, math.nan)) for f in figures},
        "units": {f.key: f.unit for f in figures},
        "targets": {
            f.key: {"op": f.target[0], "value": f.target[1], "met": f.met(values.get(f.key, math.nan))}
            for f in figures
            if f.target
        },
        "runs": [{k: _json_number(v) for k, v in run.items()} for run in runs],
    }


def compare_document(figures: tuple[Figure, ...], base: dict[str, float], ours: dict[str, float],
                     base_runs: list[dict[str, float]], about: dict[str, Any]) -> dict[str, Any]:
    """The JSON's `compare`: the other revision's medians and runs, and this tree / it."""
    return {
        **about,
        "figures": {f.key: _json_number(base.get(f.key, math.nan)) for f in figures},
        "ratio": {f.key: _json_number(ratio(ours.get(f.key, math.nan), base.get(f.key, math.nan)))
                  for f in figures},  # fmt: skip
        "runs": [{k: _json_number(v) for k, v in run.items()} for run in base_runs],
    }


def write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")


def _json_number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 6)


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))
