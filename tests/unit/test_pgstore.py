"""What only the PostgreSQL store has to get right: one daemon per database, a schema
from a newer queuectl, a lost connection, PostgreSQL's failed-transaction state, and
opening the right store for a database URL. (Everything else the store does is tested
on both stores by the other tests of this directory.)"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from queuectl import jobs as J
from queuectl.daemon.store import Store, UnusableDatabase, open_store
from queuectl.jobs import JobSpec
from tests.unit.conftest import empty_database

NOW = 1_800_000_000.0


@pytest.fixture
def pg(pg_shared: tuple[str, Any]) -> Iterator[tuple[str, Any]]:
    """The session's database, empty, and a connection of its own to it (not the store's)."""
    url, admin = pg_shared
    empty_database(admin)
    yield url, admin


def with_password(url: str, password: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{password}@")


def test_a_second_daemon_of_the_same_name_is_refused_without_showing_a_password(pg: Any) -> None:
    from queuectl.daemon.store.postgres import PgStore

    url, _ = pg
    first = PgStore(url, name="alpha")
    try:
        with pytest.raises(UnusableDatabase) as err:
            PgStore(with_password(url, "s3cret-pw"), name="alpha")  # (the test server trusts any password)
        assert str(err.value).startswith("another queuectl daemon named 'alpha' is using the database "
                                         "postgresql://postgres@/")  # fmt: skip
        assert "s3cret-pw" not in str(err.value)
        PgStore(url, name="beta").close()  # another name shares the database
    finally:
        first.close()
    PgStore(url, name="alpha").close()  # closing released the lock


def test_a_schema_from_a_newer_queuectl_is_refused_untouched(pg: Any) -> None:
    from queuectl.daemon.store.postgres import PgStore
    from queuectl.daemon.store.postgres.schema import SCHEMA_VERSION as V

    url, admin = pg
    admin.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (V + 1,))
    try:
        with pytest.raises(UnusableDatabase, match=rf"schema version {V + 1}, newer than this queuectl's \({V}\)"):
            PgStore(url)
        assert admin.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == V + 1
    finally:
        admin.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (V,))


def test_a_lost_connection_fails_one_transaction_and_the_next_reconnects(pg: Any) -> None:
    from queuectl.daemon.store.postgres import PgStore

    url, admin = pg
    store = PgStore(url)
    try:
        with store.transaction():
            store.insert_jobs([JobSpec("a", id="a"), JobSpec("b", id="b")], NOW, 3, None)
        # (not waiting for the backend to end: the reconnect may find its lock still held
        # for a few ms, and waits for it)
        admin.execute("SELECT pg_terminate_backend(%s)", (store.db.info.backend_pid,))
        with pytest.raises(store.errors), store.transaction():
            store.insert_jobs([JobSpec("c", id="lost")], NOW, 3, None)
        # The loop reads at once after a failed turn, outside a transaction (its windows):
        assert [r.id for r in store.runnable_window(10)] == ["a", "b"]
        with store.transaction():
            store.insert_jobs([JobSpec("d", id="after")], NOW, 3, None)
        assert store.get("lost") is None and store.get("after") is not None
        assert store.counts[J.PENDING] == 3 and store.queue_counts["default"][J.PENDING] == 3
        assert admin.execute("SELECT count(*) FROM jobs").fetchone()[0] == 3
        with pytest.raises(UnusableDatabase, match="another queuectl daemon named"):
            PgStore(url)  # the new connection holds the name's lock again
    finally:
        store.close()


def test_a_savepoint_rolled_back_after_an_sql_error_leaves_the_turn_usable(pg: Any) -> None:
    import psycopg

    from queuectl.daemon.store.postgres import PgStore

    store = PgStore(pg[0])
    try:
        with store.transaction():
            store.insert_jobs([JobSpec("a", id="kept")], NOW, 3, None)
            with pytest.raises(psycopg.errors.UndefinedTable), store.savepoint():
                store.insert_jobs([JobSpec("b", id="gone")], NOW, 3, None)
                store.db.execute("SELECT * FROM no_such_table")  # a bug in a handler, in SQL
            store.insert_jobs([JobSpec("c", id="after")], NOW, 3, None)  # the turn goes on
        assert store.get("gone") is None and store.get("kept") and store.get("after")
        assert store.counts[J.PENDING] == 2
    finally:
        store.close()


def test_a_failed_transaction_is_never_taken_for_a_commit(pg: Any) -> None:
    """PostgreSQL answers COMMIT of a failed transaction with ROLLBACK, not an error: an
    error the code swallowed must still fail the transaction, as a storage error."""
    import psycopg

    from queuectl.daemon.store.postgres import PgStore

    store = PgStore(pg[0])
    try:
        with pytest.raises(store.errors), store.transaction():
            store.insert_jobs([JobSpec("a", id="a")], NOW, 3, None)
            with pytest.raises(psycopg.errors.UndefinedTable):
                store.db.execute("SELECT * FROM no_such_table")  # (outside any savepoint)
        assert store.get("a") is None and store.counts[J.PENDING] == 0
    finally:
        store.close()


def test_commits_are_durable_whatever_synchronous_says(pg: Any) -> None:
    """The test server runs with synchronous_commit off: the daemon's session turns it on,
    in both modes (a commit the server lost would strand a job, docs/postgres.md)."""
    from queuectl.daemon.store.postgres import PgStore

    store = PgStore(pg[0], synchronous="NORMAL")
    try:
        assert store.db.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        store.set_synchronous("FULL")
        assert store.db.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        store.set_synchronous("NORMAL")
        assert store.db.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        assert store.file_sizes()["db_bytes"] > 0 and store.file_sizes()["wal_bytes"] == 0
    finally:
        store.close()


def test_open_store_picks_the_store_a_database_names(pg: Any, tmp_path: Path) -> None:
    from queuectl.daemon.store.postgres import PgStore

    sqlite = open_store(None, tmp_path / "queue.db")
    assert isinstance(sqlite, Store)
    sqlite.close()
    for url in (pg[0], pg[0].replace("postgresql://", "postgres://")):
        store = open_store(url, tmp_path / "unused.db")
        assert isinstance(store, PgStore)
        store.close()
    with pytest.raises(UnusableDatabase, match="unsupported database URL") as err:
        open_store("mysql://u:hunter2@db/q", tmp_path / "queue.db")
    assert "hunter2" not in str(err.value)


def test_a_sqlite_daemon_does_not_import_psycopg() -> None:
    code = ("import sys, queuectl.daemon.store, queuectl.daemon.daemon; "
            "sys.exit('psycopg' in sys.modules)")  # fmt: skip
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_the_privileges_the_package_names_are_enough_after_the_first_start(pg: Any) -> None:
    from queuectl.daemon.store.postgres import PgStore

    url, admin = pg
    admin.execute("CREATE ROLE queuectl_daemon LOGIN")
    try:
        admin.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO queuectl_daemon")
        store = PgStore(url.replace("postgresql://postgres@", "postgresql://queuectl_daemon@"))
        try:
            assert store.next_epoch() == 1
            store.config_save("workers", 2)
            with store.transaction():
                (job,) = store.insert_jobs([JobSpec("a", id="a")], NOW, 3, None)
                n = store.claim(job, 1, NOW)
                store.mark_started(job.seq, n, NOW, 1, "1-1-1", 0, 0)
                store.finish_attempt(job.seq, n, NOW, exit_code=0, signal=None, timed_out=False, error=None,
                                     out_len=1, err_len=0, charged=True, new_state=J.COMPLETED, run_at=None,
                                     last_error=None)  # fmt: skip
                store.block([], [(job.seq, job.seq + 1)])
                assert store.prune_jobs([job.seq]) == ({J.COMPLETED: 1}, {"1-1-1"})
            assert store.file_sizes()["db_bytes"] > 0
        finally:
            store.close()
    finally:
        admin.execute("DROP OWNED BY queuectl_daemon")
        admin.execute("DROP ROLE queuectl_daemon")


def test_a_reconnect_that_fails_backs_off_and_a_lock_still_held_is_waited_out(pg: Any) -> None:
    """Connecting again may fail (the server is away) or find the lock held (the lost
    session is not over yet on the server, or another daemon took the database): each is
    one of `errors` (the turn fails, the daemon goes on), tried again after a back-off."""
    import time

    from queuectl.daemon.store.postgres import PgStore

    url, admin = pg
    store = PgStore(url)
    store.reconnect_lock_wait = 0.05
    try:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (store.db.info.backend_pid,))
        store.url = url.replace("/unit_", "/no_such_database_")  # (the server "is away")
        with pytest.raises(store.errors), store.transaction():
            pass  # (the lost connection noticed; connecting again at once failed)
        with pytest.raises(store.errors, match="connecting again in"), store.transaction():
            pass  # (within the back-off: nothing tried, no stall)
        time.sleep(0.15)
        with pytest.raises(store.errors, match="does not exist"), store.transaction():
            pass  # (tried again after it, failed again: a longer back-off)
        store.url = url
        other = PgStore(url)  # another daemon takes the database meanwhile
        time.sleep(0.25)
        with pytest.raises(store.errors, match="locked by another session"), store.transaction():
            pass
        other.close()
        time.sleep(0.3)
        with store.transaction():
            store.insert_jobs([JobSpec("a", id="back")], NOW, 3, None)
        assert store.counts[J.PENDING] == 1
    finally:
        store.close()


@pytest.mark.parametrize("url, shown", [
    ("postgresql://queuectl:pw@db.example:5432/queue", "postgresql://queuectl@db.example:5432/queue"),
    ("postgresql://u:p@ss@h/q?sslmode=require&password=pw2", "postgresql://u@h/q?sslmode=require"),
    ("postgres:///queue?host=/run/postgresql", "postgres:///queue?host=/run/postgresql"),
])  # fmt: skip
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    from queuectl.daemon.store.postgres import connection as C

    assert C.shown(url) == shown
    assert "pw" not in C.scrubbed(f"failed for {url}:\n  bad", url).replace("password", "")


def _story(store: Any) -> list[Any]:
    """The same writes on a store, and everything its reads answer after them."""
    from queuectl.queues import QueueConfig
    from queuectl.ratelimit import Rate

    store.queue_save(QueueConfig("Zq", 4, 2, True, NOW, Rate(5, 60.0)))
    store.queue_save(QueueConfig("a-q", 1, 1, False, NOW, None))
    store.schedule_put({"name": "nightly", "cron": "0 3 * * *", "every": None, "tz": "UTC", "overlap": "skip",
                        "catch_up": "none", "job": {"command": "x", "env": {"Z": "1", "A": "2"}}, "paused": False,
                        "next_at": NOW + 9, "last_job": None, "created_at": NOW, "updated_at": NOW})  # fmt: skip
    specs = [JobSpec("echo ä", id=f"j{i}", priority=i % 3, queue="a-q" if i % 2 else "default",
                     tags={"k": str(i % 2)}, env={"E": str(i)}, run_at=NOW + 30 if i == 4 else None)
             for i in range(6)] + [JobSpec("x", id="nightly@1", unique_key="u", unique_while="kept")]  # fmt: skip
    with store.transaction():
        jobs = store.insert_jobs(specs, NOW, 2, 5.0)
        store.block([(jobs[5].seq, J.PENDING, "success", 1)], [(jobs[0].seq, jobs[5].seq)])
        n = store.claim(jobs[0], 1, NOW + 1, "0", 100)
        store.mark_started(jobs[0].seq, n, NOW + 2, 7, "1-1-1", 0, 0)
        store.finish_attempt(jobs[0].seq, n, NOW + 3, exit_code=1, signal=None, timed_out=False, error="exit 1",
                             out_len=4, err_len=0, charged=True, new_state=J.FAILED, run_at=NOW + 13,
                             last_error="exit 1", dropped=2)  # fmt: skip
        store.cancel(jobs[1].seq, J.PENDING, NOW + 4, "a-q")
        store.unblock(jobs[5].seq, None, NOW + 5)
        store.schedule_advance("nightly", NOW + 99, "nightly@1", NOW + 5)
    seqs = [j.seq for j in jobs]
    reads: list[Any] = [store.counts, store.queue_counts, [store.get_by_seq(s) for s in seqs],
                        store.attempts_of(seqs[0]), store.attempt(seqs[0], 1), store.timed_window(10),
                        [(r.seq, r.id, r.ready_at) for r in store.runnable_window(10, "a-q")],
                        store.links(seqs[0]), store.schedule_list(), store.schedule_jobs("nightly", 5),
                        [(q.name, q.concurrency, q.weight, q.paused, q.rate) for q in store.queues_load()],
                        store.prune_candidates(J.CANCELLED, None, 10), store.key_holders(["u"])]  # fmt: skip
    for order in ("created", "priority", "run_at"):
        for newest in (False, True):
            reads.append([j["id"] for j in store.list_jobs(order=order, newest_first=newest)])
    reads += [store.count_jobs(search="j"), store.count_jobs(tags={"k": "1"}), store.list_jobs(queue="a-q", limit=2),
              store.count_jobs(state=J.PENDING, ids=["j2", "j3", "nope"]), store.starts_since(0)]  # fmt: skip
    return reads


def test_both_stores_answer_every_read_with_the_same_records(pg: Any, tmp_path: Path) -> None:
    from queuectl.daemon.store.postgres import PgStore

    sqlite, postgres = Store(tmp_path / "queue.db"), PgStore(pg[0])
    try:
        for mine, theirs in zip(_story(sqlite), _story(postgres), strict=True):
            assert mine == theirs
    finally:
        sqlite.close()
        postgres.close()


def test_two_daemons_stores_read_the_whole_queues_counts_without_counting_rows(pg: Any) -> None:
    """job_counts (schema 4): each store's writes add into its own rows; either one's
    reload sums them all, and agrees with count(*)."""
    from queuectl.daemon.store.postgres import PgStore

    url, admin = pg
    a, b = PgStore(url, name="a"), PgStore(url, name="b")
    try:
        with a.transaction():
            jobs = a.insert_jobs([JobSpec("true", id=f"j{i}") for i in range(3)], NOW, 3, None)
        with b.transaction():
            job = b.runnable(jobs[0].seq)
            assert job is not None
            attempt = b.claim(job, 1, NOW)
            b.finish_attempt(job.seq, attempt, NOW + 1, exit_code=0, signal=None, timed_out=False, error=None,
                             out_len=0, err_len=0, charged=True, new_state=J.COMPLETED, run_at=None,
                             last_error=None, started=False)  # fmt: skip
        for store in (a, b):
            store.reload_counts()
            assert store.counts[J.PENDING] == 2 and store.counts[J.COMPLETED] == 1
            assert store.queue_counts["default"][J.PENDING] == 2
        per_daemon = dict(((d, s), n) for d, s, n in admin.execute("SELECT daemon, state, n FROM job_counts"))
        assert per_daemon[("a", J.PENDING)] == 3 and per_daemon[("b", J.PENDING)] == -1
        assert per_daemon[("b", J.COMPLETED)] == 1
        actual = dict(admin.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
        assert actual == {J.PENDING: 2, J.COMPLETED: 1}
    finally:
        a.close()
        b.close()


def test_a_version_2_database_is_migrated_to_pins_keeping_its_jobs(pg_server: Any) -> None:
    """Schema 5 (`enqueue --on`): the column, and jobs_runnable remade for the unpinned jobs
    beside jobs_pinned; a pending job of before is unpinned and in the window."""
    import psycopg

    from queuectl.daemon.store.postgres import PgStore
    from queuectl.daemon.store.postgres.schema import MIGRATIONS

    url = pg_server.fresh_url("v2")
    with psycopg.connect(url, autocommit=True) as admin:
        with admin.transaction():
            for statement in MIGRATIONS[1] + MIGRATIONS[2]:
                admin.execute(statement)
            admin.execute("INSERT INTO meta(key, value) VALUES ('schema_version', 2)")
            admin.execute("INSERT INTO jobs(id, command, state, max_retries, created_at, updated_at) "
                          "VALUES ('before', 'true', 'pending', 3, %s, %s)", (NOW, NOW))  # fmt: skip
        store = PgStore(url, name="a")
        try:
            before = store.get("before")
            assert before is not None and before["on"] is None
            assert [j.id for j in store.runnable_window(10)] == ["before"]
            with store.transaction():
                store.insert_jobs([JobSpec("x", id="mine", on="a"), JobSpec("x", id="theirs", on="b")],
                                  NOW, 3, None)  # fmt: skip
            assert [j.id for j in store.runnable_window(10)] == ["before", "mine"]
        finally:
            store.close()
        predicates = dict(admin.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'jobs_%'"))
        assert "on_daemon IS NULL" in predicates["jobs_runnable"]
        assert "(queue, on_daemon, priority DESC, seq)" in predicates["jobs_pinned"]


def test_a_failed_turns_shared_events_are_dropped_and_undoing_them_after_is_harmless(pg: Any) -> None:
    """A turn that fails tells the other daemons nothing; the journal's undo of its shared
    events, which runs after the store's rollback, finds nothing left (it crashed the
    daemon with a KeyError before)."""
    import psycopg

    from queuectl.daemon.store.postgres import PgStore

    store = PgStore(pg[0], name="a")
    try:
        with pytest.raises(psycopg.OperationalError), store.transaction():
            store.share("e", {"event": "job.started", "job_id": "x"})
            store.share("r", 7)
            raise psycopg.OperationalError("the database went away")
        store.unshare("e")
        store.unshare("r")
        assert store._note == {}
    finally:
        store.close()


def test_a_batch_reserved_by_one_daemon_is_skipped_by_another_until_it_commits(pg: Any) -> None:
    """reserve(): one statement locks the pending jobs asked for, skipping (never waiting
    for) those another daemon's turn holds; a claim of a reserved job then wins."""
    from queuectl.daemon.store.postgres import PgStore

    url, _ = pg
    a, b = PgStore(url, name="a"), PgStore(url, name="b")
    try:
        with a.transaction():
            jobs = a.insert_jobs([JobSpec("true", id=f"j{i}") for i in range(4)], NOW, 3, None)
        seqs = [j.seq for j in jobs]
        with a.transaction():
            assert a.reserve(seqs[:3]) == set(seqs[:3])
            with b.transaction():
                assert b.reserve(seqs) == {seqs[3]}  # (at once: nothing waited for a's locks)
            claimed = a.runnable(seqs[0])
            assert claimed is not None and a.claim(claimed, 1, NOW) == 1
        with b.transaction():
            assert b.reserve(seqs) == set(seqs[1:])  # (a committed: its claim is not pending)
    finally:
        a.close()
        b.close()


def test_two_daemons_ending_two_parents_at_once_release_the_dependent(pg: Any) -> None:
    """Daemons a and b end the two parents of x at the same moment, each in its own turn's
    transaction: b's turn reads x while a's has written waiting_on 2 -> 1 but not committed
    yet. b must read x as a's commit leaves it (locked: it waits for a), and release it;
    reading 2 as well, it would write 1 after a and x would wait for ever (a chaos run over
    three daemons found such jobs left blocked: tests/chaos_cluster.py)."""
    import threading
    from types import SimpleNamespace

    from queuectl.daemon.dependencies import Dependencies
    from queuectl.daemon.store.postgres import PgStore

    url, admin = pg
    a = PgStore(url, name="a")
    with a.transaction():
        jobs = a.insert_jobs([JobSpec("p", id="p1"), JobSpec("p", id="p2"), JobSpec("x", id="x")], NOW, 3, None)
        p1, p2, x = (job.seq for job in jobs)
        a.block([(x, J.PENDING, "success", 2)], [(p1, x), (p2, x)])
    b = PgStore(url, name="b")
    released: list[Any] = []
    lifecycle = SimpleNamespace(runnable=SimpleNamespace(add=released.append),
                                events=SimpleNamespace(emit=lambda *args, **fields: None))  # fmt: skip

    def b_ends_p2() -> None:
        with b.transaction():
            Dependencies(b, lifecycle).parent_final(p2, "p2", J.COMPLETED, NOW)  # type: ignore[arg-type]

    try:
        with a.transaction():
            Dependencies(a, lifecycle).parent_final(p1, "p1", J.COMPLETED, NOW)  # type: ignore[arg-type]
            other = threading.Thread(target=b_ends_p2)
            other.start()
            other.join(0.5)  # (b reads x now, or waits for a's commit)
        other.join(10)
        assert not other.is_alive()
        assert admin.execute("SELECT state, waiting_on FROM jobs WHERE id = 'x'").fetchone() == (J.PENDING, 0)
        assert [job.id for job in released] == ["x"]
    finally:
        a.close()
        b.close()


def test_a_job_enqueued_on_one_daemon_as_its_parent_ends_on_another_is_released(pg: Any) -> None:
    """Daemon a enqueues x after p while daemon b ends p, in overlapping transactions: b
    must either be read as ended (x counts it at once) or find x among p's dependents
    once a commits. Read unlocked, a sees p running, b's end does not see x yet, and x
    waits for ever for a parent that ended."""
    import threading
    from types import SimpleNamespace

    from queuectl.daemon.dependencies import Dependencies
    from queuectl.daemon.store.postgres import PgStore

    url, admin = pg
    a = PgStore(url, name="a")
    with a.transaction():
        (p,) = a.insert_jobs([JobSpec("p", id="p")], NOW, 3, None)
    b = PgStore(url, name="b")
    with b.transaction():
        b.claim(p, 1, NOW)  # (p runs on b)
    released: list[Any] = []
    lifecycle = SimpleNamespace(runnable=SimpleNamespace(add=released.append),
                                events=SimpleNamespace(emit=lambda *args, **fields: None))  # fmt: skip

    def b_ends_p() -> None:
        with b.transaction():
            assert b.finish_attempt(p.seq, 1, NOW, exit_code=0, signal=None, timed_out=False, error=None,
                                    out_len=0, err_len=0, charged=True, new_state=J.COMPLETED, run_at=None,
                                    last_error=None, started=False)  # fmt: skip
            Dependencies(b, lifecycle).parent_final(p.seq, "p", J.COMPLETED, NOW)  # type: ignore[arg-type]

    try:
        with a.transaction():
            deps = Dependencies(a, lifecycle)  # type: ignore[arg-type]
            specs = [JobSpec("x", id="x", after=["p"])]
            stored = deps.resolve(specs)
            deps.link(specs, a.insert_jobs(specs, NOW, 3, None), stored, NOW)
            other = threading.Thread(target=b_ends_p)
            other.start()
            other.join(0.5)  # (b ends p now, or waits for a's commit)
        other.join(10)
        assert not other.is_alive()
        assert admin.execute("SELECT state FROM jobs WHERE id = 'p'").fetchone() == (J.COMPLETED,)
        assert admin.execute("SELECT state, waiting_on FROM jobs WHERE id = 'x'").fetchone() == (J.PENDING, 0)
        assert [job.id for job in released] == ["x"]
    finally:
        a.close()
        b.close()
