"""Small helpers: clocks, percentiles, process facts."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def percentile(values: Sequence[float], pct: float) -> float:
    """The pct-th percentile (0..100) by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB, from /proc/PID/status (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used itself (not its children), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_env(pythonpath: bool = True, **extra: str) -> dict[str, str]:
    """The environment for processes the harness starts: never autostart a daemon,
    never talk to systemd, never take the fast path's off switch from the caller, and
    (pythonpath) find this `benchmarks` package and this tree's queuectl. Without
    pythonpath, PYTHONPATH is removed: a target installed elsewhere (--compare) must
    import its own queuectl."""
    env = {k: v for k, v in os.environ.items() if k not in ("QUEUECTL_HOME", "QUEUECTL_SOCKET",
                                                             "NOTIFY_SOCKET", "WATCHDOG_USEC",
                                                             "QUEUECTL_FAST_PATH", "PYTHONPATH")}  # fmt: skip
    env["QUEUECTL_NO_AUTOSTART"] = "1"
    if pythonpath:
        path = os.environ.get("PYTHONPATH")
        env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + path if path else "")
    env.update(extra)
    return env


def wall_ms(argv: list[str], env: dict[str, str], repeat: int, cwd: str | None = None) -> float:
    """Median wall time of running argv to completion, in ms (it must exit 0)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, cwd=cwd)
        times.append((time.perf_counter() - t0) * 1000)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    return median(times)
