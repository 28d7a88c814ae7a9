"""Dispatch: each idle worker child gets the best runnable job.

The rule users rely on: a free worker always takes the highest-priority runnable
job, and no job waits behind a running one while a worker is idle. So a child is
sent a job only when the daemon knows it is idle, one at a time: a job held
behind a running one would wait while another worker idles, or run before a
higher-priority job that arrived meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queuectl import jobs as J
from queuectl.daemon import wire
from queuectl.daemon.lifecycle import Lifecycle
from queuectl.daemon.output import TurnOutput
from queuectl.daemon.store.interface import Storage
from queuectl.daemon.windows import RunnableWindow
from queuectl.daemon.workers import Workers


def dispatch(store: Storage, runnable: RunnableWindow, workers: Workers, lifecycle: Lifecycle,
             out: TurnOutput, config: Mapping[str, Any], now: float) -> None:  # fmt: skip
    if not store.counts[J.PENDING]:
        return
    for child in workers.idle():
        job = runnable.pop()
        if job is None:
            return
        flight = lifecycle.claim(job, child.id, now)
        out.send(child.id, wire.Run(job.seq, flight.attempt, job.id, job.command, job.timeout,
                                    job.cwd, job.env, config["kill_grace"]))  # fmt: skip
