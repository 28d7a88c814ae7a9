"""Chaos run: many jobs of every kind while children and the daemon are SIGKILLed at random.

    python -m tests.chaos --jobs 20000 --kills 50 --daemon-kills 10

Afterwards every invariant is checked straight from the database, the log
segments and /proc, and a report is printed (and returned, for the test that
runs a short version in CI).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Daemon, pids_with_marker, wait_for

LOUD_BYTES = 100_000
# kind: (weight, command template, job fields)
KINDS: dict[str, tuple[int, str, dict[str, Any]]] = {
    "ok": (40, "true", {"max_retries": 20}),
    "flaky": (20, '[ "$QUEUECTL_ATTEMPT" -gt 1 ] || exit 1', {"max_retries": 20}),
    "fail": (15, "exit 3", {"max_retries": 2}),
    "timeout": (2, "sleep 5", {"timeout": 0.2, "max_retries": 1}),
    "loud": (13, f"head -c {LOUD_BYTES} /dev/zero | tr '\\0' x", {"max_retries": 20}),
    "spawner": (10, "sleep 0.05 & sleep 0.05 & wait", {"max_retries": 20}),
}
SUCCEEDS = {"ok", "flaky", "loud", "spawner"}


def make_jobs(n: int, marker: str, rng: random.Random,
              kinds: dict[str, tuple[int, str, dict[str, Any]]] = KINDS) -> list[dict[str, Any]]:  # fmt: skip
    names = list(kinds)
    weights = [kinds[k][0] for k in names]
    jobs = []
    for i in range(n):
        if i and rng.random() < 0.12:  # a DAG among the jobs: 1 to 3 parents among the last 50
            parents = sorted({jobs[rng.randrange(max(0, i - 50), i)]["id"] for _ in range(rng.randint(1, 3))})
            jobs.append({"id": f"dep-{i}", "command": f"true # {marker}", "max_retries": 20, "after": parents,
                         "after_condition": rng.choice(["success", "failure", "always"])})  # fmt: skip
            continue
        kind = rng.choices(names, weights)[0]
        _, command, fields = kinds[kind]
        # The marker lets us find any process of any job in /proc afterwards.
        jobs.append({"id": f"{kind}-{i}", "command": f"{command} # {marker}", **fields})
    return jobs


# Schedules firing every second through the run: name -> (catch_up, overlap)
SCHEDULES = {"every-all": ("all", "allow"), "every-none": ("none", "skip")}


def check_deps(spec: dict[str, Any], jobs: dict[str, Any], violations: list[str]) -> None:
    """A dependent ran iff its parents ended as its condition asks, and after them."""
    parents = [jobs[p] for p in spec["after"] if p in jobs]
    want = {"success": "completed", "failure": "dead"}.get(spec["after_condition"])
    ok = all(want is None or p[1] == want for p in parents)
    state = jobs[spec["id"]][1]
    if state != ("completed" if ok else "cancelled"):
        violations.append(f"{spec['id']}: {state} with parents {[p[1] for p in parents]} "
                          f"({spec['after_condition']})")  # fmt: skip
    started = jobs[spec["id"]][6]
    if state == "completed" and any(p[7] is None or started is None or started < p[7] for p in parents):
        violations.append(f"{spec['id']}: started before a parent finished")


def check_schedules(db: sqlite3.Connection, violations: list[str]) -> dict[str, Any]:
    """Each schedule's runs: no slot twice (ids), none missing with catch_up all, and how late."""
    from datetime import datetime

    report: dict[str, Any] = {}
    for name, (catch_up, _) in SCHEDULES.items():
        rows = db.execute("SELECT id, created_at, state FROM jobs WHERE id > ? AND id < ?",
                          (name + "@", name + "A")).fetchall()  # fmt: skip
        slots = sorted(datetime.fromisoformat(r[0].split("@", 1)[1]).timestamp() for r in rows)
        late = max((r[1] - datetime.fromisoformat(r[0].split("@", 1)[1]).timestamp() for r in rows), default=0)
        if catch_up == "all" and slots != [slots[0] + i for i in range(len(slots))]:
            violations.append(f"schedule {name}: slots missing or repeated")
        if catch_up == "none" and late > 10:
            violations.append(f"schedule {name}: a run {late:.1f}s after its slot")
        if any(r[2] not in ("completed", "dead", "cancelled") for r in rows):
            violations.append(f"schedule {name}: a run left unfinished")
        report[name] = {"runs": len(slots), "latest_s": round(late, 3)}
    return report


def kill_points(count: int, rng: random.Random) -> list[float]:
    """Progress fractions (0..0.9) at which to strike, spread over the run."""
    return sorted(rng.uniform(0.02, 0.9) for _ in range(count))


def progress(d: Daemon, total: int) -> float | None:
    try:
        counts = d.call("daemon.status", timeout=5)["counts"]
        # (the schedules' runs are not of the total: counted out, final or not)
        runs = d.call("job.list", {"search": "every-", "limit": 0}, timeout=5)["matched"]
    except Exception:
        return None
    return (counts["completed"] + counts["dead"] + counts["cancelled"] - runs) / total


def kill_a_child(d: Daemon, rng: random.Random) -> bool:
    try:
        children = d.call("workers.status", timeout=5)["children"]
    except Exception:
        return False
    busy = [c for c in children if c["job"]] or children
    if not busy:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(rng.choice(busy)["pid"], signal.SIGKILL)
    return True


def run(jobs: int, kills: int, daemon_kills: int, workers: int = 4, seed: int = 1,
        home: Path | None = None, timeout: float = 3600) -> dict[str, Any]:  # fmt: skip
    rng = random.Random(seed)
    home = home or Path(tempfile.mkdtemp(prefix="queuectl-chaos-"))
    marker = f"chaos-{os.getpid()}-{time.monotonic_ns()}"
    d = Daemon(home, workers=workers)
    d.start()
    for key, value in (("backoff_base", 2), ("backoff_max", 0.05), ("kill_grace", 0.2),
                       ("shutdown_grace", 1)):  # fmt: skip
        d.call("config.set", {"key": key, "value": value})
    specs = make_jobs(jobs, marker, rng)
    for name, (catch_up, overlap) in SCHEDULES.items():
        d.call("schedule.add", {"name": name, "every": 1, "tz": "UTC", "catch_up": catch_up,
                                "overlap": overlap, "job": {"command": f"true # {marker}"}})  # fmt: skip
    for start in range(0, len(specs), 1000):
        d.call("job.enqueue_many", {"jobs": specs[start : start + 1000]})
    child_at, daemon_at = kill_points(kills, rng), kill_points(daemon_kills, rng)
    child_kills = daemon_restarts = 0
    t0 = time.monotonic()
    while True:
        done = progress(d, jobs)
        if done is None:
            time.sleep(0.05)
            continue
        if done >= 1.0:
            break
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"the queue did not drain within {timeout}s ({done:.1%})")
        if daemon_at and done >= daemon_at[0]:
            daemon_at.pop(0)
            d.kill9()
            d.start()
            daemon_restarts += 1
        elif child_at and done >= child_at[0] and kill_a_child(d, rng):
            child_at.pop(0)
            child_kills += 1
        time.sleep(rng.uniform(0.01, 0.1))
    elapsed = time.monotonic() - t0
    for name in SCHEDULES:
        d.call("schedule.pause", {"name": name})
    d.wait_all_final()
    d.stop()
    report = check(home, d, specs, marker)
    report.update(jobs=jobs, child_kills=child_kills, daemon_kills=daemon_restarts,
                  seconds=round(elapsed, 1), home=str(home))  # fmt: skip
    kills_total = child_kills + daemon_restarts
    report["extra_runs_per_kill"] = round(report["extra_runs"] / kills_total, 2) if kills_total else 0
    return report


# The rows the checks read, in this order, from either store (SQLite or PostgreSQL).
JOB_COLUMNS = "id, state, seq, charged, max_retries, last_error, started_at, finished_at, attempts"
ATTEMPT_COLUMNS = ("job_seq, n, started_at, finished_at, charged, error, segment, out_off, out_len, exit_code, "
                   "daemon, assigned_at")  # fmt: skip
FINAL = ("completed", "dead", "cancelled")


def read_rows(db: Any) -> tuple[dict[str, tuple], dict[int, list[tuple]]]:
    """The jobs by id and their attempts by job seq (in order), from a DB-API connection."""
    jobs = {r[0]: tuple(r) for r in db.execute(f"SELECT {JOB_COLUMNS} FROM jobs")}
    attempts: dict[int, list[tuple]] = {}
    for row in db.execute(f"SELECT {ATTEMPT_COLUMNS} FROM attempts ORDER BY job_seq, n"):
        attempts.setdefault(row[0], []).append(tuple(row))
    return jobs, attempts


def check_jobs(specs: list[dict[str, Any]], jobs: dict[str, tuple], attempts: dict[int, list[tuple]],
               output: Callable[[tuple], bytes], violations: list[str], succeeds: set[str] = SUCCEEDS) -> None:  # fmt: skip
    """Each enqueued job: there, final, in the state its kind must end in, its attempts
    numbered 1..n without gaps and never overlapping in time, a loud job's whole output kept
    (`output` reads an attempt's stdout)."""
    for spec in specs:
        job = jobs.get(spec["id"])
        if job is None:
            violations.append(f"{spec['id']}: lost")
            continue
        _, state, seq, charged, max_retries, last_error = job[:6]
        kind = spec["id"].split("-")[0]
        if kind == "dep":
            check_deps(spec, jobs, violations)
        if state not in FINAL:
            violations.append(f"{spec['id']}: left {state}")
        if kind in succeeds and state != "completed":
            violations.append(f"{spec['id']}: {state}, expected completed ({last_error})")
        if kind in ("fail", "timeout"):
            if state != "dead":
                violations.append(f"{spec['id']}: {state}, expected dead")
            counted = sum(1 for a in attempts.get(seq, []) if a[4])
            if counted != max_retries + 1:
                violations.append(f"{spec['id']}: {counted} counted attempts, expected {max_retries + 1}")
        numbers = [a[1] for a in attempts.get(seq, [])]
        if numbers != list(range(1, job[8] + 1)):
            violations.append(f"{spec['id']}: attempts {numbers}, the job says {job[8]}")
        runs = sorted((a[2], a[3]) for a in attempts.get(seq, []) if a[2] is not None)
        for (_, end), (start, _) in zip(runs, runs[1:], strict=False):
            if end is None or start < end:
                violations.append(f"{spec['id']}: attempts overlap")
        if kind == "loud" and state == "completed":
            data = output(attempts[seq][-1])
            if data != b"x" * LOUD_BYTES:
                violations.append(f"{spec['id']}: stdout of {len(data)} bytes is not exactly its output")


def read_output(logs_dir: Path, attempt: tuple) -> bytes:
    """An attempt's stdout, from the log segment of the daemon that ran it."""
    segment, off, length = attempt[6], attempt[7], attempt[8]
    return (logs_dir / f"{segment}.out").read_bytes()[off : off + length]


def attempt_counts(attempts: dict[int, list[tuple]]) -> dict[str, int]:
    """How many attempts, and how many runs the kills cost (lost: charged; interrupted: not)."""
    every = [a for rows in attempts.values() for a in rows]
    lost = sum(1 for a in every if a[4] and a[5] and a[5].startswith("worker lost"))
    interrupted = sum(1 for a in every if not a[4])
    return {"attempts": len(every), "lost_attempts": lost, "interrupted_attempts": interrupted,
            "extra_runs": lost + interrupted}  # fmt: skip


def check_processes(marker: str, violations: list[str]) -> None:
    """No process of any job is left running (their command lines carry the marker)."""
    with contextlib.suppress(AssertionError):
        wait_for(lambda: not pids_with_marker(marker), timeout=5)
    survivors = pids_with_marker(marker)
    if survivors:
        violations.append(f"{len(survivors)} job processes survived: {survivors[:5]}")


def check(home: Path, d: Daemon, specs: list[dict[str, Any]], marker: str) -> dict[str, Any]:
    """Every invariant, from the database and the filesystem. Violations are listed."""
    violations: list[str] = []
    db = sqlite3.connect(f"file:{d.paths.db}?mode=ro", uri=True)
    jobs, attempts = read_rows(db)
    check_jobs(specs, jobs, attempts, lambda a: read_output(d.paths.logs_dir, a), violations)
    scheduled = check_schedules(db, violations)
    made = sum(r["runs"] for r in scheduled.values())
    if len(jobs) != len(specs) + made:
        violations.append(f"{len(jobs)} jobs in the database, {len(specs)} enqueued and {made} scheduled")
    states = Counter(r[1] for r in jobs.values())
    if states.get("blocked"):
        violations.append(f"{states['blocked']} jobs left blocked")
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    if integrity != "ok":
        violations.append(f"integrity_check: {integrity}")
    db.close()
    check_processes(marker, violations)
    return {"states": dict(states), "schedules": scheduled, **attempt_counts(attempts),
            "integrity_check": integrity, "violations": violations}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs of worker children")
    parser.add_argument("--daemon-kills", type=int, default=10, help="SIGKILLs of the daemon")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    report = run(args.jobs, args.kills, args.daemon_kills, args.workers, args.seed)
    print(json.dumps(report, indent=2))
    return 1 if report["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
