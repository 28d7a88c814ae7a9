"""Retention: the settings, the pure rules (queuectl/retention.py), segment names, and the
pruner on the daemon's real core with a clock the test moves (no daemon process)."""

from __future__ import annotations

import pytest

from queuectl import retention as R
from queuectl import settings
from queuectl.daemon import segments
from queuectl.jobs import ValidationError
from tests.unit.conftest import Core

DAY = 86400.0


# --- settings ----------------------------------------------------------------------------

@pytest.mark.parametrize(("key", "text", "value"), [
    ("retain_completed", "7d", 7 * DAY), ("retain_dead", "12h", 43200.0), ("retain_cancelled", "90", 90.0),
    ("retain_completed", "none", 0.0), ("retain_dead", "NONE", 0.0), ("retain_cancelled", "0", 0.0),
    ("retain_completed", "1d12h", 1.5 * DAY), ("retain_max_jobs", "100000", 100000),
    ("retain_max_jobs", "none", 0), ("retain_max_jobs", "0", 0),
])  # fmt: skip
def test_retention_settings_parse(key: str, text: str, value: float) -> None:
    assert settings.parse(key, text) == value


@pytest.mark.parametrize(("key", "text", "message"), [
    ("retain_completed", "-1", ">= 0"), ("retain_dead", "-1d", "invalid duration"),
    ("retain_cancelled", "7 days", "invalid duration"), ("retain_completed", "36600d", "<="),
    ("retain_completed", "nan", "must be a number"), ("retain_completed", "inf", "<="),
    ("retain_max_jobs", "-3", ">= 0"), ("retain_max_jobs", "1.5", "integer"), ("retain_max_jobs", "1d", "integer"),
])  # fmt: skip
def test_bad_retention_settings_are_refused(key: str, text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings.parse(key, text)


def test_retention_defaults() -> None:
    d = settings.defaults()
    assert (d["retain_completed"], d["retain_dead"], d["retain_cancelled"], d["retain_max_jobs"]) == \
        (7 * DAY, 30 * DAY, 7 * DAY, 0)  # fmt: skip
    assert R.from_config(d) == R.Rules({"completed": 7 * DAY, "dead": 30 * DAY, "cancelled": 7 * DAY}, 0)


# --- the rules -------------------------------------------------------------------------------

def c(seq: int, state: str, t: float) -> R.Candidate:
    return R.Candidate(seq, state, t)


def test_age_rule_per_state_oldest_first() -> None:
    oldest = {"completed": [c(1, "completed", 10), c(2, "completed", 50)], "dead": [c(3, "dead", 5)]}
    chosen, more = R.choose(oldest, {"completed": 40.0}, 0, 10, set())
    assert [x.seq for x in chosen] == [1] and not more


def test_the_cap_takes_the_oldest_of_what_the_age_rule_leaves() -> None:
    oldest = {"completed": [c(1, "completed", 10), c(2, "completed", 30)],
              "dead": [c(3, "dead", 5), c(4, "dead", 20)]}  # fmt: skip
    chosen, _ = R.choose(oldest, {"completed": 15.0}, 3, 10, set())
    assert [x.seq for x in chosen] == [1, 3, 4]  # aged first, then the two oldest others


def test_protected_jobs_are_skipped_and_the_limit_holds() -> None:
    oldest = {"completed": [c(i, "completed", float(i)) for i in range(1, 8)]}
    chosen, more = R.choose(oldest, {"completed": 100.0}, 0, 3, {1, 2})
    assert [x.seq for x in chosen] == [3, 4, 5] and more


def test_manual_rules() -> None:
    config = settings.defaults()
    assert R.manual(config, 60.0, ["dead"], None) == R.Rules({"dead": 60.0}, 0)
    assert R.manual(config, None, None, None) == R.from_config(config)
    config["retain_max_jobs"] = 10
    assert R.manual(config, None, ["completed"], None).max_jobs == 0  # narrowed: no cap
    assert R.manual(config, None, None, "q").max_jobs == 0
    assert R.manual(config, None, None, None).max_jobs == 10
    for bad, field in ((["pending"], "state"), (["nope"], "state")):
        with pytest.raises(ValidationError, match="only finished jobs") as info:
            R.manual(config, None, bad, None)
        assert info.value.field == field
    with pytest.raises(ValidationError, match="older_than"):
        R.manual(config, -1.0, None, None)
    with pytest.raises(ValidationError, match="older_than"):
        R.manual(config, float("nan"), None, None)


def test_dry_run_counts_the_cap_after_the_age_rule() -> None:
    rules = R.Rules({"completed": 1.0}, 100)
    assert R.dry_run({"completed": 30}, 150, rules) == ({"completed": 30, "dead": 0, "cancelled": 0}, 20)
    assert R.dry_run({"completed": 60}, 150, rules)[1] == 0


def test_rearm_and_segment_age_follow_the_shortest_retention() -> None:
    config = settings.defaults()
    assert R.idle_rearm(R.from_config(config)) == R.SLOW_REARM
    assert R.segment_age(config) == R.SEGMENT_AGE_MAX
    config["retain_completed"] = 5.0
    assert R.idle_rearm(R.from_config(config)) == 2.5
    assert R.segment_age(config) == 1.0
    config.update(retain_completed=0.0, retain_dead=0.0, retain_cancelled=0.0)
    assert R.segment_age(config) == R.SEGMENT_AGE_MAX and R.from_config(config).keep == {}


def test_which_segments_a_live_child_may_still_write() -> None:
    assert segments.parse("3-2-17") == ("3-2", 17) and segments.parse("x") is None
    live = {"3-2": 17, "3-4": None}
    assert not segments.writable("3-2-16", live)  # it moved on
    assert segments.writable("3-2-17", live) and segments.writable("3-4-1", live)
    assert not segments.writable("2-2-30", live)  # an earlier run's
    assert segments.writable("notours", live)


# --- the pruner on the core ------------------------------------------------------------------

def cancelled(core: Core, *ids: str, **spec: object) -> None:
    for job_id in ids:
        core.turn(core.request("job.enqueue", {"command": "x", "id": job_id, "delay": 3600, **spec}))
        core.turn(core.request("job.cancel", {"id": job_id}))
    core.replies()


def prune(core: Core) -> None:
    core.daemon.pruner.next_at = 0.0
    core.loop.prune()


def test_the_pruner_removes_what_is_due_and_nothing_else(core: Core) -> None:
    core.daemon.config["retain_cancelled"] = 60.0
    cancelled(core, "old")
    core.clock.advance(30)
    cancelled(core, "young")
    core.clock.advance(31)
    prune(core)
    assert core.daemon.store.get("old") is None and core.daemon.store.get("young") is not None
    assert core.daemon.store.counts["cancelled"] == 1
    assert core.daemon.pruner.totals["jobs"] == 1
    assert core.daemon.pruner.next_at == core.clock.mono() + 30.0  # half the retention


def test_kept_a_job_that_an_unfinished_job_needs_a_held_key_and_a_read_one(core: Core) -> None:
    core.daemon.config["retain_cancelled"] = 10.0
    cancelled(core, "parent", "read", "free")
    cancelled(core, "kept", unique_key="k", unique_while="kept")
    core.turn(core.request("job.enqueue", {"command": "x", "id": "other", "delay": 3600}))
    core.turn(core.request("job.enqueue", {"command": "x", "id": "child", "after": ["parent", "other"],
                                           "after_condition": "always"}))  # fmt: skip
    core.turn(core.request("job.logs", {"id": "read"}))
    assert [r.get("error") for r in core.replies()] == [None] * 3
    core.clock.advance(11)
    prune(core)
    store = core.daemon.store
    assert store.get("free") is None
    assert [j for j in ("parent", "kept", "read") if store.get(j) is None] == []
    core.clock.advance(R.READ_GRACE)
    prune(core)
    assert store.get("read") is None and store.get("parent") is not None


def test_the_cap_removes_the_oldest_finished(core: Core) -> None:
    core.daemon.config.update(retain_cancelled=0.0, retain_max_jobs=2)
    for job_id in ("a", "b", "c", "d"):
        cancelled(core, job_id)
        core.clock.advance(1)
    prune(core)
    assert [j for j in "abcd" if core.daemon.store.get(j)] == ["c", "d"]


def test_a_big_backlog_goes_in_steps_of_a_batch(core: Core) -> None:
    core.daemon.config["retain_cancelled"] = 1.0
    specs = [{"command": "x", "id": f"j{i}", "delay": 3600} for i in range(R.BATCH + 20)]
    core.turn(core.request("job.enqueue_many", {"jobs": specs}))
    for i in range(R.BATCH + 20):
        core.daemon.lifecycle.cancel(core.job(f"j{i}"), core.clock.wall())
    core.clock.advance(2)
    prune(core)
    assert core.daemon.store.counts["cancelled"] == 20
    assert core.daemon.pruner.next_at == core.clock.mono() + R.FAST_REARM
    prune(core)
    assert core.daemon.store.counts["cancelled"] == 0


def test_job_prune_answers_when_done_and_a_dry_run_changes_nothing(core: Core) -> None:
    cancelled(core, "a", "b")
    core.clock.advance(5)
    core.turn(core.request("job.prune", {"older_than": 1, "dry_run": True}))
    (reply,) = core.replies()
    assert reply["result"]["jobs"]["cancelled"] == 2 and reply["result"]["dry_run"]
    assert core.daemon.store.counts["cancelled"] == 2
    core.turn(core.request("job.prune", {"older_than": 1, "states": ["cancelled"]}))
    assert core.replies() == []  # deferred: worked off by the pruner's steps
    core.loop.prune()
    (reply,) = core.replies()
    assert reply["result"]["jobs"] == {"completed": 0, "dead": 0, "cancelled": 2}
    assert core.daemon.store.counts["cancelled"] == 0


@pytest.mark.parametrize(("params", "field"), [
    ({"states": ["pending"]}, "states"), ({"states": ["bogus"]}, "states"), ({"states": [1]}, "states"),
    ({"older_than": -1}, "older_than"), ({"older_than": 1e12}, "older_than"),
])  # fmt: skip
def test_job_prune_refuses_bad_params(core: Core, params: dict[str, object], field: str) -> None:
    core.turn(core.request("job.prune", params))
    (reply,) = core.replies()
    assert reply["error"]["code"] == -32602 and reply["error"]["data"]["field"] == field


def test_a_due_step_waits_for_an_idle_loop_but_not_for_ever(core: Core) -> None:
    pruner = core.daemon.pruner
    pruner.next_at = 10.0
    assert not pruner.due(9.0, idle=True)  # not due yet
    assert pruner.due(10.0, idle=True) and not pruner.forced
    assert not pruner.due(10.0, idle=False) and not pruner.due(10.0 + R.MAX_DEFER / 2, idle=False)
    assert pruner.due(10.0 + R.MAX_DEFER * 1.01, idle=False) and pruner.forced  # then it runs whole, and bigger
    core.daemon.config["retain_cancelled"] = 1.0
    cancelled(core, "a")
    core.clock.advance(2)
    pruner.behind_since, pruner.forced = None, False
    pruner.step(core.clock.wall(), 20.0, lambda: True)  # an idle step that a waiting request stops ...
    assert pruner.behind_since == 20.0
    pruner.next_at = 0.0
    assert pruner.due(20.0 + R.MAX_DEFER * 1.01, idle=True) and pruner.forced  # ... does not starve it


def test_a_forced_step_removes_several_batches(core: Core) -> None:
    core.daemon.config["retain_cancelled"] = 1.0
    n = R.BATCH * R.FORCED_BATCHES + 10
    core.turn(core.request("job.enqueue_many", {"jobs": [{"command": "x", "id": f"j{i}", "delay": 60}
                                                         for i in range(n)]}))  # fmt: skip
    for i in range(n):
        core.daemon.lifecycle.cancel(core.job(f"j{i}"), core.clock.wall())
    core.clock.advance(2)
    core.daemon.pruner.forced = True
    prune(core)
    assert core.daemon.store.counts["cancelled"] == 10
