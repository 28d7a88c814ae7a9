"""Crash recovery: a killed child, a killed daemon. Nothing lost, nothing run twice at once."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from queuectl import jobs as J
from tests.conftest import pids_with_marker, process_alive, wait_for


def attempts_overlap(attempts: list[dict]) -> bool:
    spans = sorted((J.parse_time(a["started_at"]), J.parse_time(a["finished_at"]))
                   for a in attempts if a["started_at"])  # fmt: skip
    return any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


def test_a_killed_child_fails_the_attempt_and_is_replaced(make_daemon, tmp_path: Path) -> None:
    d = make_daemon(workers=2)
    d.call("config.set", {"key": "backoff_base", "value": 1})
    flag = tmp_path / "second-time"
    m = f"qtest-child-{os.getpid()}-{time.monotonic_ns()}"
    d.enqueue(f"if [ -f {flag} ]; then echo ok; else touch {flag}; sleep 60 # {m}\nfi",
              id="victim", max_retries=2)  # fmt: skip
    wait_for(lambda: pids_with_marker(m), what="the job to run")
    wait_for(lambda: d.job("victim")["attempts_detail"][0]["started_at"], what="started report")
    status = d.call("workers.status")
    child = next(c for c in status["children"] if c["job"] and c["job"]["job_id"] == "victim")
    os.kill(child["pid"], signal.SIGKILL)
    job = d.wait_state("victim", "completed", timeout=20)
    first, second = job["attempts_detail"]
    assert first["error"].startswith("worker lost") and first["charged"] is True
    assert second["exit_code"] == 0
    # The orphaned `sleep` of the lost child's job is killed too (its process group).
    wait_for(lambda: not pids_with_marker(m), timeout=10, what="the lost job's processes to die")
    pids = wait_for(lambda: len(p := d.children_pids()) == 2 and p, what="a replacement child")
    assert child["pid"] not in pids


def test_a_killed_daemon_loses_nothing(make_daemon, tmp_path: Path) -> None:
    d = make_daemon(workers=20)
    wait_for(lambda: sum(c["ready"] for c in d.call("workers.status")["children"]) == 20,
             timeout=30, what="20 ready children")  # fmt: skip
    m = f"qtest-daemon-{os.getpid()}-{time.monotonic_ns()}"
    ledger = tmp_path / "ledger"
    for i in range(20):
        d.enqueue(f"echo start j{i} >> {ledger}; sleep 3 # {m}\necho end j{i} >> {ledger}",
                  id=f"j{i}", max_retries=0)  # fmt: skip
    wait_for(lambda: d.call("daemon.status")["counts"]["processing"] == 20 and
             len(pids_with_marker(m)) >= 20, timeout=30, what="20 running jobs")  # fmt: skip
    children = d.children_pids()
    d.kill9()
    # Children notice, kill their jobs and exit on their own.
    wait_for(lambda: not any(process_alive(p) for p in children), timeout=10, what="children to exit")
    wait_for(lambda: not pids_with_marker(m), timeout=10, what="jobs to be killed")
    d.workers = 20
    d.start()
    counts = d.wait_all_final(60)
    assert counts["completed"] == 20 and counts["processing"] == 0
    for i in range(20):
        job = d.job(f"j{i}")
        assert job["state"] == "completed"  # max_retries 0, yet the interrupted run did not count
        interrupted, final = job["attempts_detail"]
        assert interrupted["charged"] is False and "interrupted" in interrupted["error"]
        assert final["exit_code"] == 0
        assert not attempts_overlap(job["attempts_detail"])
    log = ledger.read_text().split("\n")
    assert sum(1 for line in log if line.startswith("end ")) == 20
    assert any(e.get("event") == "job.recovered" for e in d.log_events())


def test_stale_socket_after_a_crash_does_not_block_a_restart(make_daemon) -> None:
    d = make_daemon(workers=1)
    d.kill9()
    assert d.paths.socket.exists()  # left behind by the crash
    r = d.cli("status")
    assert r.returncode == 3 and str(d.paths.socket) in r.stderr
    d.start()
    assert d.call("daemon.status")["workers"]["target"] == 1


def started(d, job_id: str) -> bool:
    attempts = d.job(job_id)["attempts_detail"]
    return bool(attempts and attempts[-1]["started_at"])


def test_a_paused_daemon_does_not_kill_healthy_workers(make_daemon) -> None:
    d = make_daemon(workers=2)
    d.call("config.set", {"key": "worker_silence_limit", "value": 5})
    d.enqueue("sleep 20", id="a")
    d.enqueue("sleep 20", id="b")
    for job_id in ("a", "b"):
        wait_for(lambda j=job_id: started(d, j), what="both started")
    children = sorted(d.children_pids())
    d.proc.send_signal(signal.SIGSTOP)
    time.sleep(8)  # longer than the silence limit
    d.proc.send_signal(signal.SIGCONT)
    time.sleep(3)  # the next housekeeping rounds
    for job_id in ("a", "b"):
        job = d.job(job_id)
        assert job["state"] == "processing" and len(job["attempts_detail"]) == 1, job
    assert sorted(d.children_pids()) == children
    assert any(e.get("event") == "daemon.stalled" for e in d.log_events())


def test_a_wedged_worker_is_killed_after_the_silence_limit(make_daemon) -> None:
    d = make_daemon(workers=1)
    d.call("config.set", {"key": "worker_silence_limit", "value": 5})
    d.enqueue("sleep 30", id="stuck", max_retries=0)
    wait_for(lambda: started(d, "stuck"), what="the job started")
    child = d.children_pids()[0]
    os.kill(child, signal.SIGSTOP)
    job = d.wait_state("stuck", "dead", timeout=30)
    assert job["attempts_detail"][0]["error"].startswith("worker lost")
    assert any(e.get("event") == "child.unresponsive" for e in d.log_events())
    wait_for(lambda: child not in d.children_pids() and len(d.children_pids()) == 1,
             what="a replacement child")  # fmt: skip
