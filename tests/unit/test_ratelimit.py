"""Rate limits: parsing a rate, the sliding-window rule (pure), and dispatch keeping it on
the real core with a clock the test moves (the daemon wakes itself when a window frees)."""

from __future__ import annotations

import random

import pytest

from queuectl import jobs as J
from queuectl.daemon import wire
from queuectl.ratelimit import Rate, SlidingWindow, parse_rate
from queuectl.validation import ValidationError
from tests.unit.conftest import Core


@pytest.mark.parametrize(("text", "count", "period"), [
    ("10/m", 10, 60.0), ("2/s", 2, 1.0), ("5/10s", 5, 10.0), ("100/hour", 100, 3600.0),
    ("3 / minutes", 3, 60.0), ("1/1.5h", 1, 5400.0), ("7/Second", 7, 1.0), ("4/2d", 4, 172800.0),
])  # fmt: skip
def test_rates_as_people_write_them(text: str, count: int, period: float) -> None:
    assert parse_rate(text) == Rate(count, period)


def test_none_is_no_limit_and_the_short_form_reads_back() -> None:
    assert parse_rate("none") is None and parse_rate("NONE") is None and parse_rate("") is None
    for text in ("10/m", "2/s", "5/10s", "3/90m", "1/h", "8/2d", "1/0.5s"):
        rate = parse_rate(text)
        assert rate is not None and str(rate) == text and parse_rate(str(rate)) == rate


@pytest.mark.parametrize(("text", "message"), [
    ("0/s", "from 1 to"), ("-3/m", "from 1 to"), ("1.5/s", "whole number"), ("ten/s", "whole number"),
    ("10", "not a rate"), ("10/fortnight", "not a rate"), ("10/0s", "period"), ("10/9w", "not a rate"),
    ("5/", "not a rate"), ("/s", "not a rate"), ("200000/s", "from 1 to"), ("1/30d", "period"),
])  # fmt: skip
def test_bad_rates_are_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_rate(text)


def test_the_window_says_when_the_next_start_may_happen() -> None:
    w = SlidingWindow(Rate(3, 10.0))
    assert w.room(0.0) == 3 and w.free_at(0.0) == 0.0
    for t in (0.0, 1.0, 2.0):
        w.add(t)
    assert w.room(5.0) == 0 and w.free_at(5.0) == 10.0  # the oldest leaves at 0 + 10
    assert w.room(10.0) == 1 and w.free_at(10.0) == 10.0
    assert w.room(10.0, on_the_way=1) == 0 and w.free_at(10.0, on_the_way=1) == 11.0
    assert w.free_at(10.0, on_the_way=3) is None  # every place is a job's on its way
    # A start later than now (the wall clock stepped back) holds for one period at most.
    w2 = SlidingWindow(Rate(1, 10.0))
    w2.add(1000.0)
    assert w2.room(0.0) == 0 and w2.free_at(0.0) == 10.0


def test_undo_puts_the_window_back() -> None:
    w = SlidingWindow(Rate(2, 10.0))
    w.add(1.0)
    w.add(2.0)
    before = list(w.starts)
    evicted = w.add(3.0)
    assert evicted == 1.0 and list(w.starts) == [2.0, 3.0]
    w.undo_add(3.0, evicted)
    assert list(w.starts) == before
    evicted = w.add(0.5)  # out of order: older than all of them
    w.undo_add(0.5, evicted)
    assert list(w.starts) == before


def test_starting_whenever_the_window_allows_never_puts_more_than_n_in_a_period() -> None:
    rng = random.Random(7)
    for _ in range(50):
        rate = Rate(rng.randint(1, 6), rng.choice([0.5, 1.0, 3.0]))
        w = SlidingWindow(rate)
        now, starts = 0.0, []
        for _ in range(200):
            now += rng.expovariate(8.0)
            if w.room(now) > 0:
                at = now + rng.random() * 0.01  # a start happens a little after it is allowed
                w.add(at)
                starts.append(at)
        for i, s in enumerate(starts):
            assert sum(1 for t in starts[i:] if t < s + rate.period) <= rate.count


# --- dispatch keeps the limit (the real core, a FakeClock) -------------------------------------


def _start(core: Core, child: int, run: wire.Run) -> None:
    core.turn(reports=(wire.Started(child, run.seq, run.attempt, core.clock.wall(), 100 + run.seq,
                                    f"1-{child}-1", 0, 0),))  # fmt: skip


def _finish(core: Core, child: int, run: wire.Run) -> None:
    core.turn(reports=(wire.Finished(child, run.seq, run.attempt, core.clock.wall(), 0, None, False,
                                     None, 0, 0, None),))  # fmt: skip


def _run_all(core: Core) -> list[tuple[int, wire.Run]]:
    """Start and finish every job just handed out (each child is free again)."""
    runs = core.runs()
    for child, run in runs:
        _start(core, child, run)
        _finish(core, child, run)
    return runs


def test_a_queue_rate_spreads_starts_and_the_daemon_wakes_when_the_window_frees(core: Core) -> None:
    children = [core.add_child() for _ in range(4)]
    core.turn(core.request("queue.add", {"name": "api", "rate": "2/s"}))
    core.turn(core.request("job.enqueue_many", {"jobs": [{"command": "x", "queue": "api"} for _ in range(5)]}))
    assert len(children) == 4
    first = _run_all(core)
    assert len(first) == 2  # four idle workers, but 2 per second
    assert core.daemon.store.queue_counts["api"][J.PENDING] == 3
    assert core.daemon.rates.wake_at == pytest.approx(core.clock.wall() + 1.0)
    view = core.daemon.queues.view(core.daemon.queues.configs["api"], core.clock.wall())
    assert (view["rate"], view["rate_limited"]) == ("2/s", 3) and view["rate_free_at"] is not None
    core.clock.advance(0.5)
    core.turn()
    assert core.runs() == []  # not yet
    core.clock.advance(0.5)
    core.turn()  # (the loop's poll timeout ends here: wake_at)
    assert len(_run_all(core)) == 2
    core.clock.advance(1.0)
    core.turn()
    assert len(_run_all(core)) == 1
    assert core.daemon.rates.wake_at is None  # nothing pending: no wake-up


def test_jobs_handed_out_and_not_started_hold_their_places(core: Core) -> None:
    for _ in range(3):
        core.add_child()
    core.turn(core.request("queue.add", {"name": "api", "rate": "2/s"}))
    core.turn(core.request("job.enqueue_many", {"jobs": [{"command": "x", "queue": "api"} for _ in range(4)]}))
    runs = core.runs()
    assert len(runs) == 2
    core.clock.advance(5.0)
    core.turn()
    assert core.runs() == []  # the two have not started: their places are theirs
    core.turn(reports=(wire.Returned(runs[0][0], runs[0][1].seq, runs[0][1].attempt),))
    assert len(core.runs()) == 1  # one handed back: its place is free again


def test_the_global_limit_holds_every_queue_and_lifting_it_lets_them_go(core: Core) -> None:
    for _ in range(4):
        core.add_child()
    core.turn(core.request("config.set", {"key": "rate_limit", "value": "3/m"}))
    core.turn(core.request("queue.add", {"name": "other"}))
    jobs = [{"command": "x"} for _ in range(3)] + [{"command": "x", "queue": "other"} for _ in range(3)]
    core.turn(core.request("job.enqueue_many", {"jobs": jobs}))
    assert len(_run_all(core)) == 3
    status = core.daemon.queues.pool_rate_view(core.clock.wall())
    assert status["rate"] == "3/m" and status["rate_limited"] == 3
    core.turn(core.request("config.set", {"key": "rate_limit", "value": "none"}))
    core.turn()
    assert len(_run_all(core)) == 3


def test_a_new_limit_and_a_restart_count_the_starts_already_made(core: Core) -> None:
    for _ in range(2):
        core.add_child()
    core.turn(core.request("queue.add", {"name": "api"}))
    core.turn(core.request("job.enqueue_many", {"jobs": [{"command": "x", "queue": "api"} for _ in range(2)]}))
    assert len(_run_all(core)) == 2
    core.turn(core.request("queue.set", {"name": "api", "rate": "2/m"}))
    core.turn(core.request("job.enqueue", {"command": "x", "queue": "api"}))
    assert core.runs() == []  # both starts of the last minute count
    d = core.daemon
    d.rates.load(d.store, d.queues, None, core.clock.wall())  # what a restart does
    assert len(d.rates.queues["api"].starts) == 2
    core.clock.advance(60.0)
    core.turn()
    assert len(core.runs()) == 1


def test_a_hook_is_not_held_by_a_full_window(core: Core) -> None:
    core.add_child()
    core.turn(core.request("queue.add", {"name": "api", "rate": "1/h"}))
    core.turn(core.request("job.enqueue_many", {"jobs": [
        {"command": "false", "queue": "api", "id": "a", "max_retries": 0, "on_failure": "notify"},
        {"command": "x", "queue": "api", "id": "b"},
    ]}))  # fmt: skip
    (child, run), = core.runs()
    _start(core, child, run)
    core.turn(reports=(wire.Finished(child, run.seq, run.attempt, core.clock.wall(), 1, None, False, None,
                                     0, 0, None),))  # fmt: skip
    (_, hook), = core.runs()
    assert hook.job_id == "a.hook.failure" and core.job("b")["state"] == J.PENDING


def test_a_start_reported_in_a_turn_that_cannot_commit_is_counted_once(core: Core) -> None:
    from tests.unit.test_rollback import fill_the_disk, free_the_disk, too_big

    child = core.add_child()
    core.turn(core.request("queue.add", {"name": "api", "rate": "5/m"}))
    core.turn(core.request("job.enqueue", {"command": "x", "queue": "api"}))
    (_, run), = core.runs()
    fill_the_disk(core)
    core.turn(too_big(core), reports=(wire.Started(child, run.seq, run.attempt, core.clock.wall(), 4242,
                                                   "1-1-1", 0, 0),))  # fmt: skip
    free_the_disk(core)
    core.turn()
    assert len(core.daemon.rates.queues["api"].starts) == 1
