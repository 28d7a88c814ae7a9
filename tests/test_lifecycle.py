"""Retries, backoff, the DLQ, timeouts, scheduling, logs, cancel/delete and config, for real."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from queuectl import jobs as J
from queuectl.client.rpc import RemoteError
from tests.conftest import STORES, Daemon, database_for, pids_with_marker, wait_for


@pytest.fixture(params=STORES)
def database(request: pytest.FixtureRequest) -> str | None:
    """Every test here runs on SQLite and on PostgreSQL (docs/postgres.md)."""
    return database_for(request)


def ts(iso: str) -> float:
    return J.parse_time(iso)


def marker() -> str:
    return f"qtest-{os.getpid()}-{time.monotonic_ns()}"


def test_backoff_delays_are_base_to_the_attempts(daemon: Daemon) -> None:
    daemon.call("config.set", {"key": "backoff_base", "value": 2})
    daemon.enqueue("exit 1", id="flaky", max_retries=2)
    job = daemon.wait_state("flaky", "dead", timeout=30)
    attempts = job["attempts_detail"]
    assert [a["exit_code"] for a in attempts] == [1, 1, 1]
    gap1 = ts(attempts[1]["started_at"]) - ts(attempts[0]["finished_at"])
    gap2 = ts(attempts[2]["started_at"]) - ts(attempts[1]["finished_at"])
    assert 1.9 <= gap1 <= 2.5, gap1
    assert 3.9 <= gap2 <= 4.5, gap2
    assert job["attempts"] == 3 and job["last_error"] == "exit code 1"


def test_failed_job_waits_in_failed_state_with_run_at(daemon: Daemon) -> None:
    daemon.call("config.set", {"key": "backoff_base", "value": 30})
    daemon.enqueue("exit 2", id="waiting", max_retries=1)
    job = daemon.wait_state("waiting", "failed")
    assert ts(job["run_at"]) - ts(job["finished_at"]) == pytest.approx(30, abs=0.5)
    assert job["exit_code"] == 2


def test_backoff_max_caps_the_delay(daemon: Daemon) -> None:
    daemon.call("config.set", {"key": "backoff_base", "value": 1000})
    daemon.call("config.set", {"key": "backoff_max", "value": 0.5})
    daemon.enqueue("exit 1", id="capped", max_retries=1)
    job = daemon.wait_state("capped", "dead", timeout=10)
    a = job["attempts_detail"]
    assert ts(a[1]["started_at"]) - ts(a[0]["finished_at"]) < 1.2


def test_backoff_jitter_spreads_retries_below_the_delay(daemon: Daemon) -> None:
    daemon.call("config.set", {"key": "backoff_base", "value": 20})
    daemon.call("config.set", {"key": "backoff_jitter", "value": 0.9})
    for i in range(6):
        daemon.enqueue("exit 1", id=f"j{i}", max_retries=1)
    waits = []
    for i in range(6):
        job = daemon.wait_state(f"j{i}", "failed")
        waits.append(ts(job["run_at"]) - ts(job["finished_at"]))
    assert all(1.9 <= w <= 20.1 for w in waits), waits  # within [20 * (1 - 0.9), 20]
    assert max(waits) - min(waits) > 1.0, waits  # spread out, not all at once


def test_dlq_round_trip(daemon: Daemon, tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    daemon.enqueue(f"test -f {flag}", id="needs-fix", max_retries=0)
    daemon.wait_state("needs-fix", "dead")
    dead = daemon.call("dlq.list")
    assert [j["id"] for j in dead["jobs"]] == ["needs-fix"] and dead["total"] == 1
    flag.touch()
    assert daemon.call("dlq.retry", {"id": "needs-fix"}) == {"retried": ["needs-fix"]}
    job = daemon.wait_state("needs-fix", "completed")
    assert job["attempts"] == 2
    assert daemon.call("dlq.list")["total"] == 0


def test_dlq_retry_all_and_manual_retry(daemon: Daemon) -> None:
    for i in range(3):
        daemon.enqueue("exit 1", id=f"d{i}", max_retries=0)
    for i in range(3):
        daemon.wait_state(f"d{i}", "dead")
    assert sorted(daemon.call("dlq.retry", {"all": True})["retried"]) == ["d0", "d1", "d2"]
    for i in range(3):
        daemon.wait_state(f"d{i}", "dead")
    job = daemon.call("job.retry", {"id": "d0"})
    assert job["state"] in ("pending", "processing")
    assert daemon.wait_state("d0", "dead")["attempts"] == 3


def test_a_scheduled_job_starts_on_time(daemon: Daemon) -> None:
    run_at = time.time() + 1.5
    iso = datetime.fromtimestamp(run_at, UTC).isoformat()
    job = daemon.enqueue("true", id="later", run_at=iso)
    assert job["state"] == "scheduled"
    done = daemon.wait_state("later", "completed", timeout=10)
    started = ts(done["attempts_detail"][0]["started_at"])
    assert -0.001 <= started - run_at < 0.1, started - run_at


def test_a_due_job_is_announced_on_the_event_stream(make_daemon) -> None:
    from queuectl.client.events import EventStream

    d = make_daemon(workers=0)
    stream = EventStream(d.paths.socket, ("job.due",))
    try:
        time.sleep(0.2)  # let the subscription reach the daemon
        d.enqueue("true", id="soon", delay=0.3)
        event = stream.next(5.0)
        assert event is not None and event["event"] == "job.due" and event["job_id"] == "soon"
        assert d.job("soon")["state"] == "pending"
    finally:
        stream.close()


def test_events_are_numbered_so_a_subscriber_sees_what_it_missed(make_daemon) -> None:
    from queuectl.client.events import EventStream

    d = make_daemon(workers=1)
    stream = EventStream(d.paths.socket, ("job.",))
    try:
        time.sleep(0.2)
        d.enqueue("true", id="one")
        d.wait_state("one", "completed")
        seen = [stream.next(5.0) for _ in range(4)]
        assert [e["event"] for e in seen] == ["job.enqueued", "job.assigned", "job.started",
                                              "job.completed"]  # fmt: skip
        assert [e["seq"] for e in seen] == [seen[0]["seq"] + i for i in range(4)]
        # A burst larger than what is queued for a subscriber that does not read:
        # the events beyond it are dropped, and the numbers show the gap.
        d.call("job.enqueue_many", {"jobs": [{"command": "true", "delay": 3600} for _ in range(3000)]})
        time.sleep(1.0)
        burst = []
        while (event := stream.next(0.5)) is not None:
            burst.append(event["seq"])
        assert 0 < len(burst) < 3000
        d.enqueue("true", id="after", delay=3600)
        after = stream.next(5.0)
        assert after is not None and after["job_id"] == "after"
        seqs = [*burst, after["seq"]]
        assert seqs[-1] - seqs[0] + 1 > len(seqs)  # a gap, visible
    finally:
        stream.close()


def test_delay_and_naive_run_at(daemon: Daemon) -> None:
    job = daemon.enqueue("true", id="delayed", delay=30)
    assert job["state"] == "scheduled"
    assert ts(job["run_at"]) - ts(job["created_at"]) == pytest.approx(30, abs=0.01)
    naive = daemon.enqueue("true", id="naive", run_at="2099-01-01T00:00:00")
    assert naive["run_at"] == "2099-01-01T00:00:00.000000Z"


def test_timeout_kills_the_job_and_its_grandchildren(daemon: Daemon) -> None:
    m = marker()
    daemon.enqueue(f"sh -c 'sleep 100 # {m}' & sleep 100 # {m}\nwait", id="slow",
                   timeout=1, max_retries=0)  # fmt: skip
    wait_for(lambda: len(pids_with_marker(m)) >= 2, what="the job and its grandchild")
    job = daemon.wait_state("slow", "dead", timeout=15)
    assert job["last_error"] == "timed out"
    assert job["attempts_detail"][0]["timed_out"] is True
    wait_for(lambda: not pids_with_marker(m), timeout=5, what="no process of the job left")


def test_kill_grace_escalates_to_sigkill(daemon: Daemon) -> None:
    daemon.call("config.set", {"key": "kill_grace", "value": 1})
    m = marker()
    daemon.enqueue(f"trap '' TERM; sleep 100 # {m}", id="stubborn", timeout=0.5, max_retries=0)
    job = daemon.wait_state("stubborn", "dead", timeout=15)
    a = job["attempts_detail"][0]
    assert 1.3 <= a["duration_ms"] / 1000 < 4, a
    assert a["signal"] == 9 and a["timed_out"] is True
    assert not pids_with_marker(m)


def test_default_timeout_applies_to_new_jobs(daemon: Daemon) -> None:
    daemon.call("config.set", {"key": "default_timeout", "value": 0.5})
    job = daemon.enqueue("sleep 30", id="defaulted", max_retries=0)
    assert job["timeout"] == 0.5
    assert daemon.wait_state("defaulted", "dead", timeout=10)["last_error"] == "timed out"
    assert daemon.enqueue("true", id="explicit", timeout=0)["timeout"] is None


def test_max_retries_config_applies_to_new_jobs(daemon: Daemon) -> None:
    daemon.call("config.set", {"key": "max_retries", "value": 5})
    assert daemon.enqueue("true")["max_retries"] == 5
    assert daemon.enqueue("true", max_retries=1)["max_retries"] == 1


def test_workers_config_scales_live_and_persists(make_daemon) -> None:
    d = make_daemon(workers=1)
    d.call("config.set", {"key": "workers", "value": 3})
    wait_for(lambda: len(d.call("workers.status")["children"]) == 3, what="3 children")
    d.stop()
    d2 = Daemon(d.home, workers=1)
    d2.proc = None
    # Without --workers the daemon starts with the configured size.
    cmd_home = d.home
    proc = subprocess.Popen([sys.executable, "-m", "queuectl", "--home", str(cmd_home), "daemon"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=d.env)  # fmt: skip
    try:
        d2.proc = proc
        wait_for(lambda: d2.paths.socket.exists() and len(d2.call("workers.status")["children"]) == 3,
                 timeout=20, what="3 children after restart")  # fmt: skip
        assert d2.call("config.get", {"key": "workers"})["value"] == 3
    finally:
        d2.stop()


def test_synchronous_setting_round_trips(daemon: Daemon) -> None:
    assert daemon.call("config.get", {"key": "synchronous"})["value"] == "NORMAL"
    daemon.call("config.set", {"key": "synchronous", "value": "full"})
    assert daemon.call("config.list")["synchronous"] == "FULL"
    daemon.enqueue("true", id="after-full")
    daemon.wait_state("after-full", "completed")


def test_follow_streams_while_the_job_runs(daemon: Daemon) -> None:
    daemon.enqueue("for i in 1 2 3 4 5 6; do echo line$i; sleep 0.4; done", id="chatty")
    wait_for(lambda: daemon.job("chatty")["started_at"], what="start")
    proc = subprocess.Popen(
        [sys.executable, "-m", "queuectl", "--home", str(daemon.home), "logs", "-f", "chatty"],
        stdout=subprocess.PIPE, env=daemon.env,
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith(b"line")
    assert daemon.job("chatty")["state"] == "processing"  # we got output before the end
    rest = proc.stdout.read()
    assert proc.wait(15) == 0
    lines = (first + rest).decode().split()
    assert lines == [f"line{i}" for i in range(1, 7)]


def test_logs_of_each_attempt_are_kept(daemon: Daemon) -> None:
    daemon.call("config.set", {"key": "backoff_base", "value": 1})
    daemon.enqueue('echo "run $QUEUECTL_ATTEMPT"; echo "e$QUEUECTL_ATTEMPT" >&2; exit 1',
                   id="twice", max_retries=1)  # fmt: skip
    daemon.wait_state("twice", "dead", timeout=15)
    assert daemon.call("job.logs", {"id": "twice", "attempt": 1})["data"] == "run 1\n"
    assert daemon.call("job.logs", {"id": "twice"})["data"] == "run 2\n"
    assert daemon.call("job.logs", {"id": "twice", "attempt": 2, "stream": "stderr"})["data"] == "e2\n"


def test_large_logs_come_in_chunks_and_binary_survives(daemon: Daemon) -> None:
    daemon.enqueue("head -c 3000000 /dev/urandom | base64 -w 0; printf '\\377\\376'", id="big")
    daemon.wait_state("big", "completed", timeout=30)
    data = subprocess.run([sys.executable, "-m", "queuectl", "--home", str(daemon.home), "logs", "big"],
                          capture_output=True, env=daemon.env).stdout  # fmt: skip
    assert len(data) == 4_000_000 + 2 and data.endswith(b"\xff\xfe")
    chunk = daemon.call("job.logs", {"id": "big", "max_bytes": 1000})
    assert len(chunk["data"]) == 1000 and chunk["next_offset"] == 1000 and not chunk["eof"]


def test_cancel_pending_scheduled_and_running(daemon: Daemon) -> None:
    assert daemon.enqueue("true", id="sched", delay=60)["state"] == "scheduled"
    assert daemon.call("job.cancel", {"id": "sched"})["state"] == "cancelled"
    m = marker()
    daemon.enqueue(f"sleep 60 # {m}", id="running")
    wait_for(lambda: pids_with_marker(m), what="the job to run")
    assert daemon.call("job.cancel", {"id": "running"}, timeout=30)["state"] == "cancelled"
    assert not pids_with_marker(m)
    job = daemon.job("running")
    assert job["last_error"] == "cancelled"
    with pytest.raises(RemoteError) as info:
        daemon.call("job.cancel", {"id": "running"})
    assert info.value.code == -32003


def test_delete_removes_the_job_and_its_logs(daemon: Daemon) -> None:
    daemon.enqueue("echo bye", id="gone")
    daemon.wait_state("gone", "completed")
    assert daemon.call("job.delete", {"id": "gone"}) == {"deleted": "gone"}
    with pytest.raises(RemoteError):
        daemon.job("gone")
    with pytest.raises(RemoteError):
        daemon.call("job.logs", {"id": "gone"})
    assert daemon.call("daemon.status")["counts"]["completed"] == 0


@pytest.mark.parametrize(
    ("method", "params", "code"),
    [
        ("job.enqueue", {"command": "true", "timeout": -1}, -32602),
        ("job.enqueue", {"command": "true", "timeout": "ten"}, -32602),
        ("job.enqueue", {"command": "true", "priority": "high"}, -32602),
        ("job.enqueue", {"command": "true", "max_retries": -2}, -32602),
        ("job.enqueue", {"command": "true", "run_at": "next tuesday"}, -32602),
        ("job.retry", {"id": "ok1"}, -32003),
        ("job.cancel", {"id": "ok1"}, -32003),
        ("job.logs", {"id": "nope"}, -32001),
        ("job.logs", {"id": "ok1", "attempt": 9}, -32001),
        ("job.logs", {"id": "ok1", "stream": "stdin"}, -32602),
        ("dlq.retry", {"id": "ok1"}, -32003),
        ("config.set", {"key": "nope", "value": 1}, -32602),
        ("config.set", {"key": "max_retries", "value": "x"}, -32602),
        ("config.get", {"key": "nope"}, -32602),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(daemon: Daemon, method: str, params: dict, code: int) -> None:
    if not any(j["id"] == "ok1" for j in daemon.call("job.list")["jobs"]):
        daemon.enqueue("true", id="ok1")
        daemon.wait_state("ok1", "completed")
    before = (daemon.call("job.list", {"limit": 1000}), daemon.call("config.list"))
    with pytest.raises(RemoteError) as info:
        daemon.call(method, params)
    assert info.value.code == code and info.value.message
    assert (daemon.call("job.list", {"limit": 1000}), daemon.call("config.list")) == before
