"""A real daemon on a real PostgreSQL server (tests/pgserver.py): choosing the database,
one daemon per name on a database, `migrate --to`, and the store surviving a restart.

The behaviour suites that run on both stores say so with `database = both_stores`
(tests/test_lifecycle.py, tests/test_schedules.py, tests/test_dependencies.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import FINAL, Daemon, wait_for


def queuectl(home: Path, *args: str, env: dict[str, str] | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:  # fmt: skip
    full = {k: v for k, v in os.environ.items() if k != "QUEUECTL_DATABASE"}
    full.update({"QUEUECTL_NO_AUTOSTART": "1", **(env or {})})
    return subprocess.run([sys.executable, "-m", "queuectl", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=timeout, env=full)  # fmt: skip


def pg_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_a_daemon_on_postgresql_runs_jobs_and_keeps_them_there(tmp_path: Path, pg_server: Any) -> None:
    url = pg_server.fresh_url()
    d = Daemon(tmp_path / "home", workers=2, env={"QUEUECTL_DATABASE": url}).start()
    try:
        d.enqueue("echo out; echo err >&2", id="ok")
        d.enqueue("exit 3", id="bad", max_retries=0)
        assert d.wait_state("ok")["state"] == "completed"
        assert d.wait_state("bad")["state"] == "dead"
        logs = d.cli("logs", "ok")
        assert logs.returncode == 0 and "out" in logs.stdout
        status = json.loads(d.cli("status", "--json").stdout)
        assert status["daemon"]["database"] == {"kind": "postgresql", "url": url, "source": "QUEUECTL_DATABASE",
                                                "error": None, "failing_since": None}
        assert "database: postgresql://" in d.cli("status").stdout
        assert not d.paths.db.exists()  # nothing went to SQLite
    finally:
        d.stop()
    assert dict(pg_rows(url, "SELECT id, state FROM jobs")) == {"ok": "completed", "bad": "dead"}
    # a restart finds them, and numbers new jobs after them
    d = Daemon(tmp_path / "home", workers=1, env={"QUEUECTL_DATABASE": url}).start()
    try:
        assert d.job("ok")["state"] == "completed"
        d.enqueue("true", id="after-restart")
        assert d.wait_state("after-restart")["state"] == "completed"
        seqs = dict(pg_rows(url, "SELECT id, seq FROM jobs"))
        assert seqs["after-restart"] > max(seqs["ok"], seqs["bad"])
    finally:
        d.stop()


def test_a_second_daemon_of_the_same_name_on_the_same_database_is_refused(tmp_path: Path, pg_server: Any) -> None:
    url = pg_server.fresh_url()
    first = Daemon(tmp_path / "a", workers=0, env={"QUEUECTL_DATABASE": url}).start()
    try:
        second = queuectl(tmp_path / "b", "daemon", "--workers", "0", "--database", url, timeout=30)
        assert second.returncode == 8, second.stderr
        assert "another queuectl daemon" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.call("daemon.status")["counts"] is not None  # the first serves on
    finally:
        first.stop()


def test_bad_database_settings_exit_2_and_start_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = queuectl(home, "daemon", "--database", "mysql://root:hunter2@db/q", timeout=30)
    assert r.returncode == 2 and "unsupported database" in r.stderr and "hunter2" not in r.stderr
    r = queuectl(home, "daemon", env={"QUEUECTL_DATABASE": "nonsense"}, timeout=30)
    assert r.returncode == 2 and "QUEUECTL_DATABASE" in r.stderr
    home.mkdir(exist_ok=True)
    config = home / "queuectl.toml"
    config.write_text('database = "postgresql://queue:hunter2@db/q"\n')
    config.chmod(0o644)
    r = queuectl(home, "daemon", timeout=30)
    assert r.returncode == 2 and "chmod 600" in r.stderr and "hunter2" not in r.stderr
    assert "Traceback" not in r.stderr


def test_an_unreachable_database_is_a_clear_refusal(tmp_path: Path, pg_server: Any) -> None:
    url = f"postgresql://postgres@/nosuchdb?host={pg_server.sockdir}"
    r = queuectl(tmp_path / "home", "daemon", "--database", url, timeout=60)
    assert r.returncode == 8, r.stderr
    assert "nosuchdb" in r.stderr and "Traceback" not in r.stderr


def fill_home(home: Path) -> dict[str, str]:
    """A SQLite home with finished, dead, waiting, blocked and scheduled jobs, a queue,
    a schedule and settings; returns the jobs' states."""
    d = Daemon(home, workers=2).start()
    try:
        d.call("config.set", {"key": "max_retries", "value": 5})
        assert d.cli("queue", "add", "slow", "--concurrency", "1").returncode == 0
        d.enqueue("echo hello", id="done")
        d.enqueue("exit 1", id="dead", max_retries=0)
        d.enqueue("true", id="later", delay=3600)
        d.enqueue("true", id="child", after=["later"])
        d.enqueue("true", id="queued", queue="slow", delay=7200)
        assert d.cli("schedule", "add", "nightly", "--cron", "0 3 * * *", "--", "true").returncode == 0
        d.wait_state("done")
        d.wait_state("dead")
        states = {j["id"]: j["state"] for j in d.call("job.list", {"limit": 100})["jobs"]}
    finally:
        d.stop()
    return states


def test_migrate_copies_a_home_into_postgresql_and_the_daemon_carries_on(tmp_path: Path, pg_server: Any) -> None:
    home = tmp_path / "home"
    states = fill_home(home)
    url = pg_server.fresh_url()
    r = queuectl(home, "migrate", "--to", url, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["rows"]["jobs"] == len(states) and report["rows"]["schedules"] == 1
    assert report["rows"]["attempts"] >= 2 and report["rows"]["job_deps"] == 1
    assert sum(report["jobs_by_state"].values()) == len(states)
    assert report["output"]["attempts"] >= 1 and report["output"]["bytes"] >= len("hello\n")
    # Another home (another host) on the same database reads the copied output.
    elsewhere = Daemon(tmp_path / "elsewhere", workers=0, env={"QUEUECTL_DATABASE": url}).start("--name", "other")
    try:
        copied = elsewhere.cli("logs", "done")
        assert copied.returncode == 0 and "hello" in copied.stdout, copied
    finally:
        elsewhere.stop()
    d = Daemon(home, workers=1, env={"QUEUECTL_DATABASE": url}).start()
    try:
        assert {j["id"]: j["state"] for j in d.call("job.list", {"limit": 100})["jobs"]} == states
        logs = d.cli("logs", "done")
        assert logs.returncode == 0 and "hello" in logs.stdout  # output read from the same home
        assert d.call("config.get", {"key": "max_retries"})["value"] == 5
        assert sorted(q["name"] for q in d.call("queue.list")) == ["default", "slow"]
        assert d.call("schedule.get", {"name": "nightly"})["cron"] == "0 3 * * *"
        assert d.job("child")["parents"][0]["id"] == "later"
        d.enqueue("echo new", id="new")
        assert d.wait_state("new")["state"] == "completed"
        wait_for(lambda: d.call("daemon.status")["counts"]["completed"] == 2, what="counts")
        assert d.cli("logs", "done").stdout == logs.stdout  # the old output is still the old output
    finally:
        d.stop()
    segments = dict(pg_rows(url, "SELECT j.id, a.segment FROM attempts a JOIN jobs j ON j.seq = a.job_seq "
                                 "WHERE j.id IN ('done', 'new')"))  # fmt: skip
    # the run number carried over: the new run's segment is not a name the old run used
    assert None not in segments.values(), segments
    assert int(segments["new"].split("-")[0]) > int(segments["done"].split("-")[0])
    # the source is untouched: a second copy into the same database is refused
    r = queuectl(home, "migrate", "--to", url)
    assert r.returncode == 6 and "not empty" in r.stderr


def test_migrate_refusals_change_nothing(tmp_path: Path, pg_server: Any) -> None:
    home = tmp_path / "home"
    url = pg_server.fresh_url()
    r = queuectl(home, "migrate", "--to", url)
    assert r.returncode == 4 and "no database" in r.stderr
    r = queuectl(home, "migrate", "--to", "sqlite")
    assert r.returncode == 2
    d = Daemon(home, workers=0).start()
    try:
        d.enqueue("true", id="j")
        r = queuectl(home, "migrate", "--to", url)
        assert r.returncode == 7 and "stop it first" in r.stderr
    finally:
        d.stop()
    assert pg_rows(url, "SELECT count(*) FROM pg_tables WHERE tablename = 'jobs'")[0][0] in (0, 1)
    if pg_rows(url, "SELECT count(*) FROM pg_tables WHERE tablename = 'jobs'")[0][0]:
        assert pg_rows(url, "SELECT count(*) FROM jobs")[0][0] == 0


@pytest.mark.parametrize("final", FINAL)
def test_final_states_survive_a_migration(tmp_path: Path, pg_server: Any, final: str) -> None:
    home = tmp_path / "home"
    d = Daemon(home, workers=1).start()
    try:
        command = {"completed": "true", "dead": "exit 1", "cancelled": "sleep 30"}[final]
        d.enqueue(command, id="j", max_retries=0)
        if final == "cancelled":
            d.wait_state("j", "processing")
            d.call("job.cancel", {"id": "j"})
        assert d.wait_state("j")["state"] == final
    finally:
        d.stop()
    url = pg_server.fresh_url()
    assert queuectl(home, "migrate", "--to", url).returncode == 0
    assert pg_rows(url, "SELECT state FROM jobs WHERE id = 'j'") == [(final,)]


def test_a_killed_daemon_on_postgresql_loses_nothing(tmp_path: Path, pg_server: Any) -> None:
    """SIGKILL: the children kill their jobs, PostgreSQL ends the dead daemon's session
    (and its lock), and the restarted daemon re-runs what was not recorded as finished."""
    url = pg_server.fresh_url()
    d = Daemon(tmp_path / "home", workers=4, env={"QUEUECTL_DATABASE": url}).start()
    ledger = tmp_path / "ledger"
    for i in range(4):
        d.enqueue(f"echo start >> {ledger}; sleep 2; echo end >> {ledger}", id=f"j{i}", max_retries=0)
    wait_for(lambda: d.call("daemon.status")["counts"]["processing"] == 4, timeout=30, what="4 running")
    d.kill9()
    d.start()
    try:
        counts = d.wait_all_final(60)
        assert counts["completed"] == 4
        for i in range(4):
            interrupted, final = d.job(f"j{i}")["attempts_detail"]
            assert interrupted["charged"] is False and "interrupted" in interrupted["error"]
            assert final["exit_code"] == 0
        assert ledger.read_text().count("end") == 4
    finally:
        d.stop()


def test_the_database_going_away_is_survived(tmp_path: Path) -> None:
    """PostgreSQL stopped under a busy daemon: the daemon stays up, keeps what its
    children report, and carries on when the server is back (a server of its own: the
    session's is shared)."""
    from tests.pgserver import PgServer

    server = PgServer().start()
    try:
        url = server.fresh_url()
        d = Daemon(tmp_path / "home", workers=2, env={"QUEUECTL_DATABASE": url}).start()
        try:
            d.enqueue("sleep 2", id="through")
            d.wait_state("through", "processing")
            server.pg_ctl("stop", "-m", "fast", "-w")
            for _ in range(3):  # requests fail with storage_error, and the daemon lives on
                r = d.cli("enqueue", "--", "true", timeout=30)
                assert r.returncode != 0 and "Traceback" not in r.stderr
            assert d.proc is not None and d.proc.poll() is None
            # status answers from memory and says what is wrong
            r = d.cli("status", "--json", timeout=30)
            assert r.returncode == 0, r.stderr
            database = json.loads(r.stdout)["daemon"]["database"]
            assert database["error"] and database["failing_since"]
            assert "database: FAILING since" in d.cli("status", timeout=30).stdout
            server.pg_ctl("start", "-w", "-t", "60", "-l", str(server.log), "-o",
                          f"-c listen_addresses='' -c unix_socket_directories={server.sockdir}")  # fmt: skip
            job = wait_for(lambda: _final_or_none(d, "through"), timeout=30, what="the job's finish to be recorded")
            assert job["state"] == "completed"
            d.enqueue("true", id="after")
            assert d.wait_state("after")["state"] == "completed"
            assert d.call("daemon.status")["daemon"]["database"]["error"] is None
            events = [e.get("event") for e in d.log_events()]
            assert "store.error" in events and "store.ok" in events
        finally:
            d.stop()
    finally:
        server.stop()


def _final_or_none(d: Daemon, job_id: str) -> dict[str, Any] | None:
    try:
        job = d.job(job_id)
    except Exception:  # storage errors until the store has reconnected
        return None
    return job if job["state"] in FINAL else None


def test_a_due_retry_does_not_spin_the_loop_while_the_database_is_away(tmp_path: Path) -> None:
    """Failing jobs with a short back-off, and the server stopped: their retries fall due
    while nothing can be written. The loop must not come round at once for them again and
    again (each turn fails: store.error lines by the ten thousand a second, a whole core);
    and once the server is back they run (a server of its own: the session's is shared)."""
    from tests.pgserver import PgServer

    server = PgServer().start()
    try:
        url = server.fresh_url()
        d = Daemon(tmp_path / "home", workers=1, env={"QUEUECTL_DATABASE": url}).start()
        try:
            for key, value in (("backoff_base", 2), ("backoff_max", 0.05)):
                d.call("config.set", {"key": key, "value": value})
            d.call("job.enqueue_many", {"jobs": [{"id": f"f{i}", "command": "exit 1", "max_retries": 1000}
                                                 for i in range(20)]})  # fmt: skip
            wait_for(lambda: d.call("daemon.status")["counts"]["failed"] > 0, 10, what="a job backing off")
            server.pg_ctl("stop", "-m", "fast", "-w")
            stopped = len(d.log_events())
            time.sleep(2)
            errors = [e for e in d.log_events()[stopped:] if e.get("event") == "store.error"]
            server.start_again()
            assert len(errors) < 200, f"{len(errors)} store.error lines in 2 s"
            wait_for(lambda: _attempts_of(d, "f0") > 3, 20, what="the retries to go on")
        finally:
            d.stop()
    finally:
        server.stop()


def _attempts_of(d: Daemon, job_id: str) -> int:
    try:
        return int(d.job(job_id)["attempts"])
    except Exception:  # storage errors until the store has reconnected
        return 0


def test_after_a_reconnect_a_daemon_reconciles_what_it_holds_with_the_database(tmp_path: Path,
                                                                                pg_server: Any) -> None:  # fmt: skip
    """A server that lost its last commits (a failover to a standby behind) no longer has
    what the daemon went on from. Made here by hand, then the daemon's session ended so it
    connects again: a job whose claim the database lost is killed by the daemon (another
    daemon may run it), and a job whose end it lost goes back to pending (it runs again)."""
    url = pg_server.fresh_url()
    d = Daemon(tmp_path / "home", workers=2, env={"QUEUECTL_DATABASE": url}).start("--name", "solo")
    try:
        marker = tmp_path / "ran-to-the-end"
        d.enqueue(f"sleep 30; touch {marker}", id="claimed")
        d.enqueue("true", id="ended")
        wait_for(lambda: d.job("claimed")["state"] == "processing", 10, what="claimed to run")
        # the database lost the claim of `claimed` (its attempt and state) and the end of `ended`
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("DELETE FROM attempts WHERE job_seq = (SELECT seq FROM jobs WHERE id = 'claimed')")
            admin.execute("UPDATE jobs SET state = 'pending', attempts = 0 WHERE id = 'claimed'")
            wait_for(lambda: d.job("ended")["state"] == "completed", 10, what="ended to end")
            admin.execute("UPDATE attempts SET finished_at = NULL, error = NULL "
                          "WHERE job_seq = (SELECT seq FROM jobs WHERE id = 'ended')")  # fmt: skip
            admin.execute("UPDATE jobs SET state = 'processing' WHERE id = 'ended'")
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = 'queuectl daemon'")  # fmt: skip
        wait_for(lambda: any(e.get("event") == "daemon.reconciled" for e in d.log_events()), 15,
                 what="the reconcile")  # fmt: skip
        assert d.wait_state("ended", "completed", timeout=20)["attempts"] == 2  # (it ran again)
        # the job whose claim was lost was killed here, and then claimed and run again
        wait_for(lambda: d.job("claimed")["attempts"] >= 1 and d.job("claimed")["state"] == "processing", 20,
                 what="claimed to run again")  # fmt: skip
        assert not marker.exists()
        killed = [e for e in d.log_events() if e.get("event") == "daemon.reconciled" and e.get("killed")]
        assert [e["killed"] for e in killed] == ["claimed"]
    finally:
        d.stop()
