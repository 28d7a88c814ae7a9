"""Rate limits and completion hooks, end to end on a real daemon (issue 18).

Rate limits are checked from what `show` reports: the attempts' start times. Hooks are
checked from what they saw: each writes its stdin and its QUEUECTL_* variables to files."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Daemon, wait_for

JOBS, N, PERIOD = 200, 40, 1.0  # 200 starts at 40/s: about 4 s


def test_no_second_holds_more_starts_than_the_queue_rate(make_daemon) -> None:
    d: Daemon = make_daemon(workers=8)
    added = d.cli("queue", "add", "api", "--rate", f"{N}/s")
    assert added.returncode == 0 and "rate 40/s" in added.stdout, added.stderr
    # Bad rates: a clear error, nothing changed.
    for bad in ("0/s", "-5/m", "fast", "10/fortnight"):
        refused = d.cli("queue", "set", "api", "--rate", bad)
        assert refused.returncode == 2 and "--rate" in refused.stderr, (bad, refused.stderr)
    err = d.client.call  # the daemon refuses it too (a client that skips the CLI's check)
    try:
        err("queue.set", {"name": "api", "rate": "0/m"})
        raise AssertionError("accepted")
    except Exception as exc:  # InvalidParams
        assert "from 1 to" in str(exc)
    assert d.call("queue.get", {"name": "api"})["rate"] == "40/s"

    d.call("job.enqueue_many", {"jobs": [{"command": "true", "queue": "api", "id": f"r{i}"} for i in range(JOBS)]})
    held = wait_for(lambda: (s := d.call("daemon.status"))["queues"][0]["rate_limited"] and s, 5,
                    what="status to say jobs are rate-limited")  # fmt: skip
    api = next(q for q in held["queues"] if q["name"] == "api")
    assert api["rate"] == "40/s" and 0 < api["rate_limited"] <= api["pending"] and api["rate_free_at"]
    human = d.cli("status")
    assert "rate 40/s" in human.stdout and "rate-limited" in human.stdout, human.stdout
    d.wait_all_final(timeout=30)

    starts = []
    for i in range(JOBS):
        (attempt,) = d.job(f"r{i}")["attempts_detail"]
        starts.append(_unix(attempt["started_at"]))
    starts.sort()
    # No window of PERIOD holds more than N starts (times are shown to the microsecond).
    densest = max(sum(1 for t in starts[i:] if t < s + PERIOD - 1e-5) for i, s in enumerate(starts))
    assert densest <= N, densest
    # ...and the limit is what paced them: windows are full, and the run took as long as the
    # rate says (eight idle workers would start 200 `true` jobs in well under a second).
    assert densest >= N * 0.75, densest
    assert starts[-1] - starts[0] >= (JOBS / N - 1) * PERIOD - 0.05, starts[-1] - starts[0]


def _unix(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def test_hooks_run_as_jobs_of_their_own_with_the_job_on_stdin(make_daemon, tmp_path: Path) -> None:
    d: Daemon = make_daemon(workers=2)
    work = str(tmp_path)
    record = 'cat > "$QUEUECTL_JOB_ID.$QUEUECTL_HOOK.json"; env | grep ^QUEUECTL_ | sort > "$QUEUECTL_JOB_ID.env"'
    # A job that goes dead: its failure hook runs, its success hook does not.
    boom = d.cli("enqueue", "--id", "boom", "--max-retries", "0", "--on-failure", record, "--on-success",
                 "touch boom.success", "--", "exit 3", cwd=work)  # fmt: skip
    assert boom.returncode == 0, boom.stderr
    assert d.wait_state("boom")["state"] == "dead"
    hook = d.wait_state("boom.hook.failure")
    assert hook["state"] == "completed" and hook["hook"] == "failure" and hook["hook_of"] == "boom"
    seen = json.loads((tmp_path / "boom.failure.json").read_text())
    assert seen["id"] == "boom" and seen["state"] == "dead" and seen["attempts_detail"][0]["exit_code"] == 3
    env = (tmp_path / "boom.env").read_text().splitlines()
    for line in ("QUEUECTL_JOB_ID=boom", "QUEUECTL_JOB_STATE=dead", "QUEUECTL_EXIT_CODE=3", "QUEUECTL_ATTEMPTS=1",
                 "QUEUECTL_HOOK=failure", "QUEUECTL_HOOK_ID=boom.hook.failure"):  # fmt: skip
        assert line in env, (line, env)
    assert not (tmp_path / "boom.success").exists()
    assert [h["id"] for h in d.job("boom")["hooks"]] == ["boom.hook.failure"]

    # A job that completes: its success hook runs; the hook fails, and the job stays completed;
    # `show` lists the failed hook.
    ok = d.cli("enqueue", "--id", "ok", "--on-success", "echo hook ran; exit 7", "--on-failure", "touch never",
               "--", "true", cwd=work)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert d.wait_state("ok")["state"] == "completed"
    assert d.wait_state("ok.hook.success")["state"] == "dead"
    assert d.job("ok")["state"] == "completed"
    shown = d.cli("show", "ok")
    assert "ok.hook.success" in shown.stdout and "dead" in shown.stdout and "exit 7" in shown.stdout, shown.stdout
    as_json = json.loads(d.cli("show", "--json", "ok").stdout)
    assert [(h["id"], h["hook"], h["state"], h["exit_code"]) for h in as_json["hooks"]] == \
        [("ok.hook.success", "success", "dead", 7)]  # fmt: skip
    assert d.cli("logs", "ok.hook.success").stdout == "hook ran\n"
    assert not (tmp_path / "never").exists()

    # The config's default hook applies to a job that names none (and not to its hook).
    assert d.cli("config", "set", "on_failure", record).returncode == 0
    d.enqueue("exit 1", id="plain", max_retries=0, cwd=work)
    assert d.wait_state("plain")["state"] == "dead"
    assert d.wait_state("plain.hook.failure")["state"] == "completed"
    assert json.loads((tmp_path / "plain.failure.json").read_text())["state"] == "dead"
    assert d.cli("config", "set", "on_failure", "").returncode == 0
    counts = d.wait_all_final()
    assert (counts["dead"], counts["completed"]) == (3, 3)  # boom, plain, ok's hook; ok, 2 hooks: no hook of a hook


def test_an_empty_hook_command_is_refused_and_nothing_is_enqueued(daemon: Daemon, tmp_path: Path) -> None:
    d = daemon
    lines = tmp_path / "jobs.ndjson"
    lines.write_text('{"command": "true"}\n{"command": "true", "on_failure": ""}\n')
    attempts = [
        ("enqueue", "--on-failure", "", "--", "true"),
        ("enqueue", "--on-success", "   ", "--", "true"),
        ("enqueue", '{"command": "true", "on_finish": "\\t"}'),
        ("enqueue", "--file", str(lines)),
    ]
    for args in attempts:
        refused = d.cli(*args)
        assert refused.returncode == 2 and "must not be empty" in refused.stderr, (args, refused.stderr)
    assert sum(d.call("daemon.status")["counts"].values()) == 0
    bad = d.cli("config", "set", "on_finish", "  ")
    assert bad.returncode == 2 and "must not be empty" in bad.stderr
    assert d.call("config.get", {"key": "on_finish"})["value"] == ""
    bad_rate = d.cli("config", "set", "rate_limit", "0/s")
    assert bad_rate.returncode == 2 and "rate_limit" in bad_rate.stderr
    assert d.call("config.get", {"key": "rate_limit"})["value"] == "none"
