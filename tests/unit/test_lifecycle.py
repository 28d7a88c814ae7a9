"""The job lifecycle as a table: each state a job can be in, each thing that can happen
to it, and the state it ends in. Run on the daemon's real core, a real SQLite file
and a clock the test moves; no daemon process."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from queuectl import jobs as J
from queuectl.daemon import wire
from tests.unit.conftest import Core

CHILD = 1


def running(core: Core, job_id: str = "j", **spec: object) -> wire.Run:
    """Enqueue `job_id` and have the (idle) child start it."""
    core.turn(core.request("job.enqueue", {"command": "x", "id": job_id, **spec}))
    (child, run), = core.runs()
    core.turn(reports=(wire.Started(child, run.seq, run.attempt, core.clock.wall(), 4242, "1-1-1", 0, 0),))
    return run


def assigned(core: Core, job_id: str = "j", **spec: object) -> wire.Run:
    core.turn(core.request("job.enqueue", {"command": "x", "id": job_id, **spec}))
    (_, run), = core.runs()
    return run


def finished(core: Core, run: wire.Run, exit_code: int | None = 0, timed_out: bool = False,
             aborted: str | None = None) -> None:  # fmt: skip
    core.clock.advance(0.5)
    core.turn(reports=(wire.Finished(CHILD, run.seq, run.attempt, core.clock.wall(), exit_code,
                                     None if exit_code is not None else 15, timed_out, aborted,
                                     0, 0, None),))  # fmt: skip


@pytest.fixture
def child_core(core: Core) -> Core:
    core.add_child()
    core.daemon.config["backoff_base"] = 2.0
    return core


Scenario = Callable[[Core], object]


def state_after(core: Core, how: Scenario) -> str:
    how(core)
    return core.job("j")["state"]


def test_pending_runs_on_an_idle_worker_and_completes(child_core: Core) -> None:
    run = running(child_core)
    assert child_core.job("j")["state"] == J.PROCESSING
    finished(child_core, run, 0)
    job = child_core.job("j")
    assert (job["state"], job["exit_code"], job["attempts"], job["charged"]) == (J.COMPLETED, 0, 1, 1)


@pytest.mark.parametrize("max_retries, exit_code, timed_out, state, error", [
    (1, 1, False, J.FAILED, "exit code 1"),
    (0, 1, False, J.DEAD, "exit code 1"),
    (1, None, True, J.FAILED, "timed out"),
    (0, None, True, J.DEAD, "timed out"),
    (0, None, False, J.DEAD, "killed by signal 15"),
])  # fmt: skip
def test_running_fails_to_backoff_or_the_dlq(child_core: Core, max_retries: int, exit_code: int | None,
                                             timed_out: bool, state: str, error: str) -> None:  # fmt: skip
    run = running(child_core, max_retries=max_retries)
    finished(child_core, run, exit_code, timed_out)
    job = child_core.job("j")
    assert (job["state"], job["last_error"]) == (state, error)
    if state == J.FAILED:  # base ** charged attempts: 2 s after it finished
        assert job["run_at"] == pytest.approx(job["finished_at"] + 2.0)


def test_a_failed_job_is_pending_again_when_its_backoff_expires(child_core: Core) -> None:
    finished(child_core, running(child_core, max_retries=2), 1)
    child_core.clock.advance(1.0)
    child_core.turn()
    assert child_core.job("j")["state"] == J.FAILED
    child_core.clock.advance(1.5)
    child_core.turn()  # due: pending, and handed at once to the idle child
    assert child_core.job("j")["state"] == J.ASSIGNED and child_core.job("j")["attempts"] == 2


def test_scheduled_becomes_pending_at_its_time(core: Core) -> None:
    core.turn(core.request("job.enqueue", {"command": "x", "id": "j", "delay": 60}))
    assert core.job("j")["state"] == J.SCHEDULED
    core.clock.advance(59)
    core.turn()
    assert core.job("j")["state"] == J.SCHEDULED
    core.clock.advance(2)
    core.turn()
    assert core.job("j")["state"] == J.PENDING


def test_a_returned_assignment_is_pending_again_without_a_trace(child_core: Core) -> None:
    run = assigned(child_core)
    child_core.daemon.workers.scale(0)  # (so it is not handed out again at once)
    child_core.turn(reports=(wire.Returned(CHILD, run.seq, run.attempt),))
    job = child_core.job("j")
    assert (job["state"], job["attempts"]) == (J.PENDING, 0)
    assert child_core.daemon.store.attempts_of(job["seq"]) == []


def test_a_lost_child_fails_a_started_attempt_and_charges_it(child_core: Core) -> None:
    running(child_core, max_retries=3)
    child_core.kill_child(CHILD)
    job = child_core.job("j")
    assert (job["state"], job["last_error"], job["charged"]) == (J.FAILED, J.WORKER_LOST, 1)


def test_a_lost_child_gives_back_an_unconfirmed_attempt_uncharged(child_core: Core) -> None:
    assigned(child_core)
    child_core.kill_child(CHILD)
    job = child_core.job("j")
    assert (job["state"], job["charged"]) == (J.PENDING, 0)
    (attempt,) = child_core.daemon.store.attempts_of(job["seq"])
    assert attempt["error"] == J.LOST_UNCONFIRMED and not attempt["charged"]


@pytest.mark.parametrize("setup", ["scheduled", "pending", "failed"])
def test_cancel_of_a_waiting_job_is_immediate(core: Core, setup: str) -> None:
    if setup == "failed":
        core.add_child()
        finished(core, running(core, max_retries=1), 1)
        core.daemon.workers.scale(0)
    else:
        core.turn(core.request("job.enqueue", {"command": "x", "id": "j",
                                               **({"delay": 60} if setup == "scheduled" else {})}))  # fmt: skip
    core.replies()
    core.turn(core.request("job.cancel", {"id": "j"}))
    (reply,) = core.replies()
    assert reply["result"]["state"] == J.CANCELLED and core.job("j")["state"] == J.CANCELLED
    core.clock.advance(3600)
    core.turn()
    assert core.job("j")["state"] == J.CANCELLED  # no timer brings it back


def test_cancel_of_a_running_job_answers_once_it_is_dead(child_core: Core) -> None:
    run = running(child_core)
    child_core.replies()
    child_core.turn(child_core.request("job.cancel", {"id": "j"}))
    assert child_core.replies() == []  # deferred
    assert (CHILD, wire.Abort(run.seq, "cancel")) in child_core.sent.to_children
    finished(child_core, run, None, aborted="cancel")
    (reply,) = child_core.replies()
    assert reply["result"]["state"] == J.CANCELLED


@pytest.mark.parametrize("state, method, allowed", [
    (J.PENDING, "job.retry", False), (J.COMPLETED, "job.retry", False), (J.COMPLETED, "job.cancel", False),
    (J.DEAD, "job.cancel", False), (J.DEAD, "job.retry", True), (J.FAILED, "job.retry", True),
    (J.PROCESSING, "job.delete", False), (J.COMPLETED, "job.delete", True), (J.DEAD, "job.delete", True),
])  # fmt: skip
def test_what_each_state_allows(child_core: Core, state: str, method: str, allowed: bool) -> None:
    if state == J.PENDING:
        child_core.daemon.workers.scale(0)
        child_core.turn(child_core.request("job.enqueue", {"command": "x", "id": "j"}))
    elif state == J.PROCESSING:
        running(child_core)
    else:
        run = running(child_core, max_retries={J.FAILED: 1}.get(state, 0))
        finished(child_core, run, 0 if state == J.COMPLETED else 1)
    assert child_core.job("j")["state"] == state
    child_core.replies()
    child_core.turn(child_core.request(method, {"id": "j"}))
    (reply,) = child_core.replies()
    assert ("result" in reply) is allowed, reply
    if not allowed:
        assert reply["error"]["data"]["name"] == "invalid_state"
