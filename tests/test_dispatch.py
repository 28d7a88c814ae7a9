"""The dispatch rule users rely on: a free worker always takes the highest-priority
runnable job, and no job waits behind a running one while a worker is idle."""

from __future__ import annotations

import threading
import time

from queuectl import jobs as J
from tests.conftest import Daemon, wait_for


def started_at(daemon: Daemon, job_id: str) -> float:
    return J.parse_time(daemon.job(job_id)["attempts_detail"][-1]["started_at"])


def test_a_job_never_waits_behind_a_running_one_while_a_worker_is_idle(make_daemon) -> None:
    daemon = make_daemon(workers=2)
    # All arrive together: a daemon that hands each worker two at once (while the
    # backlog looks deep) puts "victim" behind the long job on the first worker.
    daemon.call("job.enqueue_many", {"jobs": [
        {"id": "long", "command": "sleep 30"},
        {"id": "short1", "command": "true"},
        {"id": "victim", "command": "sleep 0.2"},
        {"id": "short2", "command": "true"},
        {"id": "short3", "command": "true"},
        {"id": "short4", "command": "true"},
    ]})  # fmt: skip
    t0 = time.time()
    job = daemon.wait_state("victim", "completed", timeout=10)
    assert J.parse_time(job["attempts_detail"][0]["started_at"]) - t0 < 3.0
    daemon.call("job.cancel", {"id": "long"})


def test_a_high_priority_job_overtakes_low_ones_handed_out_earlier(make_daemon) -> None:
    daemon = make_daemon(workers=2)
    # Both workers ready first: with one, busy2 and the low jobs would start on the second
    # as it comes up, before `urgent` exists.
    wait_for(lambda: sum(c["ready"] for c in daemon.call("workers.status")["children"]) == 2,
             what="both workers to be ready")  # fmt: skip
    daemon.call("job.enqueue_many", {"jobs": [
        {"id": "busy1", "command": "sleep 2"},
        {"id": "busy2", "command": "sleep 4"},  # frees later: the first free worker decides
        {"id": "low1", "command": "true"},
        {"id": "low2", "command": "true"},
        {"id": "low3", "command": "true"},
        {"id": "low4", "command": "true"},
    ]})  # fmt: skip
    daemon.wait_state("busy1", "processing")
    daemon.wait_state("busy2", "processing")
    daemon.enqueue("true", id="urgent", priority=100)
    assert daemon.job("busy1")["state"] == "processing"  # (it arrived while both were busy)
    for job_id in ("low1", "low2", "urgent"):
        daemon.wait_state(job_id, "completed", timeout=15)
    assert started_at(daemon, "urgent") < started_at(daemon, "low1")
    assert started_at(daemon, "urgent") < started_at(daemon, "low2")


def test_processing_never_exceeds_the_number_of_workers(make_daemon) -> None:
    daemon = make_daemon(workers=2)
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        from queuectl.client.rpc import RpcClient

        with RpcClient(daemon.paths.socket) as client:
            while not stop.is_set():
                seen.append(client.call("daemon.status")["counts"]["processing"])
                time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        daemon.call("job.enqueue_many", {"jobs": [{"command": "sleep 0.3"} for _ in range(12)]})
        daemon.wait_all_final(timeout=30)
    finally:
        stop.set()
        watcher.join()
    assert seen and max(seen) <= 2, max(seen)


def test_the_original_priority_scenario_with_one_worker_busy(make_daemon) -> None:
    """QueueCTL's test script: one worker busy, then a high, a low and a middle priority
    job (and the same three in another order); they must run high, middle, low."""
    daemon = make_daemon(workers=1)
    for round_, order in enumerate((("high", "low", "mid"), ("low", "mid", "high"))):
        daemon.enqueue("sleep 1", id=f"busy{round_}")
        daemon.wait_state(f"busy{round_}", "processing")
        priority = {"high": 10, "mid": 5, "low": 1}
        for name in order:
            daemon.enqueue("true", id=f"{name}{round_}", priority=priority[name])
        ids = [f"{name}{round_}" for name in ("high", "mid", "low")]
        for job_id in ids:
            daemon.wait_state(job_id, "completed", timeout=15)
        assert sorted(ids, key=lambda j: started_at(daemon, j)) == ids, order
