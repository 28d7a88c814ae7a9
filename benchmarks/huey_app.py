"""The Huey side of `--peers huey`: SqliteHuey, one task that runs `true` like a queuectl job.

Imported by the harness and by `huey_consumer benchmarks.huey_app.huey`; the database
path comes from QUEUECTL_BENCH_HUEY_DB (both processes must agree on it).
"""

from __future__ import annotations

import os
import subprocess

from huey import SqliteHuey  # type: ignore[import-untyped]

huey = SqliteHuey("bench", filename=os.environ.get("QUEUECTL_BENCH_HUEY_DB", "huey-bench.db"))


@huey.task()
def run_true() -> int:
    subprocess.run("true", shell=True, check=False)
    return 1  # a result is stored, so the harness can count finished tasks
