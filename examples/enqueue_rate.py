"""Measure enqueue throughput: job.enqueue one request per job, and job.enqueue_many
in chunks of 1,000, from one client. Median of 3 runs each, on a fresh daemon.

    python examples/enqueue_rate.py [--jobs 5000] [--runs 3]

Starts its own daemon in a temporary home with 0 workers (so only enqueueing is
measured; nothing runs), and stops it at the end.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from queuectl import paths as qpaths
from queuectl.client.rpc import RpcClient


def start_daemon(home: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "queuectl", "--home", str(home), "daemon", "--workers", "0",
         "--log-format", "json", "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    sock = qpaths.for_home(home).socket
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if sock.exists():
            try:
                RpcClient(sock, timeout=1).call("daemon.status")
                return proc
            except Exception:
                pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("daemon did not come up")


def one_per_request(client: RpcClient, n: int, tag: str) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        client.call("job.enqueue", {"id": f"{tag}-{i}", "command": "true"})
    return n / (time.perf_counter() - t0)


def many(client: RpcClient, n: int, tag: str, chunk: int = 1000) -> float:
    jobs = [{"id": f"{tag}-{i}", "command": "true"} for i in range(n)]
    t0 = time.perf_counter()
    for start in range(0, n, chunk):
        client.call("job.enqueue_many", {"jobs": jobs[start : start + chunk]})
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--many-jobs", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        proc = start_daemon(home)
        try:
            with RpcClient(qpaths.for_home(home).socket, timeout=30) as client:
                single = [one_per_request(client, args.jobs, f"s{r}") for r in range(args.runs)]
                batched = [many(client, args.many_jobs, f"m{r}") for r in range(args.runs)]
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"job.enqueue, one request per job ({args.jobs} jobs/run): "
          f"median {statistics.median(single):,.0f} jobs/s  runs: {', '.join(f'{r:,.0f}' for r in single)}")
    print(f"job.enqueue_many, chunks of 1000 ({args.many_jobs} jobs/run): "
          f"median {statistics.median(batched):,.0f} jobs/s  runs: {', '.join(f'{r:,.0f}' for r in batched)}")


if __name__ == "__main__":
    main()
