"""A daemon's name (queuectl/identity.py): given with --name or the host's, recorded on
each attempt, shown by status, show and the dashboard's job page."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from queuectl.identity import check_name, default_name
from queuectl.validation import ValidationError
from tests.conftest import Daemon


def test_each_attempt_records_the_daemon_that_ran_it(tmp_path: Path) -> None:
    d = Daemon(tmp_path / "home", workers=1).start("--name", "builder-1")
    try:
        d.call("config.set", {"key": "backoff_base", "value": 1})
        d.enqueue("exit 1", id="twice", max_retries=1)
        job = d.wait_state("twice", "dead", timeout=20)
        assert [a["daemon"] for a in job["attempts_detail"]] == ["builder-1", "builder-1"]
        status = json.loads(d.cli("status", "--json").stdout)
        assert status["daemon"]["name"] == "builder-1"
        assert "daemon:  builder-1, pid" in d.cli("status").stdout
        show = d.cli("show", "twice").stdout
        assert "DAEMON" in show and "builder-1" in show
        # `workers status` (as the cluster docs say it) is `worker status`, name included.
        plural, singular = d.cli("workers", "status"), d.cli("worker", "status")
        assert plural.returncode == 0 and plural.stdout.startswith("daemon builder-1: workers: 1 running"), plural
        assert plural.stdout.split("\n")[:2] == singular.stdout.split("\n")[:2]
        as_json = json.loads(d.cli("workers", "status", "--json").stdout)
        assert as_json["daemon"] == "builder-1"
    finally:
        d.stop()
    # a restart under another name: old attempts keep theirs
    d = Daemon(tmp_path / "home", workers=1).start("--name", "builder-2")
    try:
        d.call("job.retry", {"id": "twice"})
        job = d.wait_state("twice", "dead", timeout=20)
        assert [a["daemon"] for a in job["attempts_detail"]][:2] == ["builder-1", "builder-1"]
        assert job["attempts_detail"][-1]["daemon"] == "builder-2"
    finally:
        d.stop()


def check_name_ok(name: str) -> bool:
    try:
        check_name(name)
    except ValidationError:
        return False
    return True


def test_the_default_name_is_the_hosts(daemon: Daemon) -> None:
    host = socket.gethostname()
    assert default_name() == check_name(default_name())
    if check_name_ok(host):
        assert default_name() == host
    daemon.enqueue("true", id="j")
    assert daemon.wait_state("j")["attempts_detail"][0]["daemon"] == default_name()
    assert daemon.call("daemon.status")["daemon"]["name"] == default_name()


def test_a_bad_name_exits_2_and_starts_nothing(tmp_path: Path) -> None:
    d = Daemon(tmp_path / "home", workers=0)
    for bad in ("", "-lead", "has space", "x" * 65, "ünï"):
        r = d.cli("daemon", "--name", bad, timeout=30)
        assert r.returncode == 2, (bad, r.stderr)
        assert "--name" in r.stderr and "Traceback" not in r.stderr
    assert not d.paths.db.exists()
