"""The raw spawn limit: processes that do nothing but `subprocess.run("true", shell=True)`.

This is the ceiling for any queue that runs each job as `sh -c CMD` from Python:
the drain rate of queuectl is reported as a fraction of it. Run as
`python -m benchmarks.spawn SECONDS` it loops for that long and prints its count.
"""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks.util import bench_env


def spin(seconds: float) -> int:
    """Spawn `sh -c true` in a loop for `seconds`; the number of runs."""
    n = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        subprocess.run("true", shell=True, check=True)
        n += 1
    return n


def raw_rate(processes: int, seconds: float) -> tuple[float, float]:
    """Jobs/s of `processes` spawner processes running side by side for `seconds`, and the
    spawners' own CPU time per job in µs (the Python side of a spawn, not `sh`'s)."""
    procs = [
        subprocess.Popen([sys.executable, "-m", "benchmarks.spawn", str(seconds)],
                         stdout=subprocess.PIPE, env=bench_env())  # fmt: skip
        for _ in range(processes)
    ]
    total = cpu = 0.0
    jobs = 0
    for proc in procs:
        out, _ = proc.communicate(timeout=seconds + 60)
        if proc.returncode != 0:
            raise RuntimeError(f"spawner exited {proc.returncode}")
        count, elapsed, used = out.split()
        total += int(count) / float(elapsed)
        jobs += int(count)
        cpu += float(used)
    return total, cpu / jobs * 1e6


def main() -> None:
    seconds = float(sys.argv[1])
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    n = spin(seconds)
    print(n, time.perf_counter() - t0, time.process_time() - cpu0)


if __name__ == "__main__":
    main()
