"""`queuectl logs --follow` follows the job, not one attempt (issue 12, item 13): through its
retries, and from before it starts, until it is final. A real daemon, real retries."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import Daemon, wait_for


def follow(d: Daemon, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "queuectl", "--home", str(d.home), "logs", "--follow", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=d.env)  # fmt: skip


def flaky(marker: Path) -> str:
    """Fails its first attempt, succeeds on the next (a marker file remembers)."""
    return (f'sleep 0.3; echo "attempt $QUEUECTL_ATTEMPT"; if [ -e {marker} ]; then echo second; exit 0; fi; '
            f"touch {marker}; echo first; echo oops >&2; exit 3")  # fmt: skip


def test_follow_shows_every_attempt_until_the_job_is_completed(make_daemon, tmp_path: Path) -> None:
    d = make_daemon(workers=1)
    d.call("config.set", {"key": "backoff_base", "value": 1.5})
    d.enqueue(flaky(tmp_path / "marker"), id="flaky")
    proc = follow(d, "flaky")
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert stdout == "attempt 1\nfirst\nattempt 2\nsecond\n"
    assert "attempt 1 failed (exit code 3); retry in" in stderr, stderr
    assert "Traceback" not in stderr
    job = d.job("flaky")
    assert job["state"] == "completed" and job["attempts"] == 2


def test_follow_of_stderr_and_as_json_covers_the_retries_too(make_daemon, tmp_path: Path) -> None:
    d = make_daemon(workers=1)
    d.call("config.set", {"key": "backoff_base", "value": 1.0})
    d.enqueue(flaky(tmp_path / "marker"), id="flaky", max_retries=1)
    proc = follow(d, "--json", "flaky")
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    chunks = [json.loads(line) for line in stdout.splitlines()]
    assert "".join(c["data"] for c in chunks if c["attempt"] == 1) == "attempt 1\nfirst\n"
    assert "".join(c["data"] for c in chunks if c["attempt"] == 2) == "attempt 2\nsecond\n"
    (tmp_path / "marker").unlink()
    d.call("job.delete", {"id": "flaky"})
    d.enqueue(flaky(tmp_path / "marker"), id="flaky2", max_retries=1)
    proc = follow(d, "--stderr", "flaky2")
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0 and stdout == "oops\n", (stdout, stderr)


def test_follow_waits_for_a_scheduled_job_and_says_so(daemon: Daemon) -> None:
    daemon.enqueue("echo later", id="later", delay=2)
    t0 = time.monotonic()
    proc = follow(daemon, "later")
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert time.monotonic() - t0 >= 1.0  # it waited for the job, it did not end at once
    assert stdout == "later\n"
    assert "waiting: job later is scheduled for 20" in stderr, stderr
    assert daemon.job("later")["state"] == "completed"


def test_follow_waits_for_a_pending_job_until_a_worker_takes_it(make_daemon) -> None:
    d = make_daemon(workers=0)
    d.enqueue("echo picked up", id="queued")
    proc = follow(d, "queued")
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "waiting: job queued is pending" in line, line
    time.sleep(0.5)
    assert proc.poll() is None  # still following
    d.call("workers.scale", {"count": 1})
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert stdout == "picked up\n"


def test_follow_ends_when_the_waiting_job_is_cancelled_or_dies(make_daemon) -> None:
    d = make_daemon(workers=1)
    d.enqueue("echo never", id="never", delay=3600)
    proc = follow(d, "never")
    assert proc.stderr is not None
    assert "scheduled" in proc.stderr.readline()
    d.call("job.cancel", {"id": "never"})
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0 and stdout == ""
    assert "cancelled" in stderr
    d.enqueue("echo bye; exit 4", id="doomed", max_retries=0)
    proc = follow(d, "doomed")
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0 and stdout == "bye\n"
    assert "doomed is dead (exit code 4)" in stderr


def test_follow_of_one_attempt_still_ends_with_that_attempt(make_daemon, tmp_path: Path) -> None:
    d = make_daemon(workers=1)
    d.call("config.set", {"key": "backoff_base", "value": 1.0})
    d.enqueue(flaky(tmp_path / "marker"), id="flaky")
    wait_for(lambda: d.job("flaky")["attempts"] >= 1, what="attempt 1")
    proc = follow(d, "--attempt", "1", "flaky")
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0 and stdout == "attempt 1\nfirst\n", stderr
