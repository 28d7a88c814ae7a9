"""The foundation, end to end: a real daemon, real children, real shell commands."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import zmq

from queuectl import jobs as J
from queuectl.client.output import ALREADY_RUNNING
from queuectl.client.rpc import RemoteError
from tests.conftest import Daemon, pids_with_marker, process_alive, wait_for


def test_a_job_runs_to_completion_with_its_output(daemon: Daemon) -> None:
    job = daemon.enqueue("echo Hello World; echo oops >&2", id="job1")
    assert job["id"] == "job1" and job["state"] in ("pending", "processing")
    done = daemon.wait_state("job1", "completed")
    assert done["exit_code"] == 0 and done["attempts"] == 1 and done["last_error"] is None
    for key in ("created_at", "updated_at", "started_at", "finished_at"):
        assert done[key].endswith("Z")
    out = daemon.call("job.logs", {"id": "job1"})
    assert out["data"] == "Hello World\n" and out["eof"]
    err = daemon.call("job.logs", {"id": "job1", "stream": "stderr"})
    assert err["data"] == "oops\n"


def test_a_failing_command_keeps_its_exit_code(daemon: Daemon) -> None:
    daemon.enqueue("exit 3", id="bad", max_retries=0)
    job = daemon.wait_state("bad", "dead")
    assert job["exit_code"] == 3 and job["last_error"] == "exit code 3"


def test_generated_ids_are_unique(daemon: Daemon) -> None:
    ids = {daemon.enqueue("true")["id"] for _ in range(20)}
    assert len(ids) == 20


def test_200_jobs_on_4_children_each_run_exactly_once(make_daemon, tmp_path: Path) -> None:
    d = make_daemon(workers=4)
    ledger = tmp_path / "ledger"
    jobs = [{"id": f"j{i}", "command": f"echo j{i} >> {ledger}"} for i in range(200)]
    d.call("job.enqueue_many", {"jobs": jobs})
    counts = d.wait_all_final(60)
    assert counts["completed"] == 200
    lines = ledger.read_text().split()
    assert sorted(lines) == sorted(f"j{i}" for i in range(200))  # each exactly once
    children = {a["child"] for i in range(0, 200, 10) for a in d.job(f"j{i}")["attempts_detail"]}
    assert len(children) > 1  # the work was spread


def test_priority_order_with_one_child(make_daemon, tmp_path: Path) -> None:
    d = make_daemon(workers=0)
    ledger = tmp_path / "order"
    for i, prio in enumerate([0, 5, 0, 10, 5, -1]):
        d.enqueue(f"echo p{i} >> {ledger}", id=f"p{i}", priority=prio)
    d.call("workers.scale", {"count": 1})
    d.wait_all_final(30)
    assert ledger.read_text().split() == ["p3", "p1", "p4", "p0", "p2", "p5"]


def test_a_second_daemon_on_the_same_home_is_refused(daemon: Daemon, home: Path) -> None:
    second = Daemon(home, workers=1)
    second.log_path = home / "second.log"
    second.start(wait=False)
    assert second.proc is not None
    # Its own exit code: 3 means "no daemon answers", the opposite of what happened.
    assert second.proc.wait(20) == ALREADY_RUNNING == 7
    assert "already running" in second.log() and "Traceback" not in second.log()
    assert daemon.call("daemon.status")["daemon"]["pid"] == daemon.proc.pid  # untouched
    p = daemon.cli("daemon", "--detach")
    assert p.returncode == ALREADY_RUNNING and "already running" in p.stderr, p.stderr
    assert daemon.call("daemon.status")["daemon"]["pid"] == daemon.proc.pid


def test_sigterm_lets_a_short_job_finish(make_daemon) -> None:
    d = make_daemon(workers=1)
    d.call("config.set", {"key": "shutdown_grace", "value": 10})
    d.enqueue("sleep 1; echo finished", id="short")
    d.wait_state("short", "processing")
    wait_for(lambda: d.job("short")["started_at"], what="start")
    assert d.stop(signal.SIGTERM) == 0
    d.start()
    job = d.job("short")
    assert job["state"] == "completed" and job["attempts"] == 1


def test_sigterm_requeues_a_long_job_without_charging_an_attempt(make_daemon) -> None:
    marker = f"qtest-long-{os.getpid()}-{time.monotonic_ns()}"
    d = make_daemon(workers=1)
    d.call("config.set", {"key": "shutdown_grace", "value": 0.5})
    d.call("config.set", {"key": "kill_grace", "value": 1})
    d.enqueue(f"sleep 30 # {marker}", id="long", max_retries=0)
    wait_for(lambda: d.job("long")["started_at"], what="start")
    assert pids_with_marker(marker)
    t0 = time.monotonic()
    assert d.stop(signal.SIGTERM) == 0
    assert time.monotonic() - t0 < 8
    assert not pids_with_marker(marker)
    d.call  # noqa: B018  (the client was closed with the daemon)
    d.start()
    d.call("workers.scale", {"count": 0})
    job = d.job("long")
    assert job["state"] in ("pending", "assigned", "processing")
    first = job["attempts_detail"][0]
    assert first["charged"] is False and "interrupted" in first["error"]
    # max_retries is 0, yet it is not dead: the interrupted attempt did not count.
    assert job["state"] != "dead"


def test_worker_stop_lets_the_daemon_keep_accepting(make_daemon) -> None:
    d = make_daemon(workers=2)
    d.enqueue("sleep 0.5", id="running")
    wait_for(lambda: d.job("running")["started_at"], what="start")
    status = d.call("workers.stop")
    assert status["target"] == 0
    d.wait_state("running", "completed")  # it finished its job
    wait_for(lambda: not d.call("workers.status")["children"], what="children to exit")
    d.enqueue("true", id="later")
    time.sleep(0.3)
    assert d.job("later")["state"] == "pending"
    d.call("workers.scale", {"count": 1})
    d.wait_state("later", "completed")


def test_children_die_with_a_killed_daemon(make_daemon) -> None:
    marker = f"qtest-orphan-{os.getpid()}-{time.monotonic_ns()}"
    d = make_daemon(workers=2)
    d.enqueue(f"sleep 60 # {marker}", id="orphan")
    wait_for(lambda: pids_with_marker(marker), what="the job to run")
    children = d.children_pids()
    d.kill9()
    wait_for(lambda: not any(process_alive(p) for p in children), timeout=10, what="children to exit")
    wait_for(lambda: not pids_with_marker(marker), timeout=10, what="the job to be killed")


def test_daemon_status_counts_every_state(daemon: Daemon) -> None:
    status = daemon.call("daemon.status")
    assert set(status["counts"]) == {"scheduled", "blocked", "pending", "assigned", "processing", "completed", "failed",
                                     "dead", "cancelled"}
    assert status["workers"]["target"] == 2


def test_job_list_reads_the_jobs_named_in_ids(make_daemon) -> None:
    """One call for many jobs (the dashboard's live rows): unknown ids are left out, the other
    params still apply, and ids is checked."""
    d = make_daemon(workers=0)
    d.call("job.enqueue_many", {"jobs": [{"id": f"j{i}", "command": "true", "priority": i} for i in range(5)]})
    d.call("job.cancel", {"id": "j3"})
    got = d.call("job.list", {"ids": ["j4", "nope", "j1", "j3"], "limit": 10})
    assert [j["id"] for j in got["jobs"]] == ["j1", "j3", "j4"] and got["total"] == 5
    assert [j["id"] for j in d.call("job.list", {"ids": ["j4", "j1", "j3"], "state": "pending"})["jobs"]] == ["j1", "j4"]
    assert [j["id"] for j in d.call("job.list", {"ids": ["j1", "j4"], "order": "priority"})["jobs"]] == ["j4", "j1"]
    assert d.call("job.list", {"ids": []})["jobs"] == []
    assert len(d.call("job.list", {"ids": [f"j{i % 5}" for i in range(1000)], "limit": 10})["jobs"]) == 5
    for bad in ([1], ["j1", None], ["x"] * 1001, "j1"):
        with pytest.raises(RemoteError) as err:
            d.call("job.list", {"ids": bad})
        assert err.value.name == "invalid_params" and err.value.data["field"] == "ids", bad


def test_unknown_job_is_not_found(daemon: Daemon) -> None:
    with pytest.raises(RemoteError) as info:
        daemon.call("job.get", {"id": "nope"})
    assert info.value.code == -32001


def test_state_files_are_private_but_jobs_keep_the_callers_umask(make_daemon, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        d = make_daemon(workers=1)
    finally:
        os.umask(old)
    made = tmp_path / "made-by-job"
    d.enqueue(f"touch {made}", id="touch")
    d.wait_state("touch", "completed")
    for path in (d.paths.db, d.paths.db.with_name("queue.db-wal"), d.paths.lock):
        assert path.stat().st_mode & 0o077 == 0, (path, oct(path.stat().st_mode))
    for seg in d.paths.logs_dir.iterdir():
        assert seg.stat().st_mode & 0o077 == 0
    assert made.stat().st_mode & 0o777 == 0o644  # the umask the daemon was started with


def test_a_flood_of_status_requests_holds_back_no_timer_signal_or_job(make_daemon) -> None:
    """`daemon.status` alone in a turn is answered outside the turn's transaction, with no
    dispatch and no timers: whatever else is due must still happen on time beside a flood
    of them."""
    d = make_daemon(workers=1)
    d.enqueue("true", id="later", delay=1.0)
    due = time.time() + 1.0
    d.enqueue("sleep 0.3", id="first")
    d.enqueue("true", id="next")  # behind `first`: started once `first` reports its end
    stop = threading.Event()
    answered: list[int] = []

    def flood() -> None:
        # One DEALER keeps 100 requests queued at the daemon at all times: every turn
        # finds one waiting, so nothing but the daemon's own bookkeeping makes room.
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.connect(f"ipc://{d.paths.socket}")
        request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "daemon.status"}).encode()
        for _ in range(100):
            sock.send_multipart([b"", request])
        n = 0
        while not stop.is_set():
            if sock.poll(1000):
                reply = json.loads(sock.recv_multipart()[-1])
                assert set(reply["result"]) >= {"counts", "queues", "workers", "daemon"}
                n += 1
                sock.send_multipart([b"", request])
        answered.append(n)
        sock.close(linger=0)
        ctx.term()

    threads = [threading.Thread(target=flood) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        os.kill(d.proc.pid, signal.SIGHUP)
        # Watched with daemon.status too: any other request would make a full turn itself.
        wait_for(lambda: d.call("daemon.status")["counts"]["completed"] == 3, timeout=5, what="three jobs done")
        wait_for(lambda: "daemon.reloaded" in {e.get("event") for e in d.log_events()}, timeout=5,
                 what="the SIGHUP's reload")  # fmt: skip
    finally:
        stop.set()
        for t in threads:
            t.join()
    later, nxt = d.job("later"), d.job("next")
    # (Without the full turns, only a child's heartbeat, every 2 s, would start it.)
    assert J.parse_time(later["started_at"]) - due < 0.25, "the delayed job waited behind the status requests"
    assert nxt["attempts"] == 1
    assert len(answered) == 2 and sum(answered) > 100
