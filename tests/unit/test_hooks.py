"""Completion hooks: the rules (pure), and on the real core: a hook job is made in the turn
that settles its job, with that job's JSON for stdin; it never changes its job, has no hooks
of its own, and a cancel fires none."""

from __future__ import annotations

import json

import pytest

from queuectl import hooks as H
from queuectl import jobs as J
from queuectl.daemon import wire
from tests.unit.conftest import Core


def test_which_hooks_a_final_state_fires() -> None:
    hooks = {"success": "s", "failure": "f", "finish": "x"}
    assert H.firing("completed", hooks) == ["success", "finish"]
    assert H.firing("dead", hooks) == ["failure", "finish"]
    assert H.firing("cancelled", hooks) == [] and H.firing("failed", hooks) == []
    assert H.firing("dead", {"success": "s", "failure": None, "finish": None}) == []


def test_hook_ids_name_their_job_and_kind() -> None:
    assert H.hook_id("build", "failure", 0) == "build.hook.failure"
    assert H.hook_id("build", "failure", 1) == "build.hook.failure.2"
    assert H.hook_id("x" * 190, "success", 0) is None  # too long: a generated id instead


@pytest.mark.parametrize("bad", ["", "   ", "\t\n", 7, "a\x00b"])
def test_an_empty_or_bad_hook_command_is_refused(bad: object) -> None:
    with pytest.raises(J.ValidationError) as err:
        J.validate_spec({"command": "true", "on_failure": bad}, 0.0)
    assert err.value.field == "on_failure"
    assert H.validate_default("", "on_failure") == ""  # a config default: empty is none


def test_hook_env_tells_about_the_job() -> None:
    env = H.hook_env({"id": "j", "state": "dead", "exit_code": 3, "attempts": 2, "queue": "q",
                      "last_error": "exit code 3"}, "failure")  # fmt: skip
    assert env["QUEUECTL_JOB_ID"] == "j" and env["QUEUECTL_JOB_STATE"] == "dead"
    assert env["QUEUECTL_EXIT_CODE"] == "3" and env["QUEUECTL_ATTEMPTS"] == "2"
    assert env["QUEUECTL_HOOK"] == "failure"


def _finish(core: Core, child: int, run: wire.Run, code: int) -> None:
    core.turn(reports=(
        wire.Started(child, run.seq, run.attempt, core.clock.wall(), 100 + run.seq, f"1-{child}-1", 0, 0),
        wire.Finished(child, run.seq, run.attempt, core.clock.wall(), code, None, False, None, 0, 0, None),
    ))  # fmt: skip


def test_a_dead_job_fires_its_failure_hook_in_the_same_turn(core: Core) -> None:
    child = core.add_child()
    core.turn(core.request("job.enqueue", {"command": "false", "id": "j", "max_retries": 0,
                                           "on_failure": "cat > out", "on_success": "echo ok",
                                           "env": {"TOKEN": "t"}}))  # fmt: skip
    (_, run), = core.runs()
    _finish(core, child, run, 3)
    assert core.job("j")["state"] == J.DEAD
    hook = core.job("j.hook.failure")
    assert (hook["hook"], hook["hook_of"], hook["state"], hook["max_retries"]) == ("failure", "j", J.ASSIGNED, 0)
    assert hook["priority"] == H.PRIORITY and hook["env"]["TOKEN"] == "t"
    assert hook["env"]["QUEUECTL_JOB_STATE"] == "dead" and hook["env"]["QUEUECTL_EXIT_CODE"] == "3"
    assert core.daemon.store.get("j.hook.success") is None
    (_, hook_run), = core.runs()  # the free worker takes it, with the job's JSON for stdin
    assert hook_run.hook == "failure" and hook_run.stdin is not None
    seen = json.loads(hook_run.stdin)
    assert seen["id"] == "j" and seen["state"] == "dead" and seen["attempts_detail"][0]["exit_code"] == 3
    # The hook fails: the job stays dead, the hook is dead (no retries), nothing more is made.
    _finish(core, child, hook_run, 1)
    assert core.job("j")["state"] == J.DEAD and core.job("j.hook.failure")["state"] == J.DEAD
    core.turn(core.request("job.get", {"id": "j"}))
    detail = core.replies()[-1]["result"]
    assert [(h["id"], h["hook"], h["state"]) for h in detail["hooks"]] == [("j.hook.failure", "failure", "dead")]
    assert core.runs() == [] and core.daemon.store.counts[J.PENDING] == 0


def test_success_fires_success_and_finish_a_cancel_fires_nothing(core: Core) -> None:
    child = core.add_child()
    core.turn(core.request("job.enqueue_many", {"jobs": [
        {"command": "true", "id": "ok", "on_success": "s", "on_failure": "f", "on_finish": "x"},
        {"command": "true", "id": "gone", "on_finish": "x", "delay": 60},
    ]}))  # fmt: skip
    (_, run), = core.runs()
    _finish(core, child, run, 0)
    assert core.daemon.store.get("ok.hook.success") and core.daemon.store.get("ok.hook.finish")
    assert core.daemon.store.get("ok.hook.failure") is None
    core.turn(core.request("job.cancel", {"id": "gone"}))
    assert core.job("gone")["state"] == J.CANCELLED
    assert core.daemon.store.hooks_of(core.job("gone")["seq"]) == []


def test_config_defaults_apply_to_jobs_that_name_none_and_never_to_hooks(core: Core) -> None:
    child = core.add_child()
    core.turn(core.request("config.set", {"key": "on_finish", "value": "default-hook"}))
    core.turn(core.request("job.enqueue_many", {"jobs": [
        {"command": "true", "id": "plain"}, {"command": "true", "id": "own", "on_finish": "mine"},
    ]}))  # fmt: skip
    assert core.job("plain")["on_finish"] == "default-hook" and core.job("own")["on_finish"] == "mine"
    for _, run in core.runs():
        _finish(core, child, run, 0)
    hook = core.job("plain.hook.finish")
    assert hook["on_finish"] is None and hook["command"] == "default-hook"
    for _, run in core.runs():
        _finish(core, child, run, 0)
    assert core.daemon.store.counts[J.COMPLETED] == 4  # two jobs, two hooks; no hook of a hook


def test_a_job_retried_out_of_the_dlq_fires_again_under_a_new_id(core: Core) -> None:
    child = core.add_child()
    core.turn(core.request("job.enqueue", {"command": "false", "id": "j", "max_retries": 0, "on_failure": "f"}))
    for _ in range(2):
        (_, run), = [r for r in core.runs() if r[1].hook is None]
        _finish(core, child, run, 1)
        core.turn(core.request("dlq.retry", {"id": "j"}))
    ids = [h["id"] for h in core.daemon.store.hooks_of(core.job("j")["seq"])]
    assert ids == ["j.hook.failure", "j.hook.failure.2"]


def test_a_turn_that_cannot_commit_makes_no_hook_and_the_replay_makes_it_once(core: Core) -> None:
    from tests.unit.test_rollback import fill_the_disk, free_the_disk, too_big

    child = core.add_child()
    core.turn(core.request("job.enqueue", {"command": "false", "id": "j", "max_retries": 0, "on_finish": "x"}))
    (_, run), = core.runs()
    core.turn(reports=(wire.Started(child, run.seq, run.attempt, core.clock.wall(), 4242, "1-1-1", 0, 0),))
    fill_the_disk(core)
    dead = wire.Finished(child, run.seq, run.attempt, core.clock.wall(), 1, None, False, None, 0, 0, None)
    core.turn(too_big(core), reports=(dead,))  # the turn fails; its reports are applied again alone
    free_the_disk(core)
    core.turn()
    hooks = core.daemon.store.hooks_of(core.job("j")["seq"])
    assert core.job("j")["state"] == J.DEAD and [h["id"] for h in hooks] == ["j.hook.finish"]
