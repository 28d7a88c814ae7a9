"""Chaos run over three daemons sharing one PostgreSQL database, with PostgreSQL restarts.

    python -m tests.chaos_cluster --jobs 5000 --kills 30 --daemon-kills 6 --pg-restarts 3

The jobs of tests/chaos.py (and its dependency graphs) are enqueued through all three
daemons (a, b, c; each in its own home, on a server of the run's own, tests/pgserver.py)
with a short lease (3 s, renewed every 0.5 s) so that rescues happen within the run.
Meanwhile, at random points of the progress: worker children of any daemon are
SIGKILLed; a daemon is SIGKILLed and started again (same home, same name); PostgreSQL
is restarted (`pg_ctl restart`, `-m fast` and `-m immediate` in turn).

Afterwards every invariant of tests/chaos.py is checked straight from PostgreSQL (jobs,
attempts) and /proc, and more that only a cluster has:

- every daemon's `status` counts the whole queue as the database does;
- no two runs of a job overlap in time. In the database: each job's attempts, by their
  recorded [start, finish], are disjoint (an attempt closed by a rescue has the
  rescuer's time as its end, after the lease lapsed). That alone proves little about the
  processes, so "beat" jobs write a line (job, attempt, time) every 50 ms while they run:
  every beat lies inside its attempt's recorded window (its start, or its claim if the
  start was never confirmed, to its end), each attempt's last beat comes before the next
  attempt's first, and no beat of a job a SIGKILLed daemon ran comes after that kill
  (PR_SET_PDEATHSIG). The documented exception (a daemon *stopped*, SIGSTOP, past its
  lease) is not exercised: this run stops none.

Schedules are left out: they are not coordinated across daemons yet (docs/postgres.md,
"Not yet across daemons"); tests/chaos.py covers them on one daemon. Queue limits hold
per daemon, and the jobs here use none.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import psycopg

from tests import chaos
from tests.conftest import Daemon, wait_for
from tests.pgserver import PgServer

NAMES = ("a", "b", "c")
LEASE, RENEW = 3.0, 0.5  # short, so that rescues happen within the run (defaults 10 s, 2 s)
BEAT_SLACK_S = 0.001  # float rounding between `date +%s.%N` and the stored times
STALL_S = 30.0  # no job became final for this long (and nothing is down): stop, and say what was left
PDEATHSIG_S = 0.25  # a dead daemon's jobs die with it: no beat later than this after the kill
EVENTS = ("daemon.rescued", "daemon.fenced", "daemon.unfenced", "daemon.lease_lapsed", "job.taken_over",
          "store.error", "store.ok")  # fmt: skip


def beat_command(beats: Path) -> str:
    """About half a second of `id attempt time` lines, one every 50 ms (echo is the shell's
    own: a line is written by the job's shell itself, never by a process that outlives it)."""
    line = f'echo "$QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT $(date +%s.%N)" >> {beats}'
    return f"for i in 1 2 3 4 5 6 7 8 9 10; do {line}; sleep 0.05; done"


class Cluster:
    """The server, the three daemons, and what was done to them (for the checks)."""

    def __init__(self, root: Path, workers: int, synchronous: str):
        self.root, self.workers, self.synchronous = root, workers, synchronous
        self.server = PgServer()
        self.url = ""
        self.daemons: dict[str, Daemon] = {}
        self.kills: list[tuple[str, float]] = []  # (daemon, wall time of its SIGKILL)
        self.pg_restarts: list[str] = []
        self.down: dict[str, float] = {}  # daemon -> when to start it again (monotonic)
        self.server_back: float | None = None  # when to start the stopped server again

    def start(self) -> None:
        self.server.start()
        self.url = self.server.fresh_url("chaos")
        for name in NAMES:
            d = Daemon(self.root / name, workers=self.workers, env={"QUEUECTL_DATABASE": self.url})
            self.daemons[name] = d.start("--name", name)
            if name == NAMES[0]:  # (the others read the settings at their start)
                for key, value in (("lease", LEASE), ("lease_renew", RENEW), ("backoff_base", 2),
                                   ("backoff_max", 0.05), ("kill_grace", 0.2), ("shutdown_grace", 1),
                                   ("synchronous", self.synchronous)):  # fmt: skip
                    d.call("config.set", {"key": key, "value": value})

    def kill_daemon(self, name: str, rng: random.Random) -> None:
        """SIGKILL; started again at once (it takes back its own jobs) or after its lease
        lapsed (another daemon rescues them first)."""
        self.kills.append((name, time.time()))
        self.daemons[name].kill9()
        self.down[name] = time.monotonic() + rng.choice((0.0, rng.uniform(LEASE + RENEW, LEASE + 3)))

    def restart_server(self, rng: random.Random) -> None:
        """`pg_ctl restart`, fast and immediate in turn; every other time the server stays
        away for longer than the lease (stop, a pause, start): the daemons fence."""
        n = len(self.pg_restarts)
        mode = ("fast", "immediate")[n % 2]
        if n % 4 < 2:
            self.server.pg_ctl("restart", "-m", mode, "-w", "-t", "60", "-l", str(self.server.log))
            self.pg_restarts.append(mode)
            return
        self.server.pg_ctl("stop", "-m", mode, "-w", "-t", "60")
        away = rng.uniform(LEASE + RENEW, LEASE + 2)
        self.server_back = time.monotonic() + away
        self.pg_restarts.append(f"{mode}, away {away:.1f}s")

    def bring_back(self) -> None:
        """The server and the daemons whose time to come back came (daemons only once the
        server is up: a daemon's start needs the database)."""
        now = time.monotonic()
        if self.server_back is not None and now >= self.server_back:
            self.server.start_again()
            self.server_back = None
        for name, at in list(self.down.items()):
            if now >= at and self.server_back is None:
                self.daemons[name].start("--name", name)
                del self.down[name]

    def live(self) -> list[str]:
        return [n for n in NAMES if n not in self.down]

    def check_alive(self) -> None:
        for name, d in self.daemons.items():
            if name not in self.down and d.proc is not None and d.proc.poll() is not None:
                raise AssertionError(f"daemon {name} exited by itself ({d.proc.returncode}):\n{d.log()[-3000:]}")

    def query(self, sql: str) -> list[tuple[Any, ...]] | None:
        """Rows, or None while the server is away."""
        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                return conn.execute(sql).fetchall()
        except psycopg.Error:
            return None

    def stop_daemons(self) -> list[str]:
        """Stop every daemon (SIGTERM); a daemon that does not exit 0 is named."""
        bad = []
        for name, d in self.daemons.items():
            try:
                rc: Any = d.stop(timeout=60)
            except Exception as exc:  # (stuck: killed, and said)
                with contextlib.suppress(Exception):
                    d.stop(signal.SIGKILL, timeout=10)
                rc = repr(exc)
            if rc != 0:
                bad.append(f"daemon {name} stopped with {rc}")
        return bad

    def stop(self) -> None:
        """Whatever happened: every daemon, then the server."""
        try:
            self.stop_daemons()
        finally:
            self.server.stop()


def plan(kills: int, daemon_kills: int, pg_restarts: int, rng: random.Random) -> list[tuple[float, str]]:
    """(progress fraction, what) in order: child, daemon or server."""
    return sorted([(at, "child") for at in chaos.kill_points(kills, rng)]
                  + [(at, "daemon") for at in chaos.kill_points(daemon_kills, rng)]
                  + [(at, "server") for at in chaos.kill_points(pg_restarts, rng)])  # fmt: skip


def strike(c: Cluster, total: int, todo: list[tuple[float, str]], rng: random.Random,
           timeout: float) -> tuple[Counter[str], float]:  # fmt: skip
    """Until every job is final: the planned strikes, each when the progress reaches it.
    Returns what was done, and the progress at the end: below 1 if nothing moved for
    STALL_S (the checks then say which jobs were left, and how)."""
    struck: Counter[str] = Counter()
    t0 = last_move = time.monotonic()
    last = -1
    while True:
        c.bring_back()
        c.check_alive()
        rows = c.query("SELECT count(*) FROM jobs WHERE state IN ('completed', 'dead', 'cancelled')")
        if rows is None:
            time.sleep(0.05)
            continue
        now = time.monotonic()
        if rows[0][0] != last or c.down or c.server_back is not None:
            last, last_move = rows[0][0], now
        done = last / total
        if (done >= 1.0 or now - last_move > STALL_S) and not c.down:
            return struck, done
        if now - t0 > timeout:
            raise AssertionError(f"the queue did not drain within {timeout}s ({done:.1%})")
        if todo and done >= todo[0][0] and strike_one(c, todo[0][1], rng):
            struck[todo.pop(0)[1]] += 1
        time.sleep(rng.uniform(0.01, 0.1))


def strike_one(c: Cluster, what: str, rng: random.Random) -> bool:
    """False if it cannot be done now: a child or a daemon is struck on a live daemon, and
    one daemon is always left live; the server is restarted only when it is up."""
    live = c.live()
    if what == "daemon" and len(live) > 1:
        c.kill_daemon(rng.choice(live), rng)
    elif what == "server" and c.server_back is None:
        c.restart_server(rng)
    elif what == "child" and live:
        return chaos.kill_a_child(c.daemons[rng.choice(live)], rng)
    else:
        return False
    return True


def check_counts(c: Cluster, violations: list[str]) -> None:
    """Every daemon's status counts what the database holds (within its poll)."""
    rows = c.query("SELECT state, count(*) FROM jobs GROUP BY state") or []
    want = {s: n for s, n in rows}
    for name, d in c.daemons.items():
        def same(d: Daemon = d) -> bool:
            counts = d.call("daemon.status", timeout=5)["counts"]
            return {s: n for s, n in counts.items() if n} == want

        try:
            wait_for(same, 10, interval=0.2, what=f"daemon {name}'s counts")
        except AssertionError:
            violations.append(f"daemon {name} counts {d.call('daemon.status')['counts']}, the database {want}")


def read_beats(path: Path) -> dict[tuple[str, int], list[float]]:
    found: dict[tuple[str, int], list[float]] = defaultdict(list)
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3:
                found[(parts[0], int(parts[1]))].append(float(parts[2]))
    return found


def check_beats(beats: dict[tuple[str, int], list[float]], jobs: dict[str, tuple],
                attempts: dict[int, list[tuple]], kills: list[tuple[str, float]],
                violations: list[str]) -> None:  # fmt: skip
    """The runs of the processes themselves: never two of one job at once, none after its
    daemon's SIGKILL, each inside its attempt's recorded window: from its start (its claim,
    if the start was never confirmed) to its end. A worker lost is the one exception at the
    end: its daemon closes the attempt with its turn's time, then kills what the job left
    in that same turn, a few ms later; such a run must end before the next attempt starts."""
    by_job: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    for (job_id, n), times in beats.items():
        rows = [a for a in attempts.get(jobs[job_id][2], []) if a[1] == n] if job_id in jobs else []
        if not rows:
            violations.append(f"{job_id}: beats of attempt {n}, which has no row")
            continue
        a = rows[0]
        since = a[2] if a[2] is not None else a[11]  # (unconfirmed start: from its claim)
        until = a[3] if not (a[5] or "").startswith("worker lost") else float("inf")
        if min(times) < since - BEAT_SLACK_S or a[3] is None or max(times) > until + BEAT_SLACK_S:
            violations.append(f"{job_id}: attempt {n} ran {min(times):.3f}..{max(times):.3f} outside its "
                              f"recorded {since}..{a[3]} (daemon {a[10]}, {a[5]})")  # fmt: skip
        for name, killed in kills:
            if a[10] == name and (a[2] or a[11]) < killed and max(times) > killed + PDEATHSIG_S:
                violations.append(f"{job_id}: attempt {n} on {name} ran {max(times) - killed:.3f}s past "
                                  "its daemon's SIGKILL")  # fmt: skip
        by_job[job_id].append((n, min(times), max(times)))
    for job_id, runs in by_job.items():
        runs.sort()
        for (n, _, end), (m, start, _) in zip(runs, runs[1:], strict=False):
            if start <= end:
                violations.append(f"{job_id}: attempts {n} and {m} ran at once ({end - start:.3f}s)")


def check(c: Cluster, specs: list[dict[str, Any]], marker: str, beats_path: Path) -> dict[str, Any]:
    """Every invariant, from PostgreSQL, the daemons' log segments and /proc."""
    violations: list[str] = []
    check_counts(c, violations)
    violations += c.stop_daemons()
    with psycopg.connect(c.url, autocommit=True) as db:
        jobs, attempts = chaos.read_rows(db)
        per_daemon = dict(db.execute("SELECT daemon, count(*) FROM attempts GROUP BY daemon ORDER BY daemon"))
    logs = {name: d.paths.logs_dir for name, d in c.daemons.items()}
    chaos.check_jobs(specs, jobs, attempts, lambda a: chaos.read_output(logs[a[10]], a), violations,
                     chaos.SUCCEEDS | {"beat"})  # fmt: skip
    beats = read_beats(beats_path)
    check_beats(beats, jobs, attempts, c.kills, violations)
    if len(jobs) != len(specs):
        violations.append(f"{len(jobs)} jobs in the database, {len(specs)} enqueued")
    states = Counter(r[1] for r in jobs.values())
    if set(per_daemon) != set(NAMES):
        violations.append(f"attempts per daemon: {per_daemon}")
    chaos.check_processes(marker, violations)
    events = Counter(e.get("event") for d in c.daemons.values() for e in d.log_events() if e.get("event") in EVENTS)
    return {"states": dict(states), **chaos.attempt_counts(attempts), "attempts_per_daemon": per_daemon,
            "beat_runs": len(beats), "events": dict(sorted(events.items())), "violations": violations}  # fmt: skip


def run(jobs: int, kills: int, daemon_kills: int, pg_restarts: int, workers: int = 2, seed: int = 1,
        root: Path | None = None, timeout: float = 3600, synchronous: str = "FULL") -> dict[str, Any]:  # fmt: skip
    rng = random.Random(seed)
    root = root or Path(tempfile.mkdtemp(prefix="queuectl-chaos-cluster-"))
    marker = f"chaos-{os.getpid()}-{time.monotonic_ns()}"
    beats = root / "beats.txt"
    kinds = {**chaos.KINDS, "beat": (5, beat_command(beats), {"max_retries": 20})}
    specs = chaos.make_jobs(jobs, marker, rng, kinds)
    c = Cluster(root, workers, synchronous)
    try:
        c.start()
        for i, start in enumerate(range(0, len(specs), 500)):  # (in order: a job's parents are in already)
            c.daemons[NAMES[i % len(NAMES)]].call("job.enqueue_many", {"jobs": specs[start : start + 500]})
        t0 = time.monotonic()
        struck, done = strike(c, jobs, plan(kills, daemon_kills, pg_restarts, rng), rng, timeout)
        elapsed = time.monotonic() - t0
        report = check(c, specs, marker, beats)
    finally:
        c.stop()
    if done < 1.0:
        report["violations"].append(f"stalled at {done:.1%}: no job became final for {STALL_S:.0f}s")
    report.update(jobs=jobs, child_kills=struck["child"], daemon_kills=struck["daemon"],
                  pg_restarts=c.pg_restarts, seconds=round(elapsed, 1), synchronous=synchronous,
                  home=str(root))  # fmt: skip
    kills_total = struck["child"] + struck["daemon"]
    report["extra_runs_per_kill"] = round(report["extra_runs"] / kills_total, 2) if kills_total else 0
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--kills", type=int, default=30, help="SIGKILLs of worker children (of any daemon)")
    parser.add_argument("--daemon-kills", type=int, default=6, help="SIGKILLs of a daemon (started again)")
    parser.add_argument("--pg-restarts", type=int, default=3, help="PostgreSQL restarts (fast, immediate, ...)")
    parser.add_argument("--workers", type=int, default=2, help="worker children per daemon")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL")
    args = parser.parse_args(argv)
    report = run(args.jobs, args.kills, args.daemon_kills, args.pg_restarts, args.workers, args.seed,
                 synchronous=args.synchronous)  # fmt: skip
    print(json.dumps(report, indent=2))
    return 1 if report["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
