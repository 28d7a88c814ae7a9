"""The measurements. Each takes a running BenchDaemon and returns figures {key: number}."""

from __future__ import annotations

import random
import secrets
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zmq

from benchmarks.daemon import BenchDaemon, Pipeline
from benchmarks.echo import Echo
from benchmarks.util import cpu_seconds, median, percentile, wall_ms
from queuectl import jobs as J
from queuectl.client.rpc import RpcClient

TRUE_JOB: dict[str, Any] = {"command": "true"}
IDLE_GAP_S = (0.25, 0.75)  # issue 14's "from idle": seconds before each pickup, random in this range
CHUNK = 1000


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much work each part does (--quick shrinks these)."""

    drain_jobs: int = 10_000
    single_enqueue_jobs: int = 5_000
    pickup_jobs: int = 200
    pickup_gap_s: tuple[float, float] = IDLE_GAP_S
    schedule_jobs: int = 200
    schedule_spread_s: float = 4.0
    spawn_seconds: float = 3.0
    cli_repeat: int = 20
    cli_loop_jobs: int = 1_000
    rpc_repeat: int = 50
    memory_jobs: int = 100_000
    stored_jobs: int = 1_000_000


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _p(samples: list[float], prefix: str) -> dict[str, float]:
    return {f"{prefix}_p50_ms": percentile(samples, 50), f"{prefix}_p99_ms": percentile(samples, 99)}


def _tag() -> str:
    return secrets.token_hex(3)


# --- pickup latency ---------------------------------------------------------------------


def pickup(d: BenchDaemon, n: int, gap_s: tuple[float, float] = IDLE_GAP_S) -> dict[str, float]:
    """One job at a time onto an idle child, each after an idle gap (random in `gap_s`,
    so no timer of the daemon's lines up with it): enqueue -> start, enqueue -> client sees
    it done; and, after a gap of its own before every other job, one daemon.status.

    Three views of the same jobs:
    - start: the daemon's own times from job.get, created_at -> attempt 1 started_at;
    - started event: client clock, enqueue sent -> `job.started` event received;
    - completed: client clock, enqueue sent -> job.wait reply received.
    """
    tag = _tag()
    rng = random.Random(n)
    with Echo() as echo:
        pipe = Pipeline(d.paths, topics=("job.started",))
        try:
            time.sleep(0.2)  # the SUB connection settles (events before that are lost)
            _one_job(pipe, f"warmup-{tag}", need_started=False)
            ids, event_ms, done_ms, status_ms, echo_ms = [], [], [], [], []
            for i in range(n):
                if i % 2:  # (each probe after an idle gap of its own)
                    time.sleep(rng.uniform(*gap_s))
                    t0 = time.perf_counter()
                    d.client.call("daemon.status")
                    status_ms.append(_ms(time.perf_counter() - t0))
                    time.sleep(rng.uniform(*gap_s))
                    echo_ms.append(echo.round_trip_ms())
                time.sleep(rng.uniform(*gap_s))
                job_id = f"pickup-{tag}-{i}"
                t0 = time.perf_counter()
                started, finished = _one_job(pipe, job_id)
                ids.append(job_id)
                event_ms.append(_ms(started - t0))
                done_ms.append(_ms(finished - t0))
            echo_warm = [echo.round_trip_ms() for _ in range(200)]
        finally:
            pipe.close()
    start_ms = []
    resolution = 0.0
    for job_id in ids:
        job = d.call("job.get", {"id": job_id})
        created, started_at = job["created_at"], job["attempts_detail"][0]["started_at"]
        resolution = max(resolution, time_resolution_us(created), time_resolution_us(started_at))
        start_ms.append(_ms(J.parse_time(started_at) - J.parse_time(created)))
    return {
        **_p(start_ms, "pickup.start"),
        **_p(event_ms, "pickup.started_event"),
        **_p(done_ms, "pickup.completed"),
        **_p(status_ms, "pickup.status"),
        **_p(echo_ms, "pickup.echo"),
        "pickup.echo_warm_p50_ms": percentile(echo_warm, 50),
        "pickup.jobs": float(len(ids)),
        "pickup.gap_min_s": gap_s[0],
        "pickup.gap_max_s": gap_s[1],
        "pickup.time_resolution_us": resolution,
    }


def time_resolution_us(iso: str) -> float:
    """The resolution of an ISO time the daemon gave: 1 for microseconds, 1000 for ms."""
    head = iso.rstrip("Z").split("+")[0]
    digits = len(head.split(".")[1]) if "." in head else 0
    return 10.0 ** (6 - digits)


def _one_job(pipe: Pipeline, job_id: str, need_started: bool = True) -> tuple[float, float]:
    """Enqueue a `true` job and job.wait for it, pipelined; (started event, wait reply) times."""
    pipe.send("job.enqueue", {**TRUE_JOB, "id": job_id})
    wait_id = pipe.send("job.wait", {"id": job_id, "timeout": 30})
    started = finished = None
    deadline = time.monotonic() + 30
    while (need_started and started is None) or finished is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} did not start and finish within 30s")
        for kind, doc, t in pipe.poll(1.0):
            if kind == "event" and doc.get("job_id") == job_id and started is None:
                started = t
            elif kind == "reply" and doc.get("id") == wait_id:
                if doc["result"]["job"]["state"] != "completed":
                    raise RuntimeError(f"job {job_id} ended {doc['result']['job']['state']}")
                finished = t
    return started or finished, finished


# --- schedule precision -------------------------------------------------------------------


def schedule(d: BenchDaemon, n: int, spread_s: float) -> dict[str, float]:
    """Jobs with run_at spread over a few seconds: attempt started_at - run_at (job.get)."""
    tag = _tag()
    rng = random.Random(5)
    base = time.time() + 1.0  # lead time: every job is in before the first is due
    slot = spread_s / n
    run_at: dict[str, float] = {}
    jobs = []
    for i in range(n):
        t = base + i * slot + rng.uniform(0, slot / 2)
        iso = datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds")
        job_id = f"sched-{tag}-{i}"
        run_at[job_id] = J.parse_time(iso)  # exactly what the daemon parses
        jobs.append({**TRUE_JOB, "id": job_id, "run_at": iso})
    d.call("job.enqueue_many", {"jobs": jobs})
    if time.time() > base:
        raise RuntimeError("enqueueing the scheduled jobs took longer than their lead time")
    last = max(run_at, key=run_at.__getitem__)
    d.call("job.wait", {"id": last, "timeout": spread_s + 30}, timeout=spread_s + 40)
    d.wait_idle()
    late_ms = []
    for job_id in run_at:
        job = d.call("job.get", {"id": job_id})
        late_ms.append(_ms(J.parse_time(job["attempts_detail"][0]["started_at"]) - run_at[job_id]))
    return {**_p(late_ms, "schedule.late"), "schedule.jobs": float(len(late_ms))}


# --- enqueue ------------------------------------------------------------------------------


def enqueue_single(d: BenchDaemon, n: int) -> float:
    """job.enqueue, one request per job from one client, workers at 0; jobs/s.
    The jobs are then run (untimed) so the next part starts from an idle queue."""
    d.scale(0)
    client = d.client
    t0 = time.perf_counter()
    for _ in range(n):
        client.call("job.enqueue", TRUE_JOB)
    rate = n / (time.perf_counter() - t0)
    d.scale(2, wait_ready=True)
    d.wait_idle()
    return rate


def enqueue_many(d: BenchDaemon, n: int) -> tuple[float, str]:
    """job.enqueue_many in chunks of 1,000; (jobs/s, id of the last job)."""
    t0 = time.perf_counter()
    last = ""
    for start in range(0, n, CHUNK):
        result = d.call("job.enqueue_many", {"jobs": [TRUE_JOB] * min(CHUNK, n - start)})
        last = result["ids"][-1]
    return n / (time.perf_counter() - t0), last


# --- status and list times ---------------------------------------------------------------------


def rpc_ms(client: RpcClient, method: str, params: Any, repeat: int) -> float:
    """Median RPC round trip in ms (persistent client, as a script or the dashboard has)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        client.call(method, params)
        times.append(_ms(time.perf_counter() - t0))
    return median(times)


def status_and_list(d: BenchDaemon, rpc_repeat: int, cli_repeat: int, prefix: str) -> dict[str, float]:
    env, cwd = d.target.env(), d.target.cwd
    qc = [*d.target.queuectl_argv(), "--home", str(d.home)]
    listing = {"state": "pending", "limit": 50}
    return {
        f"{prefix}.rpc_status_ms": rpc_ms(d.client, "daemon.status", None, rpc_repeat),
        f"{prefix}.rpc_list_pending_ms": rpc_ms(d.client, "job.list", listing, rpc_repeat),
        f"{prefix}.cli_status_ms": wall_ms([*qc, "status"], env, cli_repeat, cwd),
        f"{prefix}.cli_list_pending_ms": wall_ms([*qc, "list", "--state", "pending", "--limit", "50"],
                                                 env, cli_repeat, cwd),  # fmt: skip
    }


def cli(d: BenchDaemon, repeat: int, loop_jobs: int) -> dict[str, float]:
    """Wall time of CLI calls against `python -c pass` from the same environment (the
    target's console script and interpreter); the three commands take turns, so a noisy
    moment on the machine hits them alike. Then the two ways to enqueue from a shell loop."""
    env, cwd = d.target.env(), d.target.cwd
    qc = [*d.target.queuectl_argv(), "--home", str(d.home)]
    commands = {
        "cli.python_pass_ms": [d.target.python, "-c", "pass"],
        "cli.status_ms": [*qc, "status"],
        "cli.enqueue_ms": [*qc, "enqueue", "--", "true"],
    }
    times: dict[str, list[float]] = {key: [] for key in commands}
    for _ in range(repeat):
        for key, argv in commands.items():
            times[key].append(wall_ms(argv, env, 1, cwd))
    d.wait_idle()
    figs = {key: median(values) for key, values in times.items()}
    figs["cli.status_vs_python"] = figs["cli.status_ms"] / figs["cli.python_pass_ms"]
    figs["cli.enqueue_vs_python"] = figs["cli.enqueue_ms"] / figs["cli.python_pass_ms"]
    figs.update(cli_loops(d, loop_jobs))
    return figs


FILE_REPEAT = 3  # the piped form is one CLI call: its median of a few


def cli_loops(d: BenchDaemon, n: int) -> dict[str, float]:
    """A shell loop of n `queuectl enqueue -- true`, and the same n jobs as NDJSON piped
    into one `queuectl enqueue --file -` (docs/cli.md, "Enqueueing in a loop"; that one
    FILE_REPEAT times, the median kept); seconds per 1,000 jobs. The workers are at 0
    meanwhile (the CPUs go to the CLI, not to running the jobs); the jobs are run
    afterwards, untimed."""
    env, cwd = d.target.env(), d.target.cwd
    qc = shlex.join([*d.target.queuectl_argv(), "--home", str(d.home)])
    loop = f"for i in $(seq {n}); do {qc} enqueue -- true >/dev/null || exit 1; done"
    piped = f"for i in $(seq {n}); do echo '{{\"command\":\"true\"}}'; done | {qc} enqueue --file - >/dev/null"
    d.scale(0)
    before = d.counts()["pending"]
    seconds: dict[str, list[float]] = {"cli.loop_per_1000_s": [], "cli.file_per_1000_s": []}
    for key, script in (("cli.loop_per_1000_s", loop), *(("cli.file_per_1000_s", piped),) * FILE_REPEAT):
        t0 = time.perf_counter()
        proc = subprocess.run(["sh", "-c", script], env=env, cwd=cwd, capture_output=True)
        seconds[key].append((time.perf_counter() - t0) * 1000 / n)
        if proc.returncode != 0:
            raise RuntimeError(f"{script!r} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    enqueued = d.counts()["pending"] - before
    if enqueued != (1 + FILE_REPEAT) * n:
        raise RuntimeError(f"the loops enqueued {enqueued} jobs, not {(1 + FILE_REPEAT) * n}")
    d.scale(2, wait_ready=True)
    d.wait_idle()
    return {key: median(values) for key, values in seconds.items()} | {"cli.loop_jobs": float(n)}


# --- drain --------------------------------------------------------------------------------------


@dataclass(slots=True)
class DrainResult:
    enqueue_many_jobs_s: float
    drain_jobs_s: float
    first_start_s: float  # scale-up -> first job.started event (children starting)
    daemon_cpu_us: float  # daemon CPU time per job drained
    children_cpu_us: float  # worker children's own CPU time per job (not their `sh` processes')
    listing: dict[str, float]


def drain(d: BenchDaemon, n: int, rpc_repeat: int, cli_repeat: int, prefix: str,
          profile_dir: Path | None = None) -> DrainResult:  # fmt: skip
    """N `true` jobs enqueued with the workers at 0, then scale to 2: jobs/s until all completed.

    The end is seen by a job.wait on the last job (no polling), then daemon.status (polled
    every 50 ms only if anything is still unfinished)."""
    d.scale(0)
    many_rate, last = enqueue_many(d, n)
    listing = status_and_list(d, rpc_repeat, cli_repeat, prefix)  # with N jobs pending
    pipe = Pipeline(d.paths, topics=("job.started",))
    time.sleep(0.2)  # the SUB connection settles
    profilers: list[subprocess.Popen[bytes]] = []
    if profile_dir is not None:
        profilers.append(_py_spy(d.pid, profile_dir / f"{prefix}-daemon.txt"))
    try:
        cpu0 = cpu_seconds(d.pid)
        t_up = time.perf_counter()
        scaled = d.call("workers.scale", {"count": 2})
        wait_id = pipe.send("job.wait", {"id": last, "timeout": None})
        # (A daemon may spawn the children after answering: they are listed once a job started.)
        children = scaled["children"]
        first: float | None = None
        done = False
        while not done:
            for kind, doc, t in pipe.poll(5.0):
                if kind == "event" and first is None:
                    first = t
                    pipe.sub.setsockopt(zmq.UNSUBSCRIBE, b"job.started")
                    children = children or d.call("workers.status")["children"]
                    for child in children if profile_dir is not None else ():
                        profilers.append(_py_spy(child["pid"], profile_dir / f"{prefix}-child{child['child']}.txt"))
                elif kind == "reply" and doc.get("id") == wait_id:
                    done = True
        while any(d.counts().get(s) for s in ("pending", "assigned", "processing")):
            time.sleep(0.05)
        t_end = time.perf_counter()
        daemon_cpu = cpu_seconds(d.pid) - cpu0
        children_cpu = sum(cpu_seconds(c["pid"]) for c in children)
    finally:
        pipe.close()
        for prof in profilers:
            _stop_py_spy(prof)
    assert first is not None
    return DrainResult(many_rate, n / (t_end - t_up), first - t_up, daemon_cpu / n * 1e6,
                       children_cpu / n * 1e6, listing)  # fmt: skip


def _py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """`py-spy record` (collapsed stacks, 200 Hz) on pid until stopped."""
    spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "--rate", "200", "--format", "raw",
         "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _stop_py_spy(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- memory ------------------------------------------------------------------------------------


def process_until(d: BenchDaemon, total: int) -> int:
    """Run `true` jobs (workers running) until the daemon has completed `total` in all;
    returns how many it has completed."""
    missing = total - d.counts()["completed"]
    last = ""
    for start in range(0, max(missing, 0), CHUNK):
        last = d.call("job.enqueue_many", {"jobs": [TRUE_JOB] * min(CHUNK, missing - start)})["ids"][-1]
    if last:
        d.call("job.wait", {"id": last, "timeout": None}, timeout=3600)
    d.wait_idle()
    return d.counts()["completed"]


def db_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())
