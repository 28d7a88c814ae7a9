"""A failed commit leaves nothing behind: the database rolls back, and so does every
change the turn made in memory (windows, jobs in flight, waits, output); what the
children reported is applied again on its own, and each request runs again alone.
The disk fills up here by SQLite's own means (PRAGMA max_page_count); on PostgreSQL, a
trigger refuses big rows with the server's own "disk full" error (SQLSTATE 53100), which
is close: on both, the small updates of a report still fit, a big batch does not."""

from __future__ import annotations

from typing import Any

from queuectl import jobs as J
from queuectl.daemon import wire
from tests.unit.conftest import Core

CHILD = 1


def start_running(core: Core, job_id: str) -> wire.Run:
    core.turn(core.request("job.enqueue", {"command": "x", "id": job_id}))
    (child, run), = core.runs()
    core.turn(reports=(wire.Started(child, run.seq, run.attempt, core.clock.wall(), 4242, "1-1-1", 0, 0),))
    core.replies()
    return run


_PG_DISK_FULL = """
CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF length(NEW.command) > 1000 THEN
        RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER disk_full BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION disk_full();
"""


def fill_the_disk(core: Core) -> None:
    db = core.daemon.store.db  # type: ignore[attr-defined]
    if hasattr(core.daemon.store, "url"):  # PostgreSQL
        db.execute(_PG_DISK_FULL)
        return
    db.execute(f"PRAGMA max_page_count={db.execute('PRAGMA page_count').fetchone()[0]}")


def free_the_disk(core: Core) -> None:
    db = core.daemon.store.db  # type: ignore[attr-defined]
    if hasattr(core.daemon.store, "url"):
        db.execute("DROP TRIGGER disk_full ON jobs; DROP FUNCTION disk_full()")
        return
    db.execute("PRAGMA max_page_count=1073741823")


def too_big(core: Core) -> list[bytes]:
    return core.request("job.enqueue_many", {"jobs": [{"command": "x" * 4000} for _ in range(200)]})


def memory(core: Core) -> dict[str, Any]:
    d = core.daemon
    return {
        "runnable": sorted(d.runnable.jobs), "timers": dict(d.timers.at),
        "inflight": sorted((f.job.seq, f.attempt, f.started, f.abort) for f in d.inflight),
        "waits": {seq: len(w) for seq, w in d.waits.by_seq.items()},
        "kill_grace": d.config["kill_grace"], "counts": dict(d.store.counts),
    }  # fmt: skip


def test_a_wait_answered_in_a_turn_that_failed_is_answered_after_the_replay(core: Core) -> None:
    core.add_child()
    run = start_running(core, "w")
    core.turn(core.request("job.wait", {"id": "w"}, client=b"waiter"))
    assert core.replies() == []  # deferred
    fill_the_disk(core)
    finish = wire.Finished(CHILD, run.seq, run.attempt, core.clock.wall(), 0, None, False, None, 0, 0, None)
    core.turn(too_big(core), reports=(finish,))  # the job finishes in a turn that cannot commit
    replies = core.replies()
    waits = [r for r in replies if "result" in r and "job" in r["result"]]
    assert len(waits) == 1 and waits[0]["result"]["job"]["state"] == J.COMPLETED, replies
    assert [r["error"]["data"]["name"] for r in replies if "error" in r] == ["storage_error"]
    core.turn()
    assert core.replies() == []  # and never a second time


def test_a_wait_in_a_turn_that_failed_is_registered_once(core: Core) -> None:
    core.add_child()
    run = start_running(core, "w")
    fill_the_disk(core)
    core.turn(core.request("job.wait", {"id": "w"}, client=b"waiter"), too_big(core))
    assert core.daemon.waits.by_seq and len(core.daemon.waits) == 1
    free_the_disk(core)
    core.replies()
    core.turn(reports=(wire.Finished(CHILD, run.seq, run.attempt, core.clock.wall(), 0, None, False,
                                     None, 0, 0, None),))  # fmt: skip
    assert len(core.replies()) == 1


def test_a_cancel_in_a_turn_that_failed_is_registered_once(core: Core) -> None:
    core.add_child()
    run = start_running(core, "c")
    fill_the_disk(core)
    core.sent.to_children.clear()
    core.turn(core.request("job.cancel", {"id": "c"}), too_big(core))
    aborts = [m for _, m in core.sent.to_children if isinstance(m, wire.Abort)]
    assert aborts == [wire.Abort(run.seq, "cancel")]  # from the request run alone, once
    free_the_disk(core)
    core.turn(reports=(wire.Finished(CHILD, run.seq, run.attempt, core.clock.wall(), None, 15, False,
                                     "cancel", 0, 0, None),))  # fmt: skip
    assert [r["result"]["state"] for r in core.replies() if "result" in r] == [J.CANCELLED]


def test_memory_after_a_failed_turn_is_what_the_last_commit_left(core: Core) -> None:
    core.add_child()
    core.add_child()
    start_running(core, "r1")
    core.turn(core.request("job.enqueue", {"command": "x", "id": "later", "delay": 60}))
    core.daemon.workers.scale(0)
    core.turn(core.request("job.enqueue_many", {"jobs": [{"command": "x", "id": f"p{i}"} for i in range(3)]}))
    core.replies()
    before = memory(core)
    fill_the_disk(core)
    # One turn that changes everything it can, then cannot commit.
    core.turn(
        core.request("config.set", {"key": "kill_grace", "value": 7}),
        core.request("job.cancel", {"id": "later"}),
        core.request("job.cancel", {"id": "r1"}),
        core.request("job.wait", {"id": "p0"}),
        core.request("job.delete", {"id": "p1"}),
        too_big(core),
    )  # fmt: skip
    free_the_disk(core)
    after = memory(core)
    # The requests ran again alone: each of their effects is there once; nothing else.
    assert after["kill_grace"] == 7 and before["kill_grace"] == 5
    assert "later" not in [core.daemon.store.get_by_seq(s)["id"] for s in after["timers"]]  # type: ignore[index]
    assert after["waits"] == {core.job("r1")["seq"]: 1, core.job("p0")["seq"]: 1}  # the cancel's, the wait's
    assert core.daemon.store.get("p1") is None
    assert after["counts"][J.CANCELLED] == 1 and after["counts"][J.PENDING] in (1, 2)
