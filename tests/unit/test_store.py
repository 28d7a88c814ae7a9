"""The SQLite store on a temporary file: what the daemon relies on it for."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from queuectl import jobs as J
from queuectl.daemon.store import SCHEMA_VERSION, DuplicateIdError, Store
from queuectl.daemon.store.interface import ClaimLost
from queuectl.jobs import JobSpec

NOW = 1_800_000_000.0


def test_ids_are_unique_across_the_table_and_within_a_batch(store: Store) -> None:
    with store.transaction():
        store.insert_jobs([JobSpec("a", id="one")], NOW, 3, None)
    for batch, index, why in (([JobSpec("b", id="two"), JobSpec("c", id="one")], 1, "exists already"),
                              ([JobSpec("b", id="x"), JobSpec("c", id="x")], 1, "appears twice")):  # fmt: skip
        with pytest.raises(DuplicateIdError) as err, store.transaction():
            store.insert_jobs(batch, NOW, 3, None)
        assert err.value.index == index and why in err.value.why
    assert store.counts[J.PENDING] == 1 and store.get("two") is None  # all or nothing


def test_a_savepoint_that_fails_leaves_rows_and_counts_as_they_were(store: Store) -> None:
    with store.transaction():
        store.insert_jobs([JobSpec("a", id="kept")], NOW, 3, None)
        with pytest.raises(RuntimeError), store.savepoint():
            store.insert_jobs([JobSpec("b", id="gone")], NOW, 3, None)
            raise RuntimeError("a bug in a handler")
    assert store.get("gone") is None and store.get("kept") is not None
    assert store.counts[J.PENDING] == 1


def test_an_attempt_runs_its_course_and_counts_follow(store: Store) -> None:
    with store.transaction():
        (job,) = store.insert_jobs([JobSpec("a", id="j")], NOW, 3, None)
        n = store.claim(job, child=1, now=NOW)
        store.mark_started(job.seq, n, NOW + 0.1, 4321, "1-1-1", 0, 0)
        store.finish_attempt(job.seq, n, NOW + 1, exit_code=2, signal=None, timed_out=False,
                             error="exit code 2", out_len=5, err_len=0, charged=True,
                             new_state=J.FAILED, run_at=NOW + 3, last_error="exit code 2")  # fmt: skip
    row = store.get("j")
    assert row is not None and (row["state"], row["attempts"], row["charged"]) == (J.FAILED, 1, 1)
    assert store.timed_window(10) == [(NOW + 3, job.seq)]
    assert store.counts[J.FAILED] == 1 and store.counts[J.PROCESSING] == 0
    (attempt,) = store.attempts_of(job.seq)
    assert attempt["segment"] == "1-1-1" and attempt["out_len"] == 5


def test_a_start_and_its_finish_in_one_turn_are_one_write_and_lose_nothing(store: Store) -> None:
    with store.transaction():
        quick, slow = store.insert_jobs([JobSpec("true", id="quick"), JobSpec("sleep 9", id="slow")],
                                        NOW, 3, None)  # fmt: skip
        nq, ns = store.claim(quick, 1, NOW), store.claim(slow, 2, NOW)
        store.mark_started(quick.seq, nq, NOW + 0.1, 11, "1-1-1", 7, 8)
        store.mark_started(slow.seq, ns, NOW + 0.2, 22, "1-2-1", 0, 0)
        assert store.counts[J.PROCESSING] == 2  # counts follow at once
        store.finish_attempt(quick.seq, nq, NOW + 0.3, exit_code=0, signal=None, timed_out=False,
                             error=None, out_len=3, err_len=0, charged=True,
                             new_state=J.COMPLETED, run_at=None, last_error=None)  # fmt: skip
    # (slow's start was held: the commit wrote it)
    q, s = store.get("quick"), store.get("slow")
    assert q is not None and s is not None
    assert (q["state"], q["started_at"], q["finished_at"]) == (J.COMPLETED, NOW + 0.1, NOW + 0.3)
    assert (s["state"], s["started_at"]) == (J.PROCESSING, NOW + 0.2)
    (qa,), (sa,) = store.attempts_of(quick.seq), store.attempts_of(slow.seq)
    assert (qa["started_at"], qa["pid"], qa["segment"], qa["out_off"], qa["out_len"]) == \
        (NOW + 0.1, 11, "1-1-1", 7, 3)  # fmt: skip
    assert (sa["started_at"], sa["pid"], sa["segment"]) == (NOW + 0.2, 22, "1-2-1")


def test_unique_holds_end_as_unique_while_says_with_held_starts(store: Store) -> None:
    """A `pending` hold ends when the start is written, whether on its own (write_starts)
    or together with the attempt's finish; an `active` one only when the job is final."""
    specs = [JobSpec("true", id=f"{hold}-{how}", unique_key=f"{hold}-{how}", unique_while=hold)
             for hold in ("pending", "active") for how in ("alone", "with-finish")]  # fmt: skip
    with store.transaction():
        jobs = store.insert_jobs(specs, NOW, 3, None)
        for job in jobs:
            store.mark_started(job.seq, store.claim(job, 1, NOW), NOW + 0.1, 1, "1-1-1", 0, 0)
        for job in jobs:
            if job.id.endswith("with-finish"):  # a failed attempt, retried later: not final
                store.finish_attempt(job.seq, 1, NOW + 0.2, exit_code=1, signal=None, timed_out=False,
                                     error="exit code 1", out_len=0, err_len=0, charged=True,
                                     new_state=J.FAILED, run_at=NOW + 5, last_error="exit code 1")  # fmt: skip
        store.write_starts()
    assert set(store.key_holders([s.id for s in specs if s.id])) == {"active-alone", "active-with-finish"}


def test_output_less_attempts_pin_no_segment(store: Store) -> None:
    with store.transaction():
        (job,) = store.insert_jobs([JobSpec("true", id="quiet")], NOW, 3, None)
        n = store.claim(job, 1, NOW)
        store.mark_started(job.seq, n, NOW, 1, "1-1-1", 0, 0)
        store.finish_attempt(job.seq, n, NOW, exit_code=0, signal=None, timed_out=False, error=None,
                             out_len=0, err_len=0, charged=True, new_state=J.COMPLETED, run_at=None,
                             last_error=None)  # fmt: skip
    assert store.segments_in_use({"1-1-1"}) == set()


def test_after_a_crash_running_jobs_go_back_to_pending_saying_what_happened(store: Store) -> None:
    with store.transaction():
        a, b = store.insert_jobs([JobSpec("a", id="ran"), JobSpec("b", id="unconfirmed")], NOW, 3, None)
        store.mark_started(a.seq, store.claim(a, 1, NOW), NOW, 1, "s", 0, 0)
        store.claim(b, 2, NOW)
    assert {r[1] for r in store.requeue_interrupted(NOW + 5)} == {"ran", "unconfirmed"}
    assert store.counts[J.PENDING] == 2
    assert store.attempts_of(a.seq)[0]["error"] == J.INTERRUPTED
    assert store.attempts_of(b.seq)[0]["error"] == J.INTERRUPTED_UNCONFIRMED
    assert not any(x["charged"] for x in store.attempts_of(a.seq) + store.attempts_of(b.seq))


def test_a_clock_step_moves_relative_waits_only(store: Store) -> None:
    with store.transaction():
        specs = [JobSpec("a", id="at", run_at=NOW + 100), JobSpec("b", id="in", run_at=NOW + 100, relative=True)]
        store.insert_jobs(specs, NOW, 3, None)
        assert store.shift_relative_waits(-3600) == 1
    assert store.get("at")["run_at"] == NOW + 100  # type: ignore[index]
    assert store.get("in")["run_at"] == NOW + 100 - 3600  # type: ignore[index]


def test_a_full_database_fails_the_transaction_and_keeps_what_was_committed(tmp_path: Path) -> None:
    store = Store(tmp_path / "q.db")
    try:
        with store.transaction():
            store.insert_jobs([JobSpec("a", id="before")], NOW, 3, None)
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count={pages}")  # SQLite's own "disk full"
        with pytest.raises(store.errors), store.transaction():
            store.insert_jobs([JobSpec("x" * 5000, id=f"j{i}") for i in range(50)], NOW, 3, None)
        assert store.counts[J.PENDING] == 1 and store.get("before") is not None
    finally:
        store.close()


def test_an_old_database_is_migrated_forward(tmp_path: Path) -> None:
    from queuectl.daemon.store.schema import MIGRATIONS

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)  # a database as version 1 made it
    db.executescript(MIGRATIONS[1])
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO jobs(id, command, state, max_retries, created_at, updated_at) "
               "VALUES ('old', 'true', 'pending', 3, 1, 1)")  # fmt: skip
    db.commit()
    db.close()
    store = Store(path)
    try:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        old = store.get("old")
        assert old is not None and (old["queue"], old["slots"], old["tags"]) == ("default", 1, {})
        assert (old["unique_key"], old["unique_while"]) == (None, None)  # version 5's columns
        assert store.queue_counts["default"]["pending"] == 1
        assert [q.name for q in store.queues_load()] == ["default"]
        with store.transaction():
            store.insert_jobs([JobSpec("a", run_at=NOW + 1, relative=True)], NOW, 3, None)
    finally:
        store.close()


def test_a_unique_key_the_index_refuses_names_its_holder_and_the_transaction_goes_on(store: Store) -> None:
    """(The methods check keys first; the index is what holds when that check was passed by.)"""
    from queuectl.daemon.store.interface import KeyHeldError

    with store.transaction():
        store.insert_jobs([JobSpec("a", id="holder", unique_key="k")], NOW, 3, None)
        with pytest.raises(KeyHeldError) as err, store.savepoint():
            store.insert_jobs([JobSpec("b", id="free"), JobSpec("c", id="late", unique_key="k")], NOW, 3, None)
        assert (err.value.key, err.value.job_id, err.value.index) == ("k", "holder", 1)
        store.insert_jobs([JobSpec("d", id="after")], NOW, 3, None)
    assert store.get("free") is None and store.get("after") is not None
    assert store.counts[J.PENDING] == 2


def test_an_id_or_search_with_a_nul_finds_nothing(store: Store) -> None:
    """(PostgreSQL's text cannot hold NUL; asking for one must answer "none", not fail.)"""
    with store.transaction():
        store.insert_jobs([JobSpec("a", id="a", tags={"t": "v"})], NOW, 3, None)
    assert store.get("a\x00") is None and store.ids_taken(["a\x00", "a"]) == {"a"}
    assert store.list_jobs(search="\x00") == [] and store.count_jobs(ids=["a\x00"]) == 0
    assert store.list_jobs(tags={"t": "v\x00"}) == [] and store.job_refs(["a\x00"]) == {}
    assert store.key_holders(["k\x00"]) == {} and store.schedule_get("s\x00") is None


def test_a_batch_stores_every_column_as_a_single_insert_does(store: Store) -> None:
    """(PostgreSQL inserts a batch by another statement than one job: both must agree.)"""
    def spec(job_id: str, hook_of: int | None = None) -> JobSpec:
        return JobSpec("cmd", id=job_id, priority=-3, timeout=7, run_at=NOW + 60, max_retries=1, cwd="/tmp",
                       env={"B": "1", "A": "2"}, relative=True, queue="default", slots=1, tags={"t": "v"},
                       unique_key=f"k-{job_id}", unique_while="pending", on_success="s", on_failure="f",
                       on_finish="e", hook="success", hook_of=hook_of, stdin=b"\x00{json}", max_output=99,
                       on="b-1.x")

    with store.transaction():
        (one,) = store.insert_jobs([spec("one")], NOW, 3, None)
        store.insert_jobs([spec("two", hook_of=one.seq), JobSpec("plain", id="plain", timeout=7.5)], NOW, 3, None)
    a, b = store.get("one"), store.get("two")
    assert a is not None and b is not None and b["hook_of"] == "one"
    differ = {"seq", "id", "unique_key", "hook_of"}
    assert {k: v for k, v in a.items() if k not in differ} == {k: v for k, v in b.items() if k not in differ}
    assert (a["env"], a["tags"], a["timeout"], a["run_at"], a["state"], a["on"]) == \
        ({"B": "1", "A": "2"}, {"t": "v"}, 7.0, NOW + 60, J.SCHEDULED, "b-1.x")  # fmt: skip
    assert store.stdin_of(b["seq"]) == b"\x00{json}" and store.stdin_of(store.get("plain")["seq"]) is None  # type: ignore[index]


def test_a_daemon_loads_and_claims_only_jobs_unpinned_or_pinned_to_its_name(store: Store) -> None:
    """`enqueue --on`: a job pinned to another daemon is never in this one's window, nor
    claimed by it (the claim refuses it too), and still counts as pending."""
    store.daemon_name = "a"
    specs = [JobSpec("x", id="b1", on="b", priority=5), JobSpec("x", id="any"),
             JobSpec("x", id="a1", on="a", priority=-1), JobSpec("x", id="b2", on="b")]  # fmt: skip
    with store.transaction():
        jobs = {j.id: j for j in store.insert_jobs(specs, NOW, 3, None)}
    assert [j.id for j in store.runnable_window(10)] == ["any", "a1"]
    assert store.runnable(jobs["b1"].seq) is None and store.runnable(jobs["a1"].seq) is not None
    with pytest.raises(ClaimLost), store.transaction():
        store.claim(jobs["b1"], 1, NOW)
    b1 = store.get("b1")
    assert b1 is not None and (b1["state"], b1["attempts"], b1["on"]) == (J.PENDING, 0, "b")
    assert store.attempts_of(jobs["b1"].seq) == []
    assert store.counts[J.PENDING] == 4 and store.oldest_pending("default") == NOW
    store.daemon_name = "b"  # (its window: its own and the unpinned, in dispatch order)
    assert [j.id for j in store.runnable_window(10)] == ["b1", "any", "b2"]
    assert [j.id for j in store.runnable_window(2)] == ["b1", "any"]
    with store.transaction():
        assert store.claim(jobs["b1"], 1, NOW) == 1
    assert store.attempts_of(jobs["b1"].seq)[0]["daemon"] == "b"
