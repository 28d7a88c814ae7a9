"""Named queues on a real daemon: limits never exceeded (read back from the attempt rows),
QUEUECTL_SLOT distinct, fair dispatch (no starvation), wide jobs get their turn, pause
and resume across restarts and crashes, bad input, and the old guarantees in a
non-default queue."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import time
from typing import Any

from queuectl import jobs as J
from tests.conftest import Daemon, wait_for

QUEUES = ["q1", "q2", "q3", "q4", "q5"]


def attempts(daemon: Daemon) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{daemon.paths.db}?mode=ro", uri=True)
    try:
        return db.execute("SELECT a.started_at, a.finished_at, a.queue, a.slots, a.slot, j.id FROM attempts a "
                          "JOIN jobs j ON j.seq = a.job_seq WHERE a.started_at IS NOT NULL").fetchall()  # fmt: skip
    finally:
        db.close()


def check_limits(rows: list[tuple[Any, ...]], limits: dict[str, list[tuple[float, int]]], pool: int) -> int:
    """Replay the attempts: at every start, the queue's running slots (with it) are within the
    limit in force then, the pool's within its size, and its slot indices are free. Returns
    the most slots that ran at once."""
    events = []
    for start, end, queue, slots, slot, _ in rows:
        indices = {int(i) for i in slot.split(",")}
        assert len(indices) == slots
        events.append((start, 1, queue, slots, frozenset(indices)))
        events.append((end if end is not None else float("inf"), 0, queue, slots, frozenset(indices)))
    events.sort(key=lambda e: (e[0], e[1]))  # an end before a start at the same moment
    running: dict[str, int] = {}
    used: dict[str, set[int]] = {}
    total = peak = 0
    for t, is_start, queue, slots, indices in events:
        if not is_start:
            running[queue] -= slots
            used[queue] -= indices
            total -= slots
            continue
        limit = [lim for since, lim in limits[queue] if since <= t][-1] if queue in limits else 10_000
        running[queue] = running.get(queue, 0) + slots
        total += slots
        assert running[queue] <= limit, (queue, t, running[queue], limit)
        assert total <= pool, (t, total)
        assert not (used.setdefault(queue, set()) & indices), (queue, t, used[queue], indices)
        assert max(indices) < max(lim for _, lim in limits.get(queue, [(0, 10_000)]))
        used[queue] |= indices
        peak = max(peak, total)
    return peak


def test_limits_hold_over_thousands_of_jobs_while_limits_change_and_queues_pause(make_daemon) -> None:
    daemon = make_daemon(workers=3)
    rng = random.Random(15)
    limits: dict[str, list[tuple[float, int]]] = {}
    for i, name in enumerate(QUEUES):
        daemon.call("queue.add", {"name": name, "concurrency": i % 3 + 1, "weight": i + 1})
        limits[name] = [(0.0, i % 3 + 1)]
    jobs = [{"command": "true" if rng.random() < 0.8 else "sleep 0.01", "queue": rng.choice(QUEUES),
             "slots": 2 if rng.random() < 0.1 else 1} for _ in range(2500)]  # fmt: skip
    for job in jobs:
        if job["slots"] > limits[job["queue"]][0][1]:
            job["slots"] = 1
    for start in range(0, len(jobs), 500):
        daemon.call("job.enqueue_many", {"jobs": jobs[start : start + 500]})
    for _ in range(12):
        time.sleep(0.25)
        name, new = rng.choice(QUEUES), rng.randint(2, 3)
        sent = time.time()
        daemon.call("queue.set", {"name": name, "concurrency": new})
        # In force from the reply for a lower limit, from the request for a higher one.
        limits[name].append((sent if new > limits[name][-1][1] else time.time(), new))
        limits[name].sort()
        paused = rng.choice(QUEUES)
        daemon.call("queue.pause", {"name": paused})
        time.sleep(0.1)
        daemon.call("queue.resume", {"name": paused})
    daemon.wait_all_final(timeout=60)
    rows = attempts(daemon)
    assert len(rows) >= 2500
    assert check_limits(rows, limits, pool=3) >= 2


def test_slot_indices_are_distinct_and_the_env_has_them(make_daemon, tmp_path) -> None:
    daemon = make_daemon(workers=3)
    daemon.call("queue.add", {"name": "gpu", "concurrency": 2})
    out = tmp_path / "slots"
    for i in range(6):
        daemon.enqueue(f'echo "$QUEUECTL_QUEUE $QUEUECTL_SLOT $QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT" >> {out}; '
                       "sleep 0.2", id=f"g{i}", queue="gpu")  # fmt: skip
    daemon.enqueue(f'echo "$QUEUECTL_QUEUE $QUEUECTL_SLOT $QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT" >> {out}',
                   id="d", slots=2)  # fmt: skip
    daemon.wait_all_final(timeout=30)
    lines = sorted(out.read_text().split("\n")[:-1])
    assert "default 0,1 d 1" in lines
    assert sorted(line.split()[1] for line in lines if line.startswith("gpu")) == ["0", "0", "0", "1", "1", "1"]
    check_limits(attempts(daemon), {"gpu": [(0.0, 2)]}, pool=3)


def test_an_idle_queue_is_not_held_up_by_a_huge_backlog_in_another(make_daemon) -> None:
    daemon = make_daemon(workers=2)
    daemon.call("queue.add", {"name": "flood"})
    daemon.call("queue.add", {"name": "report"})
    for _ in range(10):
        daemon.call("job.enqueue_many", {"jobs": [{"command": "sleep 0.05", "queue": "flood"}] * 1000})
    wait_for(lambda: daemon.call("queue.get", {"name": "flood"})["running"] == 2, what="the flood to run")
    t0 = time.time()
    daemon.enqueue("true", id="report", queue="report")
    job = daemon.wait_state("report", "completed", timeout=10)
    started = J.parse_time(job["attempts_detail"][0]["started_at"])
    # at most one running flood job (50 ms) ahead of it, not the 10,000 behind
    assert started - t0 < 0.5, started - t0
    assert daemon.call("queue.get", {"name": "flood"})["pending"] > 9000
    daemon.call("queue.pause", {"name": "flood", "kill": True})


def test_a_wide_job_gets_its_turn_in_a_stream_of_narrow_ones(make_daemon) -> None:
    daemon = make_daemon(workers=3)
    daemon.call("queue.add", {"name": "narrow"})
    daemon.call("job.enqueue_many", {"jobs": [{"command": "sleep 0.1", "queue": "narrow"}] * 300})
    wait_for(lambda: daemon.call("queue.get", {"name": "narrow"})["running"] == 3, what="narrow jobs to run")
    daemon.enqueue("true", id="wide", slots=3)
    job = daemon.wait_state("wide", "completed", timeout=15)
    assert daemon.call("queue.get", {"name": "narrow"})["pending"] > 100  # long before the stream ended
    assert job["attempts_detail"][0]["slot"] == "0,1,2"
    check_limits(attempts(daemon), {}, pool=3)
    daemon.call("queue.pause", {"name": "narrow", "kill": True})


def test_pause_stops_starts_and_survives_a_restart_and_a_crash(make_daemon) -> None:
    daemon = make_daemon(workers=2)
    daemon.call("queue.add", {"name": "batch", "concurrency": 1})
    daemon.enqueue("sleep 1", id="running", queue="batch")
    daemon.wait_state("running", "processing")
    assert daemon.call("queue.pause", {"name": "batch"})["changed"] is True
    assert daemon.call("queue.pause", {"name": "batch"})["changed"] is False  # a no-op
    daemon.enqueue("true", id="waits", queue="batch")
    assert daemon.wait_state("running", "completed", timeout=10)["attempts"] == 1  # running jobs go on
    time.sleep(0.3)
    assert daemon.job("waits")["state"] == "pending"
    daemon.stop()
    daemon.start()
    time.sleep(0.3)
    assert daemon.job("waits")["state"] == "pending"
    assert daemon.call("queue.get", {"name": "batch"})["paused"] is True
    daemon.kill9()
    daemon.start()
    time.sleep(0.3)
    assert daemon.job("waits")["state"] == "pending"
    assert daemon.call("queue.resume", {"name": "batch"})["changed"] is True
    assert daemon.call("queue.resume", {"name": "batch"})["changed"] is False
    daemon.wait_state("waits", "completed", timeout=10)


def test_pause_kill_puts_running_jobs_back_without_using_an_attempt(make_daemon) -> None:
    daemon = make_daemon(workers=2)
    daemon.call("queue.add", {"name": "batch"})
    daemon.enqueue("sleep 30", id="long", queue="batch", max_retries=0)
    daemon.enqueue("sleep 30", id="other", max_retries=0)
    daemon.wait_state("long", "processing")
    daemon.wait_state("other", "processing")
    daemon.call("queue.pause", {"name": "batch", "kill": True})
    job = daemon.wait_state("long", "pending", timeout=15)
    assert job["attempts_detail"][-1]["charged"] is False
    assert "paused" in job["attempts_detail"][-1]["error"]
    assert daemon.job("other")["state"] == "processing"  # another queue's job goes on
    daemon.kill9()  # a crash while paused: still paused after it
    daemon.start()
    time.sleep(0.5)
    assert daemon.job("long")["state"] == "pending"
    daemon.call("queue.resume", {"name": "batch"})
    daemon.wait_state("long", "processing", timeout=10)
    assert daemon.job("long")["max_retries"] == 0  # it still has its one attempt to run
    for job_id in ("long", "other"):
        daemon.call("job.cancel", {"id": job_id})


def test_retries_timeouts_dead_letters_and_schedules_in_a_named_queue(make_daemon) -> None:
    daemon = make_daemon(workers=2)
    daemon.call("config.set", {"key": "backoff_base", "value": 1})
    daemon.call("queue.add", {"name": "etl", "concurrency": 1})
    daemon.enqueue("exit 3", id="bad", queue="etl", max_retries=1)
    daemon.enqueue("sleep 5", id="slow", queue="etl", timeout=0.3, max_retries=0)
    daemon.enqueue("true", id="later", queue="etl", delay=0.5)
    assert daemon.wait_state("bad", "dead")["attempts"] == 2
    assert daemon.wait_state("slow", "dead")["last_error"] == "timed out"
    assert daemon.wait_state("later", "completed")["queue"] == "etl"
    dead = daemon.call("dlq.list", {"queue": "etl"})
    assert {j["id"] for j in dead["jobs"]} == {"bad", "slow"} and dead["total"] == 2
    assert daemon.call("dlq.list", {"queue": "default"})["total"] == 0
    removal = daemon.cli("queue", "remove", "etl")
    assert removal.returncode == 5 and "dead" in removal.stderr  # dead jobs may come back
    daemon.call("dlq.retry", {"id": "bad"})
    assert daemon.wait_state("bad", "dead")["queue"] == "etl"


def test_a_crashed_daemon_recovers_jobs_of_a_named_queue(make_daemon) -> None:
    daemon = make_daemon(workers=2)
    daemon.call("queue.add", {"name": "etl", "concurrency": 1})
    daemon.enqueue("sleep 30", id="long", queue="etl")
    daemon.wait_state("long", "processing")
    daemon.kill9()
    daemon.start()
    job = daemon.wait_state("long", "processing", timeout=15)
    assert job["attempts_detail"][0]["charged"] is False and job["queue"] == "etl"
    assert daemon.call("queue.get", {"name": "etl"})["slot_indices"] == [0]
    daemon.call("job.cancel", {"id": "long"})


def test_bad_input_is_refused_with_a_clear_error_and_changes_nothing(daemon: Daemon) -> None:
    cases = [
        (("queue", "add", ""), 2), (("queue", "add", "a" * 65), 2), (("queue", "add", "a b"), 2),
        (("queue", "add", "x", "--concurrency", "-1"), 2), (("queue", "add", "x", "--concurrency", "10001"), 2),
        (("queue", "add", "x", "--weight", "0"), 2),
        (("queue", "show", "nope"), 2), (("queue", "pause", "nope"), 2), (("queue", "set", "nope", "-c", "1"), 2),
        (("queue", "remove", "default"), 2), (("enqueue", "--queue", "nope", "--", "true"), 2),
        (("enqueue", "--slots", "0", "--", "true"), 2), (("enqueue", "--slots", "3", "--", "true"), 2),
        (("enqueue", "--tag", "no-equals", "--", "true"), 2), (("list", "--queue", "nope"), 2),
        (("status", "--queue", "nope"), 2), (("dlq", "list", "--queue", "nope"), 2),
    ]  # fmt: skip
    for args, code in cases:
        result = daemon.cli(*args)
        assert result.returncode == code, (args, result.returncode, result.stderr)
        assert result.stderr.startswith("queuectl: ") and result.stdout == "", (args, result.stderr)
    assert [q["name"] for q in daemon.call("queue.list")] == ["default"]
    assert daemon.call("daemon.status")["counts"]["pending"] == 0
    daemon.call("queue.add", {"name": "x"})
    assert daemon.cli("queue", "add", "x").returncode == 5
    daemon.enqueue("sleep 30", queue="x")
    refused = daemon.cli("queue", "remove", "x")
    assert refused.returncode == 5 and "holds jobs" in refused.stderr
    assert [q["name"] for q in daemon.call("queue.list")] == ["default", "x"]


def test_tags_queue_filters_and_status_per_queue(daemon: Daemon) -> None:
    daemon.call("workers.scale", {"count": 0})
    assert daemon.cli("queue", "add", "nightly", "--concurrency", "2", "--weight", "3").returncode == 0
    for i in range(3):
        result = daemon.cli("enqueue", "--queue", "nightly", "--tag", "team=data", "--tag", f"n={i}", "--json",
                            "--", "true")  # fmt: skip
        assert result.returncode == 0, result.stderr
    daemon.cli("enqueue", "--tag", "team=web", "--", "true")
    listed = daemon.cli("list", "--tag", "team=data", "--tag", "n=1", "--json")
    (job,) = json.loads(listed.stdout)
    assert job["tags"] == {"team": "data", "n": "1"} and job["queue"] == "nightly"
    assert len(json.loads(daemon.cli("list", "--queue", "nightly", "--json").stdout)) == 3
    status = json.loads(daemon.cli("status", "--json").stdout)
    nightly = next(q for q in status["queues"] if q["name"] == "nightly")
    assert (nightly["pending"], nightly["concurrency"], nightly["paused"]) == (3, 2, False)
    assert nightly["oldest_pending_age_s"] is not None
    text = daemon.cli("status").stdout
    assert "queue nightly: 3 pending, 0/2 running, oldest pending" in text
    only = json.loads(daemon.cli("status", "--queue", "nightly", "--json").stdout)
    assert only["counts"]["pending"] == 3 and [q["name"] for q in only["queues"]] == ["nightly"]
    events = daemon.cli("queue", "pause", "nightly")
    assert events.returncode == 0 and "paused" in events.stdout


def test_pause_and_resume_are_announced_as_events(daemon: Daemon) -> None:
    from queuectl.client.events import EventStream

    daemon.call("queue.add", {"name": "e"})
    stream = EventStream(daemon.paths.socket)
    try:
        time.sleep(0.2)
        daemon.call("queue.pause", {"name": "e"})
        daemon.call("queue.pause", {"name": "e"})
        daemon.call("queue.resume", {"name": "e"})
        seen = []
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            event = stream.next(0.5)
            if event is not None and event["event"].startswith("queue."):
                seen.append((event["event"], event["queue"]))
        assert seen == [("queue.paused", "e"), ("queue.resumed", "e")]
    finally:
        stream.close()


def test_sigkill_during_pause_kill_leaves_the_queue_paused(make_daemon) -> None:
    daemon = make_daemon(workers=1)
    daemon.call("queue.add", {"name": "b"})
    daemon.enqueue("sleep 30", id="j", queue="b")
    daemon.wait_state("j", "processing")
    daemon.call("queue.pause", {"name": "b", "kill": True})
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(10)
    daemon.close_client()
    daemon.start()
    job = daemon.wait_state("j", "pending", timeout=15)
    assert all(not a["charged"] for a in job["attempts_detail"])
    time.sleep(0.3)
    assert daemon.job("j")["state"] == "pending"
