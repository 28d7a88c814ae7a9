"""Output caps: an attempt keeps at most max_output bytes (the job's own, or config
max_output_bytes); past it the output is dropped, the job runs on, and the attempt and
`logs` say how much was dropped. And the disk floor: under it no job starts."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Daemon, wait_for
from dashboard_helpers import free_port, http


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Daemon:
    daemon = Daemon(tmp_path_factory.mktemp("caps") / "home", workers=2)
    daemon.start()
    yield daemon
    daemon.stop()


def test_a_job_writing_past_its_limit_runs_on_and_says_what_was_dropped(d: Daemon, tmp_path: Path) -> None:
    marker = tmp_path / "ran-on"
    run = d.cli("enqueue", "--id", "big", "--max-output", "1M", "--wait", "--",
                f"head -c 5000000 /dev/zero | tr '\\0' x; echo done > {marker}")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert marker.read_text() == "done\n"  # it went on after the limit, and was not blocked
    job = json.loads(d.cli("show", "big", "--json").stdout)
    assert job["state"] == "completed" and job["exit_code"] == 0 and job["max_output"] == 1 << 20
    attempt = job["attempts_detail"][-1]
    assert attempt["truncated"] is True and attempt["max_output"] == 1 << 20
    assert attempt["stdout_bytes"] == 1 << 20 and attempt["dropped_bytes"] == 5_000_000 - (1 << 20)
    logs = d.cli("logs", "big")
    out = logs.stdout
    body, last = out[: 1 << 20], out[1 << 20 :]
    assert set(body) == {"x"}
    assert last == "\n[queuectl: output truncated: 3.8 MiB dropped past the 1 MiB limit]\n"
    followed = d.cli("logs", "--follow", "big").stdout  # following the job ends the same way
    assert len(followed) == len(out) and followed.endswith(last)
    human = d.cli("show", "big").stdout
    assert "DROPPED" in human and "4.0 MB" in human and "max_output   1 MiB" in human


def test_output_under_the_limit_is_whole_and_unmarked(d: Daemon) -> None:
    run = d.cli("enqueue", "--id", "small", "--wait", "--", "seq 1 1000; echo oops >&2")
    assert run.returncode == 0, run.stderr
    assert d.cli("logs", "small").stdout == "".join(f"{i}\n" for i in range(1, 1001))
    assert d.cli("logs", "small", "--stderr").stdout == "oops\n"
    attempt = d.job("small")["attempts_detail"][-1]
    assert attempt["truncated"] is False and attempt["dropped_bytes"] == 0
    assert attempt["max_output"] == 64 << 20  # the default


def test_the_config_limit_is_live_and_counts_both_streams(d: Daemon) -> None:
    assert d.cli("config", "set", "max_output_bytes", "1KiB").returncode == 0
    try:
        job = d.enqueue("head -c 800 /dev/zero; head -c 800 /dev/zero >&2")
        done = d.wait_state(job["id"])
        attempt = done["attempts_detail"][-1]
        assert attempt["max_output"] == 1024
        assert attempt["stdout_bytes"] + attempt["stderr_bytes"] == 1024 and attempt["dropped_bytes"] == 576
        # The JSON form of enqueue and the RPC take max_output too, bytes or a size.
        run = d.cli("enqueue", '{"command": "head -c 3000 /dev/zero", "max_output": 2000}', "--wait")
        assert run.returncode == 0, run.stderr
        assert d.call("job.enqueue", {"command": "true", "max_output": "2kB"})["max_output"] == 2000
    finally:
        d.cli("config", "set", "max_output_bytes", "64MiB")


def test_bad_sizes_are_refused(d: Daemon) -> None:
    for value, words in (("10x", "invalid size '10x'"), ("-5", "from 0 to 1 PiB"), ("2000T", "from 0 to 1 PiB")):
        run = d.cli("enqueue", "--max-output", value, "--", "true")
        assert run.returncode == 2 and words in run.stderr and "Traceback" not in run.stderr, (value, run.stderr)
    run = d.cli("enqueue", '{"command": "true", "max_output": true}')
    assert run.returncode == 2 and "max_output must be a size" in run.stderr
    run = d.cli("config", "set", "max_output_bytes", "lots")
    assert run.returncode == 2 and "invalid size 'lots'" in run.stderr
    assert d.call("daemon.status")["counts"]["pending"] == 0


def test_under_the_disk_floor_no_job_starts_until_space_returns(d: Daemon) -> None:
    # A floor above the free space (the whole disk: 100 %, and more bytes than it has), live.
    assert d.cli("config", "set", "disk_free_min_percent", "100").returncode == 0
    assert d.cli("config", "set", "disk_free_min_bytes", "1000T").returncode == 0
    try:
        wait_for(lambda: d.call("daemon.status")["daemon"]["disk"]["low"], what="the disk floor")
        job = d.enqueue("true")
        time.sleep(0.5)
        assert d.job(job["id"])["state"] == "pending"
        status = d.cli("status")
        assert "under the floor of" in status.stdout and "no new job starts" in status.stdout
        disk = json.loads(d.cli("status", "--json").stdout)["daemon"]["disk"]
        assert disk["low"] is True and disk["free_bytes"] < disk["floor_bytes"]
        _dashboard_says_so(d)
        assert d.cli("config", "set", "disk_free_min_percent", "5").returncode == 0  # back down: it resumes
        d.wait_state(job["id"], "completed", timeout=10)
        assert d.call("daemon.status")["daemon"]["disk"]["low"] is False
        events = [e["event"] for e in d.log_events() if e.get("event", "").startswith("disk.")]
        assert events == ["disk.low", "disk.ok"]  # one line entering, one leaving
    finally:
        d.cli("config", "set", "disk_free_min_percent", "5")
        d.cli("config", "set", "disk_free_min_bytes", "1GiB")


def _dashboard_says_so(d: Daemon) -> None:
    """The overview shows the disk warning; a job's page, its attempt's cut output."""
    if importlib.util.find_spec("starlette") is None:
        return
    port, token = free_port(), "caps-dashboard-token-0123"
    proc = subprocess.Popen([sys.executable, "-m", "queuectl", "--home", str(d.home), "dashboard", "--port",
                             str(port)], env={**d.env, "QUEUECTL_DASHBOARD_TOKEN": token},
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        auth = {"Authorization": f"Bearer {token}"}
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _up(f"{url}/healthz"), what="the dashboard")
        overview = http(f"{url}/", headers=auth).text
        assert re.search(r'id="disk-low" role="alert">', overview), "the disk warning is hidden"
        page = http(f"{url}/job?id=big", headers=auth).text  # (the first test's job)
        assert "output cut: 3.8 MiB dropped past the 1 MiB limit" in page or "no job with id" in page.lower()
    finally:
        proc.terminate()
        proc.wait(10)


def _up(url: str) -> bool:
    try:
        return http(url).status == 401
    except OSError:
        return False
