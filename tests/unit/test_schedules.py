"""Recurring schedules on the daemon's real core with a fake clock: slots, timing, overlap,
catch-up after downtime, daylight saving, bad input, a failed commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from queuectl import jobs as J
from queuectl import schedules as S
from tests.unit.conftest import Core

NY = "America/New_York"


def call(core: Core, method: str, **params: Any) -> Any:
    core.turn(core.request(method, params))
    reply = core.replies()[-1]
    if "error" in reply:
        return reply["error"]
    return reply["result"]


def ids(core: Core, name: str) -> list[str]:
    return [j["id"] for j in call(core, "schedule.get", name=name, jobs=1000)["jobs"]]


def at(text: str, tz: str = NY) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


def set_wall(core: Core, ts: float) -> None:
    core.clock.advance(ts - core.clock.wall())


# --- pure slots --------------------------------------------------------------------------


def test_every_slots_are_multiples_of_the_interval() -> None:
    assert S.next_slot(None, 10, "UTC", 1005.0) == 1010.0
    assert S.next_slot(None, 10, "UTC", 1010.0) == 1020.0
    assert S.slots(None, 10, "UTC", 1010.0, 1035.0, 100) == [1010.0, 1020.0, 1030.0]


def test_spring_forward_runs_a_missing_slot_once_at_the_next_valid_minute() -> None:
    # 2027-03-14 02:30 does not exist in New York (02:00 -> 03:00).
    slot = S.next_slot("30 2 * * *", None, NY, at("2027-03-14T01:00"))
    assert S.slot_text(slot, NY) == "2027-03-14T03:00:00-04:00"
    following = S.next_slot("30 2 * * *", None, NY, slot)
    assert S.slot_text(following, NY) == "2027-03-15T02:30:00-04:00"


def test_fall_back_runs_a_repeated_slot_once() -> None:
    # 2027-11-07 01:00-02:00 happens twice in New York.
    got = S.upcoming("30 1 * * *", None, NY, at("2027-11-07T00:00"), 2)
    assert [S.slot_text(t, NY) for t in got] == ["2027-11-07T01:30:00-04:00", "2027-11-08T01:30:00-05:00"]
    got = S.upcoming("*/30 * * * *", None, NY, at("2027-11-07T00:45"), 4)
    assert [S.slot_text(t, NY) for t in got] == ["2027-11-07T01:00:00-04:00", "2027-11-07T01:30:00-04:00",
                                                 "2027-11-07T02:00:00-05:00", "2027-11-07T02:30:00-05:00"]


@pytest.mark.parametrize("expr, after, first", [
    ("@hourly", "2027-01-01T10:10", "2027-01-01T11:00:00-05:00"),
    ("@daily", "2027-01-01T10:10", "2027-01-02T00:00:00-05:00"),
    ("@weekly", "2027-01-01T10:10", "2027-01-03T00:00:00-05:00"),  # a Sunday
    ("@monthly", "2027-01-01T10:10", "2027-02-01T00:00:00-05:00"),
    ("0 9 * JAN-MAR MON-FRI", "2027-01-01T10:10", "2027-01-04T09:00:00-05:00"),
    ("0 0 13 * FRI", "2027-01-01T10:10", "2027-01-08T00:00:00-05:00"),  # the 13th OR a Friday
    ("*/15 8-9 * * *", "2027-01-01T09:50", "2027-01-02T08:00:00-05:00"),
])  # fmt: skip
def test_cron_fields(expr: str, after: str, first: str) -> None:
    assert S.slot_text(S.next_slot(S.validate_cron(expr), None, NY, at(after)), NY) == first


@pytest.mark.parametrize("params, field", [
    ({"cron": "61 * * * *"}, "cron"), ({"cron": "@reboot"}, "cron"), ({"every": 0}, "every"),
    ({"every": "0s"}, "every"), ({"every": "soon"}, "every"), ({"every": 10, "tz": "Mars/Base"}, "tz"),
    ({"every": 10, "overlap": "maybe"}, "overlap"), ({"every": 10, "catch_up": "some"}, "catch_up"),
    ({"every": 10, "cron": "* * * * *"}, "every"), ({}, "cron"),
    ({"every": 10, "job": {"command": ""}}, "command"), ({"every": 10, "job": {"command": "x", "id": "a"}}, "id"),
    ({"every": 10, "job": {"command": "x", "priority": "high"}}, "priority"),
])  # fmt: skip
def test_bad_input_names_the_field_and_changes_nothing(core: Core, params: dict[str, Any], field: str) -> None:
    params = {"job": {"command": "true"}, **params}
    err = call(core, "schedule.add", name="s", **params)
    assert err["data"]["field"] == field, err
    assert call(core, "schedule.list")["schedules"] == []
    err = call(core, "schedule.add", name="bad name", every=10, job={"command": "x"})
    assert err["data"]["field"] == "name"


# --- the core ----------------------------------------------------------------------------------


def test_a_run_is_made_on_time_as_an_ordinary_job(core: Core) -> None:
    set_wall(core, 1_800_000_003.0)
    sched = call(core, "schedule.add", name="tick", every="10s", tz="UTC",
                 job={"command": "true", "priority": 5, "env": {"A": "1"}})  # fmt: skip
    assert sched["next_run"] == J.format_time(1_800_000_010.0)
    # The loop sleeps no longer than until the slot.
    assert core.loop.poll_timeout(core.clock.mono() + 60, None) <= 7001
    core.clock.advance(6.9)
    core.turn()
    assert ids(core, "tick") == []
    core.clock.advance(0.1)
    core.turn()
    job = core.job("tick@2027-01-15T08:00:10+00:00")
    assert (job["state"], job["priority"], job["env"]) == (J.PENDING, 5, {"A": "1"})
    assert call(core, "schedule.list")["schedules"][0]["last_job"]["id"] == job["id"]


def test_overlap_skip_queue_allow(core: Core) -> None:
    for name, overlap in (("s", "skip"), ("q", "queue"), ("a", "allow")):
        call(core, "schedule.add", name=name, every=10, tz="UTC", overlap=overlap, job={"command": "x"})
    for _ in range(2):
        core.clock.advance(10)
        core.turn()
    assert len(ids(core, "s")) == 1  # the first is still pending: the second slot is skipped
    q = ids(core, "q")
    assert len(q) == 2 and core.job(q[0])["state"] == J.BLOCKED  # newest first: it waits
    assert [j["state"] for j in map(core.job, ids(core, "a"))] == [J.PENDING, J.PENDING]


def restart(core: Core) -> None:
    """What a new daemon does with schedules: load them, knowing slots until now were missed."""
    core.daemon.scheduler.load(core.clock.wall())


@pytest.mark.parametrize("catch_up, runs", [("none", 0), ("latest", 1), ("all", 5)])
def test_catch_up_after_downtime(core: Core, catch_up: str, runs: int) -> None:
    set_wall(core, 1_800_000_000.0)
    call(core, "schedule.add", name="c", every=60, tz="UTC", catch_up=catch_up, overlap="allow",
         job={"command": "x"})  # fmt: skip
    core.clock.advance(5 * 60 + 30)  # "down" for five slots
    restart(core)
    core.turn()
    made = ids(core, "c")
    assert len(made) == runs
    if catch_up == "latest":
        assert made == ["c@2027-01-15T08:05:00+00:00"]
    sched = call(core, "schedule.get", name="c")
    assert sched["next_run"] == J.format_time(1_800_000_000.0 + 6 * 60)


def test_catch_up_all_is_capped_at_100_and_chained(core: Core) -> None:
    call(core, "schedule.add", name="c", every=1, tz="UTC", catch_up="all", job={"command": "x"})
    core.clock.advance(500)
    restart(core)
    core.turn()
    made = ids(core, "c")
    assert len(made) == 100
    states = [core.job(i)["state"] for i in made]
    assert states.count(J.BLOCKED) == 99  # overlap skip: the caught-up runs wait for each other


def test_pause_resume_remove_set_and_run_by_hand(core: Core) -> None:
    call(core, "schedule.add", name="p", every=10, tz="UTC", job={"command": "x"})
    assert call(core, "schedule.pause", name="p")["paused"] is True
    core.clock.advance(30)
    core.turn()
    assert ids(core, "p") == []
    assert call(core, "schedule.resume", name="p")["paused"] is False
    job = call(core, "schedule.run", name="p")
    assert job["id"].startswith("p@") and job["state"] == J.PENDING
    changed = call(core, "schedule.set", name="p", cron="0 * * * *", job={"priority": 3})
    assert (changed["cron"], changed["every"], changed["job"]) == ("0 * * * *", None, {"command": "x", "priority": 3})
    assert call(core, "schedule.remove", name="p") == {"removed": "p"}
    assert call(core, "schedule.get", name="p")["data"]["name"] == "schedule_not_found"
    assert core.daemon.scheduler.next_due() is None


def test_dst_slots_through_the_core(core: Core) -> None:
    set_wall(core, at("2027-03-14T01:00"))
    call(core, "schedule.add", name="n", cron="30 2 * * *", tz=NY, job={"command": "x"})
    set_wall(core, at("2027-03-14T03:00") + 0.5)
    core.turn()
    assert ids(core, "n") == ["n@2027-03-14T03:00:00-04:00"]
    set_wall(core, at("2027-11-07T00:00"))
    restart(core)
    call(core, "schedule.set", name="n", cron="30 1 * * *", overlap="allow")
    for _ in range(6):
        core.clock.advance(1800)
        core.turn()
    assert [i for i in ids(core, "n") if "11-07" in i] == ["n@2027-11-07T01:30:00-04:00"]


def test_a_failed_commit_neither_loses_nor_repeats_a_slot(core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    call(core, "schedule.add", name="f", every=10, tz="UTC", job={"command": "x"})
    store = core.daemon.store
    real = store.schedule_advance

    def broken(*args: Any) -> None:
        real(*args)
        raise store.errors[0]("disk full")

    monkeypatch.setattr(store, "schedule_advance", broken)
    core.clock.advance(10)
    core.turn()
    assert ids(core, "f") == []
    monkeypatch.setattr(store, "schedule_advance", real)
    core.clock.advance(0.5)
    core.turn()
    assert len(ids(core, "f")) == 1
    core.turn()
    assert len(ids(core, "f")) == 1
