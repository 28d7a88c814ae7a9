"""The pure parts of named queues (fair order, slot indices, validation) and dispatch with
limits on the real core (fake clock, stand-in children)."""

from __future__ import annotations

import pytest

from queuectl import queues as Q
from queuectl.daemon import wire
from tests.unit.conftest import Core
from tests.unit.test_dispatch import enqueue, finish, start


def test_slots_are_the_lowest_free_indices() -> None:
    assert Q.allocate_slots([], 1) == (0,)
    assert Q.allocate_slots([0, 2], 2) == (1, 3)
    assert Q.format_slots((2, 3)) == "2,3"


def test_fair_share_serves_queues_in_proportion_to_their_weights() -> None:
    fair = Q.FairShare()
    served = {"a": 0, "b": 0}
    weights = {"a": 1, "b": 3}
    for _ in range(400):
        first = fair.rank(["a", "b"])[0]
        served[first] += 1
        fair.served(first, 1, weights[first])
    assert served == {"a": 100, "b": 300}


def test_a_queue_that_was_idle_goes_first_and_keeps_no_credit() -> None:
    fair = Q.FairShare()
    for _ in range(50):
        fair.served(fair.rank(["busy"])[0], 1, 1)
    fair.forget_idle(["busy"])
    order = fair.rank(["busy", "new"])
    assert order[0] == "new"  # it joins at the lowest pass, and was served longest ago
    fair.served("new", 1, 1)
    assert fair.rank(["busy", "new"])[0] == "busy"  # no credit: they alternate from here


@pytest.mark.parametrize("bad", ["", "a" * 65, "a b", "é", "x/y", None, 3])
def test_queue_names_outside_the_pattern_are_refused(bad: object) -> None:
    with pytest.raises(Q.ValidationError):
        Q.validate_name(bad)


@pytest.mark.parametrize("fn, bad", [(Q.validate_concurrency, -1), (Q.validate_concurrency, 10_001),
                                     (Q.validate_concurrency, True), (Q.validate_slots, 0),
                                     (Q.validate_weight, 0), (Q.validate_tags, {"a b": "x"}),
                                     (Q.validate_tags, {"k": 1}), (Q.validate_tags, [])])  # fmt: skip
def test_limits_out_of_range_are_refused(fn: object, bad: object) -> None:
    with pytest.raises(Q.ValidationError):
        fn(bad)  # type: ignore[operator]


def add_queue(core: Core, name: str, concurrency: int, weight: int = 1) -> None:
    core.turn(core.request("queue.add", {"name": name, "concurrency": concurrency, "weight": weight}))
    assert "result" in core.replies()[0]


def test_a_queue_never_holds_more_than_its_concurrency(core: Core) -> None:
    a, b, c = core.add_child(), core.add_child(), core.add_child()
    add_queue(core, "one", 1)
    enqueue(core, *({"command": "x", "id": f"o{i}", "queue": "one"} for i in range(3)),
            {"command": "x", "id": "d0"})  # fmt: skip
    runs = core.runs()
    assert sorted(m.job_id for _, m in runs) == ["d0", "o0"]  # one of `one`, even ahead of time
    (child, run), = [r for r in runs if r[1].job_id == "o0"]
    assert (run.queue, run.slot) == ("one", "0")
    start(core, child, run)
    finish(core, child, run)
    assert [m.job_id for _, m in core.runs()] == ["o1"]
    del a, b, c


def test_a_wide_job_holds_its_slots_of_the_pool_and_gets_distinct_indices(core: Core) -> None:
    for _ in range(3):
        core.add_child()
    add_queue(core, "gpu", 4)
    enqueue(core, {"command": "x", "id": "wide", "queue": "gpu", "slots": 2},
            {"command": "x", "id": "n1", "queue": "gpu"}, {"command": "x", "id": "n2", "queue": "gpu"})  # fmt: skip
    runs = {m.job_id: (c, m) for c, m in core.runs()}
    # 2 + 1 slots fill the pool of 3; n2 is handed out ahead behind one of them, holding slot 3
    assert runs["wide"][1].slot == "0,1" and runs["n1"][1].slot == "2" and runs["n2"][1].slot == "3"


def test_a_paused_queue_starts_nothing_and_resumes(core: Core) -> None:
    core.add_child()
    add_queue(core, "p", 5)
    core.turn(core.request("queue.pause", {"name": "p"}))
    enqueue(core, {"command": "x", "id": "j", "queue": "p"})
    assert core.runs() == []
    core.turn(core.request("queue.resume", {"name": "p"}))
    assert [m.job_id for _, m in core.runs()] == ["j"]


def test_pause_kill_stops_what_runs_and_it_comes_back_pending_uncharged(core: Core) -> None:
    child = core.add_child()
    add_queue(core, "p", 5)
    enqueue(core, {"command": "x", "id": "j", "queue": "p", "max_retries": 0})
    (_, run), = core.runs()
    start(core, child, run)
    core.turn(core.request("queue.pause", {"name": "p", "kill": True}))
    assert (child, wire.Abort(run.seq, "pause")) in core.sent.to_children
    core.turn(reports=(wire.Finished(child, run.seq, run.attempt, core.clock.wall(), None, 15, False, "pause",
                                     0, 0, None),))  # fmt: skip
    job = core.job("j")
    assert job["state"] == "pending" and job["charged"] == 0
