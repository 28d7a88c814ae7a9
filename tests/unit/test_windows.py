"""The runnable and timer windows over a real store: order, bounds, refills, and every
change undone by a rollback."""

from __future__ import annotations

from queuectl.daemon.journal import Journal
from queuectl.daemon.store import Store
from queuectl.daemon.windows import RunnableWindow, TimerWindow
from queuectl.jobs import JobSpec

NOW = 1_800_000_000.0


def add_jobs(store: Store, specs: list[JobSpec]) -> list[int]:
    with store.transaction():
        return [job.seq for job in store.insert_jobs(specs, NOW, 3, None)]


def test_dispatch_order_is_priority_then_enqueue_order(store: Store) -> None:
    add_jobs(store, [JobSpec("a", id="low"), JobSpec("b", id="high", priority=5), JobSpec("c", id="low2")])
    window = RunnableWindow(store, Journal())
    window.reload()
    assert [window.pop().id for _ in range(3)] == ["high", "low", "low2"]  # type: ignore[union-attr]
    assert window.pop() is None


def test_a_window_smaller_than_the_backlog_refills_and_keeps_order(store: Store) -> None:
    add_jobs(store, [JobSpec("x", id=f"j{i:02d}", priority=i % 3) for i in range(30)])
    window = RunnableWindow(store, Journal(), size=4)
    window.reload()
    assert len(window) == 4 and not window.complete
    popped = []
    while (job := window.pop()) is not None:
        popped.append(job.id)
        with store.transaction():  # as dispatch does: it leaves the pending state
            store.claim(job, 1, NOW)
    expected = sorted((f"j{i:02d}" for i in range(30)), key=lambda j: (-(int(j[1:]) % 3), j))
    assert popped == expected


def test_a_job_behind_the_window_waits_for_a_refill(store: Store) -> None:
    add_jobs(store, [JobSpec("x", id=f"j{i}") for i in range(5)])
    window = RunnableWindow(store, Journal(), size=3)
    window.reload()
    (late,) = add_jobs(store, [JobSpec("late", id="late")])
    window.add(store.runnable(late))  # type: ignore[arg-type]
    assert late not in window  # it sorts after the window's last entry
    (urgent,) = add_jobs(store, [JobSpec("urgent", id="urgent", priority=9)])
    window.add(store.runnable(urgent))  # type: ignore[arg-type]
    assert window.pop().id == "urgent"  # type: ignore[union-attr]


def test_a_rollback_undoes_pops_adds_drops_and_reloads(store: Store) -> None:
    seqs = add_jobs(store, [JobSpec("x", id=f"j{i}") for i in range(6)])
    journal = Journal()
    window = RunnableWindow(store, journal, size=4)
    window.reload()
    before = (sorted(window.jobs), window.complete, window.bound)
    journal.begin()
    window.pop()
    window.drop(seqs[2])
    window.reload()
    window.pop()
    journal.abort()
    assert (sorted(window.jobs), window.complete, window.bound) == before
    assert [window.pop().id for _ in range(4)] == ["j0", "j1", "j2", "j3"]  # type: ignore[union-attr]


def test_timers_come_due_in_time_order_and_a_rollback_brings_them_back(store: Store) -> None:
    specs = [JobSpec("t", id=f"t{i}", run_at=NOW + 10 - i) for i in range(5)]
    seqs = add_jobs(store, specs)
    journal = Journal()
    timers = TimerWindow(store, journal)
    timers.reload()
    assert timers.next_due() == NOW + 6
    journal.begin()
    assert timers.pop_due(NOW + 7.5) == [seqs[4], seqs[3]]
    timers.drop(seqs[0])
    journal.abort()
    assert timers.pop_due(NOW + 100) == list(reversed(seqs))
    assert timers.next_due() is None


def test_first_n_are_the_next_pops_in_order_and_stay_in_the_window(store: Store) -> None:
    add_jobs(store, [JobSpec("x", id=f"j{i}", priority=i % 2) for i in range(6)])
    window = RunnableWindow(store, Journal())
    window.reload()
    window.drop(window.first(1)[0].seq)  # (a stale heap entry: skipped)
    first = [j.id for j in window.first(3)]
    assert first == ["j3", "j5", "j0"] and len(window) == 5
    assert [window.pop().id for _ in range(3)] == first  # type: ignore[union-attr]
    assert [j.id for j in window.first(10)] == ["j2", "j4"]
