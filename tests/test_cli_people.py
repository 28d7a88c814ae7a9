"""The CLI's output for people: tables that fit 80 and 120 columns (COLUMNS), short times
and human units, colour only on a terminal (NO_COLOR, --no-color), `list` newest first
with a hint that counts the search's matches, `logs` framed on a terminal, `worker start`
putting the pool back on Ctrl+C, durations with units. A real daemon, the real command."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from queuectl.client import output as out
from tests.conftest import Daemon, wait_for

LONG_ID = "nightly-report-for-the-accounting-department-" + "x" * 40
ESC = "\x1b["


def run_tty(d: Daemon, *args: str, env: dict[str, str] | None = None, stdin: bool = False) -> tuple[int, str]:
    """(exit code, what a terminal showed) of `queuectl --home H ARGS` with stdout and
    stderr on a pseudo-terminal."""
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    proc = subprocess.run([sys.executable, "-m", "queuectl", "--home", str(d.home), *args],
                          stdout=slave, stderr=slave, stdin=subprocess.DEVNULL, env={**d.env, **(env or {})},
                          timeout=60)  # fmt: skip
    os.close(slave)
    reader.join(10)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode().replace("\r\n", "\n")


def visible(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Daemon:
    """A daemon with jobs in most states: long ids, long and multi-line commands, a dead
    job, a scheduled one, and one running on the only worker."""
    d = Daemon(tmp_path_factory.mktemp("people") / "home", workers=1)
    d.start()
    d.enqueue("echo " + "word " * 60, id=LONG_ID)
    d.wait_state(LONG_ID, "completed")
    d.enqueue("echo first line\necho second line that is rather long " + "z" * 80, id="multi")
    d.wait_state("multi", "completed")
    d.enqueue("echo oops >&2; exit 3", id="dead-" + "d" * 70, max_retries=0)
    d.wait_state("dead-" + "d" * 70, "dead")
    d.enqueue("true", id="later", delay=3600)
    d.enqueue("sleep 600 # " + "long " * 40, id="running-" + "r" * 60)
    d.wait_state("running-" + "r" * 60, "processing")
    yield d
    d.stop(signal.SIGKILL)


PEOPLE_COMMANDS = [["list"], ["list", "--state", "dead"], ["status"], ["show", LONG_ID], ["show", "multi"],
                   ["worker", "status"], ["dlq", "list"]]  # fmt: skip


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("args", PEOPLE_COMMANDS, ids=" ".join)
def test_no_line_is_wider_than_the_terminal(busy: Daemon, columns: int, args: list[str]) -> None:
    p = busy.cli(*args, env={"COLUMNS": str(columns)})
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines() + p.stderr.splitlines()
    assert len(lines) >= 2
    too_wide = [line for line in lines if len(line) > columns]
    assert not too_wide, too_wide
    assert ESC not in p.stdout  # a pipe: no colour


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("args", [*PEOPLE_COMMANDS, ["logs", LONG_ID], ["logs", "multi"],
                                  ["logs", "--stderr", "dead-" + "d" * 70]], ids=" ".join)  # fmt: skip
def test_on_a_terminal_too_with_colour(busy: Daemon, columns: int, args: list[str]) -> None:
    code, shown = run_tty(busy, *args, env={"COLUMNS": str(columns)})
    assert code == 0, shown
    lines = visible(shown).splitlines()
    if args[0] == "logs":  # the job's own output is as it wrote it: our header and footer fit
        lines = [lines[0], lines[-1]]
        assert lines[0].startswith("── job ") and lines[1].startswith("── ")
    too_wide = [line for line in lines if len(line) > columns]
    assert not too_wide, too_wide
    if args[0] in ("list", "status", "worker") or args == ["show", "multi"]:
        assert ESC in shown  # states in colour


def test_no_colour_with_no_color_or_the_flag(busy: Daemon) -> None:
    for env, extra in (({"NO_COLOR": "1"}, []), ({}, ["--no-color"])):
        for args in (["list"], ["status"], ["worker", "status"], ["show", "multi"]):
            code, shown = run_tty(busy, *extra, *args, env=env)
            assert code == 0 and ESC not in shown, (env, extra, args, shown)


def test_status_counts_every_state_in_human_units(busy: Daemon) -> None:
    p = busy.cli("status", env={"COLUMNS": "80"})
    for state in ("scheduled", "pending", "assigned", "processing", "completed", "failed", "dead", "cancelled"):
        assert re.search(rf"\b{state} \d+", p.stdout), state
    assert re.search(r"up \d+(\.\d)?s|up \d+m\d\ds", p.stdout), p.stdout
    assert re.search(r"for \d+(\.\d)?s", p.stdout) and "…" in p.stdout  # the long id cut
    workers = busy.cli("worker", "status", env={"COLUMNS": "80"}).stdout
    assert "FOR_S" not in workers and re.search(r"\b\d+\.\ds\b|\b\d+m\d\ds\b", workers), workers


def test_show_aligns_every_line_and_says_yes_or_no(busy: Daemon) -> None:
    p = busy.cli("show", "multi", env={"COLUMNS": "80"})
    lines = p.stdout.splitlines()
    command = lines.index(next(line for line in lines if line.startswith("command")))
    assert lines[command + 1].startswith(" " * 13 + "echo second line")  # under the value
    assert "True" not in p.stdout and "COUNTED" in p.stdout and " yes " in p.stdout
    assert "ms " in p.stdout or re.search(r"\d\.\ds ", p.stdout)  # TOOK in one unit


def test_list_is_newest_first_and_the_hint_counts_the_search(make_daemon: Callable[..., Daemon]) -> None:
    d = make_daemon(workers=0)
    for i in range(5):
        d.enqueue("true", id=f"alpha{i}")
    for i in range(3):
        d.enqueue("true", id=f"beta{i}")
    p = d.cli("list", "--search", "alpha", "-n", "2")
    ids = [line.split()[0] for line in p.stdout.splitlines()[1:]]
    assert ids == ["alpha4", "alpha3"]
    assert "(2 of 5 shown, newest first" in p.stderr, p.stderr
    p = d.cli("list", "--oldest-first", "-n", "2")
    assert [line.split()[0] for line in p.stdout.splitlines()[1:]] == ["alpha0", "alpha1"]
    assert "(2 of 8 shown, oldest first" in p.stderr
    p = d.cli("list", "--newest-first", "-n", "1", "--search", "beta")
    assert p.stdout.splitlines()[1].split()[0] == "beta2" and "(1 of 3 shown" in p.stderr
    assert d.cli("list", "--search", "beta").stderr == ""  # all shown: no hint
    listed = d.call("job.list", {"search": "alpha", "limit": 1})
    assert listed["total"] == 8 and listed["matched"] == 5
    assert d.call("job.list", {"state": "pending", "limit": 0})["matched"] == 8
    assert d.call("job.list", {"ids": ["beta0", "gone"], "limit": 0})["matched"] == 1


def test_logs_piped_are_the_bytes_on_a_terminal_framed(busy: Daemon) -> None:
    p = busy.cli("logs", "multi")
    assert p.stdout == "first line\nsecond line that is rather long " + "z" * 80 + "\n" and p.stderr == ""
    code, shown = run_tty(busy, "logs", "multi", env={"COLUMNS": "80"})
    lines = visible(shown).splitlines()
    assert code == 0 and "attempt 1 of 1" in lines[0] and lines[1] == "first line"
    assert "completed" in lines[-1] and "exit 0" in lines[-1] and "took" in lines[-1]
    code, shown = run_tty(busy, "logs", "--json", "multi")
    assert json.loads(shown)["attempt"] == 1  # --json: the document only


def test_worker_start_prints_for_people_and_ctrl_c_restores_the_pool(make_daemon: Callable[..., Daemon]) -> None:
    d = make_daemon(workers=0)
    d.call("workers.scale", {"count": 2})
    wait_for(lambda: len(d.call("workers.status")["children"]) == 2, timeout=30, what="2 workers")
    fg = subprocess.Popen([sys.executable, "-m", "queuectl", "--home", str(d.home), "worker", "start",
                           "--count", "4"], env=d.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_for(lambda: d.call("workers.status")["target"] == 4, timeout=30, what="the pool at 4")
        d.enqueue("true", id="ok")
        d.wait_state("ok", "completed")
        time.sleep(0.3)  # the event reaches `worker start`
        fg.send_signal(signal.SIGINT)
        stdout, stderr = fg.communicate(timeout=60)
    finally:
        if fg.poll() is None:
            fg.kill()
    assert fg.returncode == 0, stderr
    assert d.call("workers.status")["target"] == 2
    wait_for(lambda: len(d.call("workers.status")["children"]) == 2, timeout=30, what="back to 2 workers")
    completed = next(line for line in stdout.splitlines() if "job.completed" in line)
    assert re.match(r"\d\d:\d\d:\d\d job\.completed +ok +exit 0$", completed), completed
    assert "exit_code=" not in stdout and "workers stopped" in stdout


def test_durations_take_units_everywhere(make_daemon: Callable[..., Daemon]) -> None:
    d = make_daemon(workers=0)
    job = json.loads(d.cli("enqueue", "--json", "--delay", "10m", "--timeout", "1h30m", "--", "true").stdout)
    assert job["timeout"] == 5400 and job["state"] == "scheduled"
    run_at = time.mktime(time.strptime(job["run_at"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert 590 < run_at - time.time() <= 600
    assert json.loads(d.cli("enqueue", "--json", "--timeout", "2.5", "--", "true").stdout)["timeout"] == 2.5
    t0 = time.monotonic()
    p = d.cli("wait", job["id"], "--timeout", "500ms")
    assert p.returncode == out.WAIT_TIMEOUT and time.monotonic() - t0 < 10
    p = d.cli("enqueue", "--wait", "--wait-timeout", "300ms", "--", "true")
    assert p.returncode == out.WAIT_TIMEOUT
    assert d.cli("--timeout", "5s", "list").returncode == 0
    for args in (["enqueue", "--delay", "10x", "--", "true"], ["enqueue", "--timeout", "1h30", "--", "true"],
                 ["wait", "x", "--timeout", "soon"], ["enqueue", "--wait", "--wait-timeout", "1y", "--", "true"],
                 ["--timeout", "5 seconds", "list"]):  # fmt: skip
        p = d.cli(*args)
        assert p.returncode == out.USAGE and p.stdout == "", (args, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and "invalid duration" in p.stderr, (args, p.stderr)
    p = d.cli("enqueue", "--delay", "2y", "--", "true")
    assert p.returncode == out.USAGE and "--delay" in p.stderr
    assert d.cli("config", "set", "default_timeout", "1h30m").stdout.strip() == "default_timeout = 5400.0"
    p = d.cli("config", "set", "kill_grace", "5x")
    assert p.returncode == out.USAGE and "invalid duration" in p.stderr


def test_file_progress_counts_jobs_and_the_autostart_note_comes_first(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = tmp_path / "jobs.ndjson"
    path.write_text("".join(f'{{"command": "true", "id": "p{i}"}}\n' for i in range(3000)))
    d = Daemon(home, workers=0)
    d.env.pop("QUEUECTL_NO_AUTOSTART")  # this one starts a daemon
    try:
        code, shown = run_tty(d, "enqueue", "--file", str(path))
        assert code == 0, shown
        assert "3000/3000" in shown and "6000" not in shown, shown
        note = shown.index("started a daemon")
        assert "checking" not in shown[:note] and "enqueueing" not in shown[:note]
        assert shown[note:].split("\n", 1)[0].count("%") == 0  # the bar is not on the note's line
    finally:
        subprocess.run([sys.executable, "-m", "queuectl", "--home", str(home), "shutdown"],
                       env={**d.env, "QUEUECTL_NO_AUTOSTART": "1"}, capture_output=True, timeout=60)  # fmt: skip
