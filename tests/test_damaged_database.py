"""A damaged queue.db (issue 12, item 15): the daemon and `queuectl init` refuse it with one
line naming the file and exit code 8, never a traceback, and change nothing in it; the
recovery documented in docs/operations.md works on it. Real databases written by a real
daemon, damaged on disk."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from queuectl.client import output as out
from queuectl.daemon import store as S
from tests.conftest import Daemon


def filled_home(make_daemon, jobs: int = 300) -> Daemon:
    """A home whose queue.db holds real jobs (and spans many pages), daemon stopped."""
    d = make_daemon(workers=0)
    d.call("job.enqueue_many", {"jobs": [{"id": f"j{i:04d}", "command": f"echo {'x' * 200} {i}"}
                                         for i in range(jobs)]})  # fmt: skip
    assert d.stop() == 0
    assert not Path(str(d.paths.db) + "-wal").exists() or Path(str(d.paths.db) + "-wal").stat().st_size == 0
    return d


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def start_refused(d: Daemon) -> str:
    d.start(wait=False)
    assert d.proc is not None
    code = d.proc.wait(30)
    log = d.log()
    assert code == out.BAD_DATABASE == 8, log
    assert "Traceback" not in log
    human = [line for line in log.splitlines() if line.startswith("queuectl daemon:")]
    assert len(human) == 1, log
    assert str(d.paths.db) in human[0]
    return human[0]


def init_refused(d: Daemon) -> str:
    p = d.cli("init")
    assert p.returncode == out.BAD_DATABASE, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and p.stderr.count("\n") == 1, p.stderr
    assert str(d.paths.db) in p.stderr
    return p.stderr


def test_a_truncated_database_is_refused(make_daemon) -> None:
    d = filled_home(make_daemon)
    db = d.paths.db
    size = db.stat().st_size
    page = sqlite3.connect(str(db)).execute("PRAGMA page_size").fetchone()[0]
    assert size >= 8 * page
    with open(db, "r+b") as f:
        f.truncate(size // 2 // page * page)  # cut short, as by a full disk or a broken copy
    before = digest(db)
    line = start_refused(d)
    assert "damaged" in line and ".recover" in line and "docs/operations.md" in line
    assert "damaged" in init_refused(d)
    assert digest(db) == before  # nothing written


def test_a_page_of_garbage_is_refused(make_daemon) -> None:
    d = filled_home(make_daemon)
    db = d.paths.db
    page = sqlite3.connect(str(db)).execute("PRAGMA page_size").fetchone()[0]
    pages = db.stat().st_size // page
    with open(db, "r+b") as f:
        f.seek((pages // 2) * page)  # a page in the middle of the jobs table
        f.write(os.urandom(page))
    before = digest(db)
    start_refused(d)
    init_refused(d)
    assert digest(db) == before


def test_a_file_that_is_not_a_database_is_refused(make_daemon) -> None:
    d = filled_home(make_daemon)
    with open(d.paths.db, "r+b") as f:
        f.write(b"this is not a SQLite file" * 4)  # over the header
    assert "damaged" in start_refused(d)
    assert "damaged" in init_refused(d)


def test_a_database_from_a_newer_queuectl_is_refused(make_daemon) -> None:
    d = filled_home(make_daemon, jobs=3)
    db = sqlite3.connect(str(d.paths.db))
    db.execute(f"PRAGMA user_version={S.SCHEMA_VERSION + 1}")
    db.close()
    assert "newer" in start_refused(d)
    assert "newer" in init_refused(d)


def test_a_healthy_database_still_starts_and_init_checks_it(make_daemon) -> None:
    d = filled_home(make_daemon, jobs=20)
    p = d.cli("init")
    assert p.returncode == 0 and str(d.paths.db) in p.stdout
    d.start()
    assert d.call("job.list", {"limit": 0})["total"] == 20


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="needs the sqlite3 command")
def test_the_documented_recovery_gives_a_database_the_daemon_starts_on(make_daemon) -> None:
    d = filled_home(make_daemon)
    db = d.paths.db
    page = sqlite3.connect(str(db)).execute("PRAGMA page_size").fetchone()[0]
    with open(db, "r+b") as f:
        f.seek((db.stat().st_size // page // 2) * page)
        f.write(os.urandom(page))
    start_refused(d)
    # docs/operations.md, "A damaged database": keep it aside, .recover into a new queue.db.
    damaged = db.with_name("queue.db.damaged")
    db.rename(damaged)
    recover = subprocess.run(["sqlite3", str(damaged), ".recover"], capture_output=True)
    if recover.returncode == 0:
        subprocess.run(["sqlite3", str(db)], input=recover.stdout, capture_output=True, check=True)
    else:  # a sqlite3 built without the dbpage table (Debian 12's): the documented .dump route
        assert b"SQL logic error" in recover.stderr, recover.stderr
        dump = subprocess.run(["sqlite3", str(damaged), ".dump"], capture_output=True, check=True).stdout
        dump = dump.replace(b"\nROLLBACK; -- due to errors\n", b"\nCOMMIT;\n")
        subprocess.run(["sqlite3", str(db)], input=dump, capture_output=True, check=True)
        version = subprocess.run(["sqlite3", str(damaged), "PRAGMA user_version"], capture_output=True,
                                 text=True, check=True).stdout.strip()  # fmt: skip
        subprocess.run(["sqlite3", str(db), f"PRAGMA user_version={version}"], check=True)
    check = subprocess.run(["sqlite3", str(db), "PRAGMA integrity_check"], capture_output=True, text=True)
    assert check.stdout.strip() == "ok"
    d.log_path.unlink()
    d.start()
    total = d.call("job.list", {"limit": 0})["total"]
    assert 0 < total < 300  # the jobs on the garbage page are gone, the rest are back
    assert d.cli("init").returncode == 0


def test_quick_check_is_what_the_store_runs(tmp_path: Path) -> None:
    # Below the daemon: Store() itself refuses, with the same one line.
    path = tmp_path / "queue.db"
    S.Store(path).close()
    with open(path, "r+b") as f:
        f.truncate(1024 + 7)
    with pytest.raises(S.UnusableDatabase) as info:
        S.Store(path)
    assert info.value.damaged and str(path) in str(info.value) and "\n" not in str(info.value)
