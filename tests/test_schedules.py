"""Schedules through the real daemon and the CLI: a few `--every 1s` runs in real time,
each within a second of its slot; list, show, pause, run, remove; bad input; a
SIGKILL of the daemon with --catch-up all."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from tests.conftest import STORES, Daemon, database_for, wait_for


@pytest.fixture(params=STORES)
def database(request: pytest.FixtureRequest) -> str | None:
    """Every test here runs on SQLite and on PostgreSQL (docs/postgres.md)."""
    return database_for(request)


def slot_of(job_id: str) -> float:
    return datetime.fromisoformat(job_id.split("@", 1)[1]).timestamp()


def parse(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_every_second_runs_on_time(daemon: Daemon) -> None:
    r = daemon.cli("schedule", "add", "tick", "--every", "1s", "--tz", "UTC", "--", "true")
    assert r.returncode == 0, r.stderr
    assert "every 1s" in r.stdout and "UTC" in r.stdout
    jobs = wait_for(lambda: (j := daemon.call("schedule.get", {"name": "tick"})["jobs"]) and len(j) >= 4 and j,
                    timeout=15)  # fmt: skip
    daemon.call("schedule.pause", {"name": "tick"})
    for job in jobs:
        full = daemon.wait_state(job["id"])
        assert full["state"] == "completed"
        slot = slot_of(job["id"])
        started = parse(full["attempts_detail"][0]["started_at"])
        assert 0 <= parse(full["created_at"]) - slot < 1.0, job["id"]
        assert started - slot < 1.0, job["id"]
    listed = json.loads(daemon.cli("schedule", "list", "--json").stdout)
    assert listed[0]["name"] == "tick" and listed[0]["paused"] is True
    assert listed[0]["last_job"]["id"].startswith("tick@")


def test_cli_show_run_set_remove_and_errors(daemon: Daemon) -> None:
    r = daemon.cli("schedule", "add", "nightly", "--cron", "0 3 * * *", "--tz", "Europe/Berlin",
                   "--priority", "4", "--env", "A=1", "--", "echo", "hi there")
    assert r.returncode == 0, r.stderr
    shown = daemon.cli("schedule", "show", "nightly")
    assert shown.returncode == 0 and "0 3 * * *" in shown.stdout and shown.stdout.count("T03:00:00+0") == 5
    r = daemon.cli("schedule", "run", "nightly")
    assert r.returncode == 0 and "nightly@" in r.stdout
    job_id = r.stdout.split()[1]
    job = daemon.wait_state(job_id)
    assert (job["state"], job["priority"], job["env"], job["command"]) == ("completed", 4, {"A": "1"},
                                                                           "echo 'hi there'")
    r = daemon.cli("schedule", "set", "nightly", "--every", "1h")
    assert r.returncode == 0 and "every 1h" in r.stdout
    assert "nightly" in daemon.cli("schedule", "list").stdout
    for args, field in ((["--cron", "99 * * * *"], "cron"), (["--every", "0"], "every"),
                        (["--every", "10s", "--tz", "Nowhere/City"], "tz")):  # fmt: skip
        r = daemon.cli("schedule", "add", "bad", *args, "--", "true")
        assert r.returncode == 2 and field in r.stderr, r.stderr
    assert daemon.cli("schedule", "show", "bad").returncode == 4
    assert daemon.cli("schedule", "remove", "nightly").returncode == 0
    assert json.loads(daemon.cli("schedule", "list", "--json").stdout) == []


def test_runs_go_to_the_schedules_queue_with_its_tags(daemon: Daemon) -> None:
    r = daemon.cli("schedule", "add", "toq", "--cron", "0 3 * * *", "--queue", "nowhere", "--", "true")
    assert r.returncode == 2 and "nowhere" in r.stderr, r.stderr  # the queue must exist
    assert daemon.cli("queue", "add", "batch", "--concurrency", "1").returncode == 0
    r = daemon.cli("schedule", "add", "toq", "--cron", "0 3 * * *", "--queue", "batch", "--slots", "2",
                   "--tag", "kind=nightly", "--", "true")
    assert r.returncode == 2 and "slots" in r.stderr, r.stderr  # more than the queue's concurrency
    r = daemon.cli("schedule", "add", "toq", "--cron", "0 3 * * *", "-q", "batch", "--tag", "kind=nightly",
                   "--tag", "team=ops", "--json", "--", "true")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["job"]["queue"] == "batch"
    job_id = daemon.cli("schedule", "run", "toq").stdout.split()[1]
    job = daemon.wait_state(job_id)
    assert (job["state"], job["queue"], job["tags"]) == ("completed", "batch", {"kind": "nightly", "team": "ops"})
    r = daemon.cli("queue", "remove", "batch")
    assert r.returncode == 5 and "toq" in r.stderr, r.stderr  # a schedule still feeds it
    assert daemon.cli("schedule", "set", "toq", "--queue", "default").returncode == 0
    assert daemon.cli("queue", "remove", "batch").returncode == 0


def test_sigkill_with_catch_up_all_runs_every_slot_once(daemon: Daemon) -> None:
    daemon.call("schedule.add", {"name": "c", "every": 1, "tz": "UTC", "catch_up": "all", "overlap": "allow",
                                 "job": {"command": "true"}})  # fmt: skip
    first = daemon.call("schedule.get", {"name": "c"})["next_run"]
    time.sleep(1.5)
    daemon.kill9()
    time.sleep(2.5)
    daemon.start()
    time.sleep(1.5)
    daemon.call("schedule.pause", {"name": "c"})
    jobs = sorted(j["id"] for j in daemon.call("schedule.get", {"name": "c", "jobs": 1000})["jobs"])
    slots = [slot_of(j) for j in jobs]
    assert slots[0] == parse(first)
    assert slots == [slots[0] + i for i in range(len(slots))], jobs  # none missing, none twice
    assert len(slots) >= 5
