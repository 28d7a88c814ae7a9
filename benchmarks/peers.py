"""Peers measured in the same run, on the same machine, with the same `true` job.

Huey: SqliteHuey (its defaults: WAL, SQLite's default synchronous) and a consumer with
2 process workers (`-w 2 -k process`, other options at their defaults, so an idle
worker polls the queue with backoff from 0.1 s up to 10 s). Huey is not a dependency
of queuectl; install it into the environment for the benchmark only.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.util import bench_env, percentile

PEERS = ("huey",)
INSTALL_HINT = {"huey": f"{sys.executable} -m pip install huey"}


def missing(peer: str) -> bool:
    return importlib.util.find_spec(peer) is None


class HueyConsumer:
    def __init__(self, db: Path, log: Path):
        self.db = db
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "huey.bin.huey_consumer", "benchmarks.huey_app.huey",
                 "-w", "2", "-k", "process"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=bench_env(QUEUECTL_BENCH_HUEY_DB=str(self.db)),
            )  # fmt: skip

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def huey(workdir: Path, jobs: int, single_jobs: int, pickup_jobs: int) -> dict[str, float]:
    """Huey's enqueue (one call per task), drain (from consumer start) and pickup latency."""
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "huey.db"
    os.environ["QUEUECTL_BENCH_HUEY_DB"] = str(db)
    from benchmarks import huey_app

    # The module reads the variable when it runs: again for each run, so a second
    # run does not count tasks in the first run's database.
    huey_app = importlib.reload(huey_app)

    app = huey_app.huey
    app.flush()
    t0 = time.perf_counter()
    for _ in range(single_jobs):
        huey_app.run_true()
    single_rate = single_jobs / (time.perf_counter() - t0)
    app.flush()  # the drain below counts its own tasks only
    for _ in range(jobs):
        huey_app.run_true()
    consumer = HueyConsumer(db, workdir / "huey-consumer.log")
    try:
        t_up = time.perf_counter()
        consumer.start()
        deadline = time.monotonic() + 600
        while app.result_count() < jobs:
            if time.monotonic() > deadline or (consumer.proc and consumer.proc.poll() is not None):
                raise RuntimeError(f"the Huey consumer did not finish; see {consumer.log}")
            time.sleep(0.05)
        drain_rate = jobs / (time.perf_counter() - t_up)
        app.flush()
        latencies = []
        for _ in range(pickup_jobs):
            t0 = time.perf_counter()
            result = huey_app.run_true()
            while result.get(preserve=True) is None:
                time.sleep(0.0005)
            latencies.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.01)
    finally:
        consumer.stop()
    return {
        "peer.huey.enqueue_single_jobs_s": single_rate,
        "peer.huey.drain_jobs_s": drain_rate,
        "peer.huey.completed_p50_ms": percentile(latencies, 50),
        "peer.huey.completed_p99_ms": percentile(latencies, 99),
    }
