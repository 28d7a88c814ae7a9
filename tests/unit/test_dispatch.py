"""The dispatch rule on the real core: a free worker always takes the best runnable
job, no job waits behind a running one while a worker is idle, and handing jobs out
ahead happens only while every worker is busy, taken back when that stops being so."""

from __future__ import annotations

from queuectl import jobs as J
from queuectl.daemon import wire
from tests.unit.conftest import Core


def start(core: Core, child: int, run: wire.Run) -> None:
    core.turn(reports=(wire.Started(child, run.seq, run.attempt, core.clock.wall(), 100 + run.seq,
                                    f"1-{child}-1", 0, 0),))  # fmt: skip


def finish(core: Core, child: int, run: wire.Run) -> None:
    core.turn(reports=(wire.Finished(child, run.seq, run.attempt, core.clock.wall(), 0, None, False,
                                     None, 0, 0, None),))  # fmt: skip


def enqueue(core: Core, *jobs: dict[str, object]) -> None:
    core.turn(core.request("job.enqueue_many", {"jobs": list(jobs)}))


def revokes(core: Core) -> list[tuple[int, int]]:
    found = [(c, m.seq) for c, m in core.sent.to_children if isinstance(m, wire.Revoke)]
    core.sent.to_children[:] = [(c, m) for c, m in core.sent.to_children if not isinstance(m, wire.Revoke)]
    return found


def test_while_every_worker_is_busy_each_gets_its_next_job_ahead(core: Core) -> None:
    a, b = core.add_child(), core.add_child()
    enqueue(core, *({"command": "x", "id": f"j{i}"} for i in range(6)))
    runs = core.runs()
    assert [(c, m.job_id) for c, m in runs] == [(a, "j0"), (b, "j1"), (a, "j2"), (b, "j3")]
    counts = core.daemon.store.counts
    assert counts[J.ASSIGNED] == 4 and counts[J.PROCESSING] == 0 and counts[J.PENDING] == 2
    start(core, a, runs[0][1])
    assert core.daemon.store.counts[J.PROCESSING] == 1  # processing: only what runs
    # Equal priorities drain in order: nothing is ever taken back.
    finish(core, a, runs[0][1])
    start(core, a, runs[2][1])
    assert [(c, m.job_id) for c, m in core.runs()] == [(a, "j4")]
    assert revokes(core) == []


def test_a_job_waiting_behind_a_long_one_is_taken_back_when_a_worker_falls_idle(core: Core) -> None:
    a, b = core.add_child(), core.add_child()
    core.daemon.events.subscription_message(b"\x01job.")
    enqueue(core, *({"command": "x", "id": f"j{i}"} for i in range(4)))
    runs = core.runs()
    for child, run in runs[:2]:
        start(core, child, run)
    finish(core, b, runs[1][1])  # b's job ends; it starts j3, queued behind it...
    start(core, b, runs[3][1])
    finish(core, b, runs[3][1])  # ...and ends that too: b is idle, j2 waits behind a's j0
    assert revokes(core) == [(a, runs[2][1].seq)]
    core.turn(reports=(wire.Returned(a, runs[2][1].seq, runs[2][1].attempt),))
    (child, run), = core.runs()
    assert (child, run.job_id) == (b, "j2")  # the idle worker takes it
    j2 = [(e["event"], e.get("child")) for e in core.sent.events if e["job_id"] == "j2"]
    assert j2 == [("job.enqueued", None), ("job.assigned", a), ("job.returned", None),
                  ("job.assigned", b)]  # fmt: skip


def test_a_better_job_takes_back_the_worse_ones_handed_out_ahead(core: Core) -> None:
    a, b = core.add_child(), core.add_child()
    enqueue(core, *({"command": "x", "id": f"low{i}"} for i in range(6)))
    runs = core.runs()
    for child, run in runs[:2]:
        start(core, child, run)
    enqueue(core, {"command": "x", "id": "urgent", "priority": 100})
    assert sorted(revokes(core)) == sorted([(a, runs[2][1].seq), (b, runs[3][1].seq)])
    # a crosses the revoke: it had started low2 already; b hands low3 back.
    start(core, a, runs[2][1])
    core.turn(reports=(wire.Returned(b, runs[3][1].seq, runs[3][1].attempt),))
    assert core.job("low2")["state"] == J.PROCESSING and core.job("low3")["state"] == J.PENDING
    finish(core, b, runs[1][1])  # the first worker to be free takes the urgent job
    (child, run), = [r for r in core.runs() if r[1].job_id == "urgent"]
    assert child == b


def test_a_cancel_of_a_job_waiting_behind_another_gives_it_back_cancelled(core: Core) -> None:
    a = core.add_child()
    enqueue(core, {"command": "x", "id": "first"}, {"command": "x", "id": "second"})
    runs = core.runs()
    start(core, a, runs[0][1])
    core.replies()
    core.turn(core.request("job.cancel", {"id": "second"}))
    assert (a, wire.Abort(runs[1][1].seq, "cancel")) in core.sent.to_children
    core.turn(reports=(wire.Returned(a, runs[1][1].seq, runs[1][1].attempt),))
    assert core.job("second")["state"] == J.CANCELLED
    assert [r["result"]["state"] for r in core.replies() if "result" in r] == [J.CANCELLED]
