"""The CLI for scripts: raw calls, --wait and exit codes, --json everywhere, batch files,
cwd/env of jobs, shell completion. A real daemon, the real `queuectl` command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
import pytest

from queuectl.client import output as out
from queuectl.client.cli import cli
from queuectl.client.commands import register_all
from tests.conftest import Daemon, wait_for
from tests.ptys import run_on_pty

DOCS = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def run_json(d: Daemon, *args: str, code: int = 0, **kw) -> object:
    proc = d.cli(*args, **kw)
    assert proc.returncode == code, (args, proc.returncode, proc.stdout, proc.stderr)
    return json.loads(proc.stdout)  # exactly one JSON document, nothing else


# --- queuectl call -------------------------------------------------------------------------


def test_call_prints_the_raw_result_as_json(daemon: Daemon) -> None:
    status = run_json(daemon, "call", "daemon.status")
    assert status["daemon"]["pid"] == daemon.proc.pid and "counts" in status
    daemon.enqueue("true", id="c1", delay=3600)
    job = run_json(daemon, "call", "job.get", '{"id": "c1", "attempts": false}')
    assert job["id"] == "c1" and job["state"] == "scheduled" and "attempts_detail" not in job
    by_position = run_json(daemon, "call", "job.get", '["c1", false]')
    assert by_position == job


def test_call_errors_become_exit_codes(daemon: Daemon) -> None:
    p = daemon.cli("call", "job.get", '{"id": "nope"}')
    assert p.returncode == out.NOT_FOUND and p.stdout == "" and "nope" in p.stderr
    assert daemon.cli("call", "no.such.method").returncode == out.USAGE
    assert daemon.cli("call", "job.get", "{not json").returncode == out.USAGE
    assert daemon.cli("call", "job.get", '{"id": 5}').returncode == out.USAGE
    assert daemon.cli("call", "job.list", '{"limit": 5, "typo": 1}').returncode == out.USAGE


# --- enqueue --wait, wait, exit codes ----------------------------------------------------------


@pytest.mark.parametrize("code", [0, 1, 7])
def test_enqueue_wait_passes_the_exit_code_through(daemon: Daemon, code: int) -> None:
    p = daemon.cli("enqueue", "--wait", "--max-retries", "0", "--", f"exit {code}")
    assert p.returncode == code, p.stderr
    assert ("completed" if code == 0 else "dead") in p.stdout


def test_enqueue_wait_output_prints_the_jobs_stdout_and_stderr(daemon: Daemon) -> None:
    p = daemon.cli("enqueue", "--wait", "--output", "--max-retries", "0", "--",
                   "printf 'out 1\\nout 2\\n'; echo err >&2; exit 3")  # fmt: skip
    assert p.returncode == 3
    assert p.stdout == "out 1\nout 2\n"  # exactly the job's stdout, nothing of ours
    assert p.stderr == "err\n"


def test_enqueue_wait_with_words_behaves_like_running_the_command(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text("test:\n\t@echo testing in $(CURDIR)\n\t@exit 2\n")
    p = daemon.cli("enqueue", "--wait", "-o", "--max-retries", "0", "--", "make", "-s", "test", cwd=str(tmp_path))
    assert f"testing in {tmp_path}" in p.stdout
    assert p.returncode == 2  # make's own exit code for a failed recipe


def test_enqueue_wait_waits_through_retries_for_the_final_state(daemon: Daemon, tmp_path: Path) -> None:
    daemon.call("config.set", {"key": "backoff_base", "value": 1.0})  # 1 s between attempts
    counter = tmp_path / "n"
    cmd = f"echo x >> {counter}; test $(wc -l < {counter}) -ge 2"  # fails once, then succeeds
    p = daemon.cli("enqueue", "--wait", "--json", "--max-retries", "2", "--", cmd)
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    assert result["job"]["state"] == "completed" and result["job"]["attempts"] == 2


def test_a_wait_that_times_out_exits_124(daemon: Daemon) -> None:
    job = daemon.enqueue("true", id="later", delay=3600)
    t0 = time.monotonic()
    p = daemon.cli("wait", "--timeout", "0.5", job["id"])
    assert p.returncode == out.WAIT_TIMEOUT and "still scheduled" in p.stdout
    assert time.monotonic() - t0 < 30
    p = daemon.cli("enqueue", "--wait", "--wait-timeout", "0.3", "--delay", "3600", "--json", "--", "true")
    assert p.returncode == out.WAIT_TIMEOUT
    result = json.loads(p.stdout)
    assert result["timed_out"] is True and result["job"]["state"] == "scheduled"


def test_dead_without_exit_code_is_125_and_cancelled_is_126(daemon: Daemon) -> None:
    p = daemon.cli("enqueue", "--wait", "--max-retries", "0", "--timeout", "0.3", "--", "sleep 30")
    assert p.returncode == out.JOB_DEAD, (p.stdout, p.stderr)
    p = daemon.cli("enqueue", "--wait", "--max-retries", "0", "--cwd", "/nonexistent/dir", "--", "true")
    assert p.returncode == out.JOB_DEAD
    daemon.enqueue("true", id="tocancel", delay=3600)
    waiter = subprocess.Popen(
        [sys.executable, "-m", "queuectl", "--home", str(daemon.home), "wait", "tocancel"],
        env=daemon.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert daemon.cli("cancel", "tocancel").returncode == 0
    stdout, _ = waiter.communicate(timeout=60)
    assert waiter.returncode == out.JOB_CANCELLED and "cancelled" in stdout


def test_wait_on_several_jobs_and_on_a_finished_one(daemon: Daemon) -> None:
    a = daemon.enqueue("true", max_retries=0)["id"]
    b = daemon.enqueue("exit 4", max_retries=0)["id"]
    results = run_json(daemon, "wait", "--json", a, b, code=4)
    assert [r["job"]["id"] for r in results] == [a, b]
    assert daemon.cli("wait", a).returncode == 0  # already final: at once
    assert daemon.cli("wait", "no-such-job").returncode == out.NOT_FOUND


# --- cwd and env of jobs ---------------------------------------------------------------------


def test_cwd_defaults_to_the_enqueuers_directory_and_cwd_overrides(daemon: Daemon, tmp_path: Path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    p = daemon.cli("enqueue", "--wait", "-o", "--", "pwd", cwd=str(here))
    assert p.returncode == 0 and p.stdout == f"{here}\n"
    p = daemon.cli("enqueue", "--wait", "-o", "--cwd", str(there), "--", "pwd", cwd=str(here))
    assert p.returncode == 0 and p.stdout == f"{there}\n"
    job = run_json(daemon, "enqueue", "--json", "--", "true", cwd=str(here))
    assert job["cwd"] == str(here)


def test_env_is_the_daemons_plus_env_flags_never_the_clients(make_daemon) -> None:
    d = make_daemon(workers=1, env={"QCTL_MARK": "from-daemon"})
    client_env = {"QCTL_MARK": "from-client", "QCTL_CLIENT_ONLY": "leak"}
    p = d.cli("enqueue", "--wait", "-o", "--", 'echo "$QCTL_MARK/${QCTL_CLIENT_ONLY:-unset}"', env=client_env)
    assert p.stdout == "from-daemon/unset\n"
    p = d.cli("enqueue", "--wait", "-o", "--env", "QCTL_MARK=flag", "--env", "OTHER=a=b", "--",
              'echo "$QCTL_MARK $OTHER"', env=client_env)  # fmt: skip
    assert p.stdout == "flag a=b\n"
    assert d.cli("enqueue", "--env", "NOEQUALS", "--", "true").returncode == out.USAGE


# --- every exit code, for real ---------------------------------------------------------------


def test_every_documented_exit_code_is_in_one_table_in_cli_md() -> None:
    text = DOCS.read_text()
    table = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    codes = {int(m) for m in re.findall(r"^\| (\d+) \|", table, flags=re.M)}
    assert codes == set(out.EXIT_CODES)
    assert (out.OK, out.FAILURE, out.USAGE, out.UNREACHABLE, out.NOT_FOUND, out.INVALID_STATE,
            out.CONFLICT, out.ALREADY_RUNNING, out.BAD_DATABASE, out.UNSAFE, out.WAIT_TIMEOUT, out.JOB_DEAD,
            out.JOB_CANCELLED) == (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 124, 125, 126)  # fmt: skip
    # Every code is its own: none is reused for two meanings.
    assert len(set(out.EXIT_CODES.values())) == len(out.EXIT_CODES)
    # The short lists in `queuectl --help` and the README name every code below 124 too.
    readme = (DOCS.parent.parent / "README.md").read_text()
    for name, text in (("--help", cli.help or ""), ("README.md", readme)):
        flat = " ".join(text.split())
        for code, meaning in out.EXIT_CODES.items():
            assert code >= 124 or f"{code} {meaning}" in flat, (name, code, meaning)


def test_exit_codes_provoked_for_real(daemon: Daemon, tmp_path: Path) -> None:
    assert daemon.cli("status").returncode == 0
    # 2: usage errors and invalid input, from click, from us and from the daemon
    assert daemon.cli("list", "--bogus").returncode == 2
    assert daemon.cli("enqueue", '{"command": ').returncode == 2
    assert daemon.cli("enqueue", '{"command": "true", "priorty": 1}').returncode == 2
    assert daemon.cli("list", "--state", "bogus").returncode == 2
    assert daemon.cli("config", "set", "max_retries", "many").returncode == 2
    # 3: no daemon (the message names the socket)
    empty = tmp_path / "empty"
    p = subprocess.run([sys.executable, "-m", "queuectl", "--home", str(empty), "list"],
                       capture_output=True, text=True, env=daemon.env, timeout=60)  # fmt: skip
    assert p.returncode == 3 and "control.sock" in p.stderr and p.stdout == ""
    # 4: not found
    assert daemon.cli("show", "nope").returncode == 4
    assert daemon.cli("logs", "nope").returncode == 4
    p = daemon.cli("logs", "--json", "nope")
    assert p.returncode == 4 and p.stdout == ""
    # 5: invalid state
    daemon.enqueue("true", id="done")
    daemon.wait_state("done", "completed")
    p = daemon.cli("cancel", "done")
    assert p.returncode == 5 and "completed" in p.stderr
    assert daemon.cli("dlq", "retry", "done").returncode == 5
    # 6: duplicate id
    assert daemon.cli("enqueue", "--id", "done", "--", "true").returncode == 6
    # 1: the daemon refuses for another reason (it is shutting down)
    daemon.call("config.set", {"key": "shutdown_grace", "value": 30})
    daemon.enqueue("sleep 60", id="long")
    daemon.wait_state("long", "processing")
    daemon.call("daemon.shutdown")
    p = daemon.cli("worker", "scale", "3")
    assert p.returncode == 1 and "shutting down" in p.stderr
    # (124, 125, 126 and the job's own codes: see the wait tests above)


# --- --json on every command -------------------------------------------------------------------


def _leaf_commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _leaf_commands(command, f"{prefix}{name} ")
        else:
            found.append((prefix + name, command))
    return found


# Servers that run in the foreground (and print nothing for scripts), and
# install-service, which writes or prints a unit file (--print), not data.
NO_JSON = {"daemon", "dashboard", "web", "install-service"}


def test_every_command_has_a_json_option() -> None:
    register_all(cli)
    missing = [name for name, command in _leaf_commands(cli)
               if name not in NO_JSON and not any(p.name == "as_json" for p in command.params)]  # fmt: skip
    assert missing == []


def test_json_output_is_one_document_for_every_command(daemon: Daemon, tmp_path: Path) -> None:
    j = lambda *args, code=0: run_json(daemon, *args, code=code)  # noqa: E731
    job = j("enqueue", "--json", '{"id": "j1", "command": "echo hi; echo ho >&2"}')
    assert job["id"] == "j1"
    assert j("enqueue", "--json", "--wait", "--", "true")["job"]["state"] == "completed"
    assert j("wait", "--json", "j1")["job"]["state"] == "completed"
    (tmp_path / "f.ndjson").write_text('{"id": "f1", "command": "true"}\n{"command": "true"}\n')
    assert j("enqueue", "--json", "--file", str(tmp_path / "f.ndjson"))["count"] == 2
    assert isinstance(j("list", "--json"), list)
    assert j("list", "--json", "--state", "completed", "--limit", "1")[0]["state"] == "completed"
    assert j("show", "--json", "j1")["attempts_detail"][0]["exit_code"] == 0
    assert j("logs", "--json", "j1") == {"id": "j1", "attempt": 1, "stream": "stdout",
                                         "data": "hi\n", "encoding": "utf-8"}  # fmt: skip
    assert j("logs", "--json", "--stderr", "j1")["data"] == "ho\n"
    assert set(j("status", "--json")) == {"counts", "queues", "rate_limit", "workers", "daemon"}
    assert j("worker", "status", "--json")["target"] == 2
    assert j("worker", "scale", "--json", "2")["target"] == 2
    assert j("config", "get", "--json", "max_retries")["key"] == "max_retries"
    assert j("config", "set", "--json", "max_retries", "0") == {"key": "max_retries", "value": 0}
    assert "backoff_base" in j("config", "list", "--json")
    daemon.enqueue("exit 9", id="d1")
    daemon.wait_state("d1", "dead")
    assert [x["id"] for x in j("dlq", "list", "--json")] == ["d1"]
    assert j("dlq", "retry", "--json", "d1") == {"retried": ["d1"]}
    daemon.wait_state("d1", "dead")
    assert j("retry", "--json", "d1")["state"] in ("pending", "processing", "failed", "dead")
    daemon.enqueue("true", id="s1", delay=3600)
    assert j("cancel", "--json", "s1")["state"] == "cancelled"
    assert j("delete", "--json", "s1") == {"deleted": "s1"}
    assert j("call", "--json", "config.get", '{"key": "workers"}')["key"] == "workers"
    init = subprocess.run([sys.executable, "-m", "queuectl", "--home", str(tmp_path / "new"), "init", "--json"],
                          capture_output=True, text=True, env=daemon.env, timeout=60)  # fmt: skip
    assert init.returncode == 0 and json.loads(init.stdout)["socket"].endswith("control.sock")
    assert j("worker", "stop", "--json")["target"] == 0
    assert j("shutdown", "--json") == {"stopping": True, "pid": daemon.proc.pid, "stopped": True}
    # Errors print nothing on stdout, with or without --json.
    daemon.proc.wait(30)
    p = daemon.cli("status", "--json")
    assert p.returncode == 3 and p.stdout == ""


def test_streams_print_ndjson(daemon: Daemon) -> None:
    base = [sys.executable, "-m", "queuectl", "--home", str(daemon.home)]
    events = subprocess.Popen([*base, "events", "--json", "--topic", "job."], env=daemon.env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        # The subscription takes a moment to reach the daemon: enqueue until one arrives.
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(events.stdout.readline()), daemon=True)
        reader.start()
        wait_for(lambda: (daemon.enqueue("true"), lines)[1], timeout=30, interval=0.2, what="an event")
        assert json.loads(lines[0])["event"].startswith("job.")
    finally:
        events.kill()
        events.wait(10)
    daemon.call("workers.stop")
    wait_for(lambda: not daemon.call("workers.status")["children"], timeout=30, what="workers gone")
    starter = subprocess.Popen([*base, "worker", "start", "--count", "1", "--json"], env=daemon.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_for(lambda: daemon.call("workers.status")["target"] == 1, timeout=30, what="a worker")
    daemon.enqueue("true", id="w1")
    daemon.wait_state("w1", "completed")
    assert daemon.cli("worker", "stop").returncode == 0  # "from another terminal"
    stdout, stderr = starter.communicate(timeout=60)
    assert starter.returncode == 0, stderr
    events_seen = [json.loads(line) for line in stdout.splitlines()]
    assert any(e["event"] == "job.completed" and e["job_id"] == "w1" for e in events_seen)
    assert "workers stopped" in stderr


# --- enqueue --file ----------------------------------------------------------------------------


def test_a_50000_line_file_is_enqueued_in_seconds(make_daemon, tmp_path: Path) -> None:
    d = make_daemon(workers=0)
    path = tmp_path / "big.ndjson"
    path.write_text("".join(json.dumps({"id": f"big{i}", "command": "true", "priority": i % 3}) + "\n"
                            for i in range(50_000)))  # fmt: skip
    t0 = time.monotonic()
    p = d.cli("enqueue", "--file", str(path), "--json", timeout=120)
    elapsed = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["count"] == 50_000
    assert d.call("daemon.status")["counts"]["pending"] == 50_000
    assert d.job("big49999")["priority"] == 49_999 % 3
    assert elapsed < 60, f"50,000 lines took {elapsed:.1f}s"
    assert p.stderr == ""  # no progress bar when stderr is not a terminal


@pytest.mark.parametrize("line3", ['{"id": "l3", "command": ', '{"id": "l3", "comand": "true"}', "[1, 2]"])
def test_a_broken_line_3_rejects_the_whole_file(daemon: Daemon, tmp_path: Path, line3: str) -> None:
    path = tmp_path / "jobs.ndjson"
    path.write_text("\n".join(['{"id": "l1", "command": "true"}', '{"id": "l2", "command": "true"}',
                               line3, '{"id": "l4", "command": "true"}']) + "\n")  # fmt: skip
    p = daemon.cli("enqueue", "--file", str(path))
    assert p.returncode == out.USAGE and "line 3" in p.stderr and "nothing was enqueued" in p.stderr
    assert daemon.call("job.list")["total"] == 0


def test_duplicates_reject_the_whole_file_with_their_line(daemon: Daemon, tmp_path: Path) -> None:
    daemon.enqueue("true", id="exists", delay=3600)
    path = tmp_path / "jobs.ndjson"
    lines = [json.dumps({"id": f"x{i}", "command": "true"}) for i in range(2500)]
    lines[1999] = json.dumps({"id": "exists", "command": "true"})  # in the second chunk
    path.write_text("\n".join(lines) + "\n")
    p = daemon.cli("enqueue", "--file", str(path))
    assert p.returncode == out.CONFLICT and "line 2000" in p.stderr, p.stderr
    lines[1999] = json.dumps({"id": "x5", "command": "true"})  # twice in the file, chunks apart
    path.write_text("\n".join(lines) + "\n")
    p = daemon.cli("enqueue", "--file", str(path))
    assert p.returncode == out.CONFLICT and "line 2000" in p.stderr and "line 6" in p.stderr
    assert daemon.call("job.list")["total"] == 1


def test_skip_invalid_enqueues_the_rest_and_reports_lines(daemon: Daemon, tmp_path: Path) -> None:
    daemon.enqueue("true", id="old", delay=3600)
    path = tmp_path / "mixed.ndjson"
    path.write_text("\n".join([
        '{"id": "ok1", "command": "true"}',
        '{"id": "ok2", "command": "true"}',
        '{"id": "broken", ',
        '{"id": "ok1", "command": "true"}',
        '{"id": "badfield", "command": "true", "prio": 1}',
        '{"id": "old", "command": "true"}',
        "",
        '{"command": "true"}',
    ]) + "\n")  # fmt: skip
    p = daemon.cli("enqueue", "--file", str(path), "--skip-invalid", "--json")
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    assert result["count"] == 3 and result["ids"][:2] == ["ok1", "ok2"]
    assert [(s["line"], s["error"]) for s in result["skipped"]] == [
        (3, "parse_error"), (4, "duplicate_id"), (5, "invalid_params"), (6, "duplicate_id")]  # fmt: skip
    for n in (3, 4, 5, 6):
        assert f"skipped line {n}:" in p.stderr
    assert daemon.call("job.list")["total"] == 4
    # Every line bad: nothing enqueued, the exit code of the first bad line.
    path.write_text('{"id": "old", "command": "true"}\n{"id": "ok1", "command": "true"}\n')
    p = daemon.cli("enqueue", "--file", str(path), "--skip-invalid")
    assert p.returncode == out.CONFLICT and "enqueued 0 jobs, skipped 2 lines" in p.stdout


def test_enqueue_many_skip_invalid_over_rpc(daemon: Daemon) -> None:
    daemon.enqueue("true", id="there", delay=3600)
    jobs = [{"id": "n1", "command": "true", "delay": 3600}, {"id": "there", "command": "true"},
            {"command": 5}, {"id": "n1", "command": "true"}, {"id": "n2", "command": "true", "delay": 3600}]  # fmt: skip
    dry = daemon.call("job.enqueue_many", {"jobs": jobs, "skip_invalid": True, "dry_run": True})
    assert dry["count"] == 2 and dry["ids"] == [] and daemon.call("job.list")["total"] == 1
    result = daemon.call("job.enqueue_many", {"jobs": jobs, "skip_invalid": True})
    assert result["ids"] == ["n1", "n2"] and result["count"] == 2
    assert [(s["index"], s["code"]) for s in result["skipped"]] == [(1, -32002), (2, -32602), (3, -32002)]


def test_a_progress_bar_on_a_terminal_only(make_daemon, tmp_path: Path) -> None:
    d = make_daemon(workers=0)
    path = tmp_path / "jobs.ndjson"
    path.write_text("".join(f'{{"command": "true", "id": "p{i}"}}\n' for i in range(5000)))
    proc, shown = run_on_pty(
        [sys.executable, "-m", "queuectl", "--home", str(d.home), "enqueue", "--file", str(path)],
        d.env, stdout_on_pty=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stdout == b"enqueued 5000 jobs\n"
    assert b"enqueueing" in shown


# --- shell completion ------------------------------------------------------------------------


def test_shell_completion_script_and_completions(daemon: Daemon) -> None:
    env = {**daemon.env, "_QUEUECTL_COMPLETE": "bash_source"}
    p = subprocess.run([sys.executable, "-m", "queuectl"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0 and "complete" in p.stdout and "_QUEUECTL_COMPLETE" in p.stdout
    env = {**daemon.env, "_QUEUECTL_COMPLETE": "bash_complete", "COMP_WORDS": "queuectl en", "COMP_CWORD": "1"}
    p = subprocess.run([sys.executable, "-m", "queuectl"], capture_output=True, text=True, env=env, timeout=60)
    assert "plain,enqueue" in p.stdout.splitlines()
    assert "_QUEUECTL_COMPLETE=bash_source queuectl" in DOCS.read_text()
