"""Dependencies (`after`) on the daemon's real core and a fake clock: blocked jobs,
release, cancel propagation, retry bringing dependents back, cycles, crash safety."""

from __future__ import annotations

from typing import Any

import pytest

from queuectl import jobs as J
from queuectl.daemon import wire
from tests.unit.conftest import Core

CHILD = 1


@pytest.fixture
def dcore(core: Core) -> Core:
    core.add_child()
    return core


def enqueue(core: Core, **spec: Any) -> Any:
    core.turn(core.request("job.enqueue", {"command": "x", **spec}))
    return core.replies()[-1]


def many(core: Core, jobs: list[dict[str, Any]], **params: Any) -> Any:
    core.turn(core.request("job.enqueue_many", {"jobs": jobs, **params}))
    return core.replies()[-1]


def run_next(core: Core, exit_code: int = 0) -> str:
    """The child runs what it was handed and reports it finished with `exit_code`."""
    stash = core.__dict__.setdefault("stash", [])
    stash.extend(core.runs())
    assert stash, "nothing was dispatched"
    child, run = stash.pop(0)
    now = core.clock.wall()
    core.turn(reports=(wire.Started(child, run.seq, run.attempt, now, 4242, "1-1-1", 0, 0),
                       wire.Finished(child, run.seq, run.attempt, now + 0.1, exit_code, None, False, None,
                                     0, 0, None)))  # fmt: skip
    return run.job_id


def state(core: Core, job_id: str) -> str:
    return core.job(job_id)["state"]


def test_a_job_waits_for_its_parent_then_runs(dcore: Core) -> None:
    enqueue(dcore, id="a", max_retries=0)
    enqueue(dcore, id="b", after=["a"])
    assert state(dcore, "b") == J.BLOCKED
    assert dcore.daemon.store.counts[J.BLOCKED] == 1
    assert run_next(dcore) == "a"
    assert state(dcore, "b") in (J.PENDING, J.ASSIGNED)
    assert run_next(dcore) == "b"
    assert state(dcore, "b") == J.COMPLETED


def test_a_comma_separated_after_and_a_fan_in(dcore: Core) -> None:
    for name in ("p1", "p2", "p3"):
        enqueue(dcore, id=name)
    enqueue(dcore, id="c", after="p1,p2,p3")
    for _ in range(3):
        assert state(dcore, "c") == J.BLOCKED
        run_next(dcore)
    assert run_next(dcore) == "c"


def test_a_dead_parent_cancels_the_chain_naming_it(dcore: Core) -> None:
    reply = many(dcore, [{"id": "a", "command": "x", "max_retries": 0},
                         {"id": "b", "command": "x", "after": ["a"]},
                         {"id": "c", "command": "x", "after": ["b"]}])  # fmt: skip
    assert reply["result"]["count"] == 3
    run_next(dcore, exit_code=3)
    assert state(dcore, "a") == J.DEAD
    b, c = dcore.job("b"), dcore.job("c")
    assert b["state"] == c["state"] == J.CANCELLED
    assert "parent a is dead" in b["last_error"]
    assert "parent b was cancelled" in c["last_error"]


@pytest.mark.parametrize("condition, exit_code, runs", [
    ("success", 0, True), ("success", 1, False), ("failure", 1, True), ("failure", 0, False),
    ("always", 0, True), ("always", 1, True),
])  # fmt: skip
def test_conditions(dcore: Core, condition: str, exit_code: int, runs: bool) -> None:
    enqueue(dcore, id="a", max_retries=0)
    enqueue(dcore, id="b", after=["a"], after_condition=condition)
    run_next(dcore, exit_code)
    assert state(dcore, "b") == (J.ASSIGNED if runs else J.CANCELLED)


def test_retrying_a_dead_parent_brings_its_cancelled_dependents_back(dcore: Core) -> None:
    many(dcore, [{"id": "a", "command": "x", "max_retries": 0},
                 {"id": "b", "command": "x", "after": ["a"]},
                 {"id": "c", "command": "x", "after": ["b"]},
                 {"id": "d", "command": "x", "after": ["a"], "after_condition": "always"}])  # fmt: skip
    run_next(dcore, exit_code=1)
    assert [state(dcore, j) for j in "bc"] == [J.CANCELLED, J.CANCELLED]
    run_next(dcore)  # d ran (always)
    dcore.turn(dcore.request("job.retry", {"id": "a"}))
    assert [state(dcore, j) for j in "bcd"] == [J.BLOCKED, J.BLOCKED, J.COMPLETED]
    assert dcore.job("b")["last_error"] is None
    assert run_next(dcore) == "a"
    assert run_next(dcore) == "b"
    assert run_next(dcore) == "c"


def test_a_batch_may_name_its_own_ids_in_any_order(dcore: Core) -> None:
    reply = many(dcore, [{"id": "late", "command": "x", "after": ["early"]},
                         {"id": "early", "command": "x"}])  # fmt: skip
    assert reply["result"]["count"] == 2
    assert state(dcore, "late") == J.BLOCKED


@pytest.mark.parametrize("jobs, message", [
    ([{"id": "a", "command": "x", "after": ["b"]}, {"id": "b", "command": "x", "after": ["a"]}], "cycle"),
    ([{"id": "a", "command": "x", "after": ["a"]}], "itself"),
    ([{"id": "a", "command": "x", "after": ["nope"]}], "no job with id 'nope'"),
    ([{"id": "a", "command": "x", "after": [1]}], "after must be"),
    ([{"id": "a", "command": "x", "after": ["b"], "after_condition": "maybe"}], "after_condition"),
])  # fmt: skip
def test_bad_after_is_refused_and_nothing_changes(dcore: Core, jobs: list[Any], message: str) -> None:
    reply = many(dcore, jobs)
    assert message in reply["error"]["message"]
    assert reply["error"]["data"]["field"] in ("after", "after_condition")
    assert dcore.daemon.store.counts == dict.fromkeys(J.STATES, 0)


def test_a_parent_already_final(dcore: Core) -> None:
    enqueue(dcore, id="a")
    run_next(dcore)
    enqueue(dcore, id="ok", after=["a"])
    assert state(dcore, "ok") == J.ASSIGNED
    enqueue(dcore, id="no", after=["a"], after_condition="failure")
    job = dcore.job("no")
    assert job["state"] == J.CANCELLED and "parent a completed" in job["last_error"]


def test_cancel_with_dependents_and_plain_cancel(dcore: Core) -> None:
    many(dcore, [{"id": "a", "command": "x", "delay": 60},
                 {"id": "b", "command": "x", "after": ["a"], "after_condition": "always"},
                 {"id": "c", "command": "x", "after": ["b"], "after_condition": "always"}])  # fmt: skip
    dcore.turn(dcore.request("job.cancel", {"id": "a", "with_dependents": True}))
    assert [state(dcore, j) for j in "abc"] == [J.CANCELLED] * 3
    assert dcore.runs() == []
    many(dcore, [{"id": "x", "command": "x", "delay": 60},
                 {"id": "y", "command": "x", "after": ["x"]}])  # fmt: skip
    dcore.turn(dcore.request("job.cancel", {"id": "x"}))
    assert state(dcore, "y") == J.CANCELLED and "parent x was cancelled" in dcore.job("y")["last_error"]


def test_deleting_a_parent_releases_or_cancels(dcore: Core) -> None:
    many(dcore, [{"id": "a", "command": "x", "delay": 60},
                 {"id": "b", "command": "x", "after": ["a"]},
                 {"id": "c", "command": "x", "after": ["a"], "after_condition": "always"}])  # fmt: skip
    dcore.turn(dcore.request("job.delete", {"id": "a"}))
    assert state(dcore, "b") == J.CANCELLED and "deleted" in dcore.job("b")["last_error"]
    assert state(dcore, "c") == J.ASSIGNED


def test_show_lists_parents_and_dependents(dcore: Core) -> None:
    many(dcore, [{"id": "a", "command": "x", "delay": 60},
                 {"id": "b", "command": "x", "after": ["a"]}])  # fmt: skip
    dcore.turn(dcore.request("job.get", {"id": "b"}), dcore.request("job.get", {"id": "a"}))
    b, a = (r["result"] for r in dcore.replies())
    assert [p["id"] for p in b["parents"]] == ["a"] and b["dependents"] == []
    assert a["dependents"] == [{"id": "b", "state": "blocked", "last_error": None}]
    assert b["after_condition"] == "success"


def test_a_dependent_with_run_at_ahead_is_scheduled_when_released(dcore: Core) -> None:
    enqueue(dcore, id="a")
    enqueue(dcore, id="b", after=["a"], delay=30)
    run_next(dcore)
    assert state(dcore, "b") == J.SCHEDULED
    dcore.clock.advance(31)
    dcore.turn()
    assert run_next(dcore) == "b"


def test_a_failed_commit_leaves_blocked_jobs_blocked(dcore: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    enqueue(dcore, id="a")
    enqueue(dcore, id="b", after=["a"])
    (child, run), = dcore.runs()
    store = dcore.daemon.store
    real = store.unblock

    def broken(*args: Any) -> str:
        real(*args)
        raise store.errors[0]("disk full")

    monkeypatch.setattr(store, "unblock", broken)
    now = dcore.clock.wall()
    dcore.turn(reports=(wire.Started(child, run.seq, run.attempt, now, 1, "1-1-1", 0, 0),
                        wire.Finished(child, run.seq, run.attempt, now, 0, None, False, None, 0, 0, None)))
    assert state(dcore, "b") == J.BLOCKED and store.counts[J.BLOCKED] == 1
    monkeypatch.setattr(store, "unblock", real)
    dcore.clock.advance(2)
    dcore.turn()  # the report is applied again
    assert state(dcore, "a") == J.COMPLETED
    assert state(dcore, "b") in (J.PENDING, J.ASSIGNED)


def test_a_10000_job_chain_in_one_batch(dcore: Core) -> None:
    jobs = [{"id": f"n{i}", "command": "x", **({"after": [f"n{i - 1}"]} if i else {})} for i in range(10_000)]
    reply = many(dcore, jobs)
    assert reply["result"]["count"] == 10_000
    assert dcore.daemon.store.counts[J.BLOCKED] == 9_999
