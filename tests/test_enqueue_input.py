"""Bad input to `enqueue` and the job methods (issue 12, items 9 to 12): JSON that is not
one job, times no reader could show, commands the kernel would refuse, and tracebacks
instead of one line. A real daemon, the real `queuectl` command, real `sh -c`."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from queuectl import jobs as J
from queuectl.client import output as out
from queuectl.client.rpc import RemoteError
from tests.conftest import Daemon


def one_line_error(p: subprocess.CompletedProcess[str], code: int) -> str:
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr, p.stderr
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("queuectl: "), p.stderr
    assert p.stdout == ""
    return p.stderr


# --- 9: an argument that looks like JSON is JSON -------------------------------------------------


@pytest.mark.parametrize("arg", ["[]", '[{"command":"echo"}]', '  [{"command": "true"}, {"command": "true"}]'])
def test_a_json_array_is_refused_with_a_hint_to_file(daemon: Daemon, arg: str) -> None:
    err = one_line_error(daemon.cli("enqueue", arg), out.USAGE)
    assert "--file" in err and "array" in err
    assert daemon.call("job.list")["total"] == 0  # nothing was run or stored


@pytest.mark.parametrize("arg", ["[1,", "{not json", ' {"command": "true"', "[ -f /etc/passwd ] && echo yes"])
def test_invalid_json_in_a_json_looking_argument_is_refused(daemon: Daemon, arg: str) -> None:
    err = one_line_error(daemon.cli("enqueue", arg), out.USAGE)
    assert "not valid JSON" in err and "--" in err  # how to run it as a shell command instead
    assert daemon.call("job.list")["total"] == 0


def test_two_json_jobs_as_two_arguments_are_refused(daemon: Daemon) -> None:
    for args in (['{"command": "echo a"}', '{"command": "echo b"}'],
                 ["--", '{"command": "echo a"}', '{"command": "echo b"}'],
                 ['{"command": "echo a"}', "echo", "b"]):  # fmt: skip
        err = one_line_error(daemon.cli("enqueue", *args), out.USAGE)
        assert "one JSON job" in err and "--file" in err, args
    assert daemon.call("job.list")["total"] == 0


def test_a_json_job_with_leading_blanks_is_still_json(daemon: Daemon) -> None:
    p = daemon.cli("enqueue", "--json", '\n  {"id": "ws", "command": "echo ws"}')
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["id"] == "ws"
    assert daemon.wait_state("ws")["state"] == "completed"


def test_after_double_dash_words_are_a_shell_command(daemon: Daemon, tmp_path: Path) -> None:
    # JSON as an argument of a command, and shell commands that start with [ or {.
    flag = tmp_path / "flag"
    flag.write_text("")
    for job_id, words, expected in (
        ("echo", ["echo", '{"a":1}'], '{"a":1}\n'),
        ("test", [f"[ -f {flag} ] && echo yes"], "yes\n"),
        ("group", ["{ echo a; echo b; }"], "a\nb\n"),
    ):
        p = daemon.cli("enqueue", "--id", job_id, "--", *words)
        assert p.returncode == 0, (words, p.stderr)
        assert daemon.wait_state(job_id)["state"] == "completed", words
        assert daemon.cli("logs", job_id).stdout == expected
    # A lone JSON job after -- is still a job (a JSON object is never a useful command).
    p = daemon.cli("enqueue", "--", '{"id": "dd", "command": "echo dd"}')
    assert p.returncode == 0, p.stderr
    assert daemon.wait_state("dd")["command"] == "echo dd"
    err = one_line_error(daemon.cli("enqueue", "--", '[{"command": "true"}]'), out.USAGE)
    assert "--file" in err


# --- 10: one rule for times on every way in; no stored time breaks a reader ------------------


def test_run_at_in_the_year_10000_is_refused_on_every_path(daemon: Daemon, tmp_path: Path) -> None:
    late = "9999-12-31T23:59:59-14:00"
    with pytest.raises(RemoteError) as info:
        daemon.call("job.enqueue_many", {"jobs": [{"command": "true", "run_at": late}]})
    assert info.value.name == "invalid_params" and info.value.data["index"] == 0
    assert "9999-12-31T23:59:59.999999Z" in info.value.message
    skipped = daemon.call("job.enqueue_many", {"jobs": [{"command": "true", "run_at": late}],
                                               "skip_invalid": True})["skipped"]  # fmt: skip
    assert [s["index"] for s in skipped] == [0]
    with pytest.raises(RemoteError):
        daemon.call("job.enqueue", {"command": "true", "run_at": late})
    one_line_error(daemon.cli("enqueue", "--run-at", late, "--", "true"), out.USAGE)
    one_line_error(daemon.cli("enqueue", json.dumps({"command": "true", "run_at": late})), out.USAGE)
    (tmp_path / "jobs.ndjson").write_text(json.dumps({"command": "true", "run_at": late}) + "\n")
    err = one_line_error(daemon.cli("enqueue", "--file", str(tmp_path / "jobs.ndjson")), out.USAGE)
    assert "line 1" in err
    # Everything still reads.
    assert daemon.cli("list").returncode == 0
    assert daemon.call("job.list")["total"] == 0


@pytest.mark.parametrize("flag", ["--delay", "--timeout"])
@pytest.mark.parametrize("value", ["nan", "inf", "1e400", "-1", "1e12"])
def test_delay_and_timeout_flags_that_are_not_a_sane_number(daemon: Daemon, flag: str, value: str) -> None:
    err = one_line_error(daemon.cli("enqueue", flag, value, "--", "true"), out.USAGE)
    assert "seconds" in err
    assert daemon.call("job.list")["total"] == 0


def test_a_delay_too_large_for_a_float_is_invalid_params_not_an_internal_error(daemon: Daemon) -> None:
    with pytest.raises(RemoteError) as info:
        daemon.call("job.enqueue", {"command": "true", "delay": 10**400})
    assert info.value.name == "invalid_params" and info.value.data["field"] == "delay"


def test_a_time_that_got_into_the_database_anyway_breaks_no_reader(make_daemon) -> None:
    d = make_daemon(workers=0)
    for i in range(3):
        d.enqueue("true", id=f"t{i}", delay=3600)
    d.stop()
    db = sqlite3.connect(str(d.paths.db))
    with db:
        db.execute("UPDATE jobs SET run_at = 1e20, created_at = -1e20 WHERE id = 't0'")
        db.execute("UPDATE jobs SET run_at = 253402387199.0 WHERE id = 't1'")  # the -14:00 one
        db.execute("UPDATE jobs SET updated_at = 9e999 WHERE id = 't2'")  # +Infinity
    db.close()
    d.start()
    jobs = {j["id"]: j for j in d.call("job.list")["jobs"]}
    assert jobs["t0"]["run_at"] == "9999-12-31T23:59:59.999999Z"
    assert jobs["t0"]["created_at"] == "0001-01-01T00:00:00.000000Z"
    assert jobs["t1"]["run_at"] == "9999-12-31T23:59:59.999999Z"
    assert jobs["t2"]["updated_at"] == "9999-12-31T23:59:59.999999Z"
    for args in (["list"], ["show", "t0"], ["show", "t1"], ["list", "--state", "scheduled"]):
        p = d.cli(*args)
        assert p.returncode == 0 and "Traceback" not in p.stderr, (args, p.stderr)
    assert d.call("job.cancel", {"id": "t1"})["state"] == "cancelled"


# --- 11: the command and env the kernel will take -----------------------------------------------


def test_the_largest_command_runs_and_one_byte_more_is_refused(make_daemon, tmp_path: Path) -> None:
    d = make_daemon(workers=1)
    limit = J.exec_limits().max_string  # MAX_ARG_STRLEN - 1: 131,071 on 4 KiB pages
    assert limit == 32 * os.sysconf("SC_PAGE_SIZE") - 1
    head = "echo ran #"
    largest = head + "x" * (limit - len(head))
    assert len(largest.encode()) == limit
    d.enqueue(largest, id="largest", max_retries=0)
    job = d.wait_state("largest", timeout=30)
    assert job["state"] == "completed", job["last_error"]
    assert d.cli("logs", "largest").stdout == "ran\n"
    with pytest.raises(RemoteError) as info:
        d.enqueue(largest + "x", id="toolarge")
    assert info.value.name == "invalid_params" and info.value.data["field"] == "command"
    assert f"{limit + 1:,} bytes" in info.value.message and f"{limit:,}" in info.value.message
    # The CLI's own checks say the same (a file: one argv word this long cannot even reach it).
    (tmp_path / "big.ndjson").write_text(json.dumps({"command": largest + "x"}) + "\n")
    err = one_line_error(d.cli("enqueue", "--file", str(tmp_path / "big.ndjson")), out.USAGE)
    assert "line 1" in err and f"{limit:,} bytes" in err
    assert [j["id"] for j in d.call("job.list")["jobs"]] == ["largest"]


def test_env_within_the_share_of_arg_max_runs_and_more_is_refused(make_daemon) -> None:
    d = make_daemon(workers=1)
    limits = J.exec_limits()
    value = "v" * (limits.max_string - len("V00="))
    per_var = J.exec_bytes("V00=" + value)
    n = (limits.max_total - J.exec_bytes("echo $V00")) // per_var
    env = {f"V{i:02d}": value for i in range(n)}
    d.enqueue('printf %s "$V00" | wc -c', id="big-env", env=env, max_retries=0)
    job = d.wait_state("big-env", timeout=30)
    assert job["state"] == "completed", job["last_error"]
    assert d.cli("logs", "big-env").stdout.strip() == str(len(value))
    env[f"V{n:02d}"] = value
    with pytest.raises(RemoteError) as info:
        d.enqueue("true", env=env)
    assert info.value.name == "invalid_params" and info.value.data["field"] == "env"
    assert f"{limits.max_total:,}" in info.value.message


# --- 12: one line, not a traceback ----------------------------------------------------------


@pytest.mark.parametrize("env", ['"A=1"', "[1, 2]", "5", "true"])
def test_a_json_env_that_is_not_an_object_with_env_flags(daemon: Daemon, env: str) -> None:
    p = daemon.cli("enqueue", "--env", "B=2", f'{{"command": "true", "env": {env}}}')
    err = one_line_error(p, out.USAGE)
    assert "env" in err
    assert daemon.call("job.list")["total"] == 0


def test_a_json_env_of_null_with_env_flags_is_just_the_flags(daemon: Daemon) -> None:
    p = daemon.cli("enqueue", "--env", "B=2", '{"id": "n", "command": "echo $B", "env": null}')
    assert p.returncode == 0, p.stderr
    daemon.wait_state("n")
    assert daemon.cli("logs", "n").stdout == "2\n"


def test_enqueue_from_a_directory_that_was_removed(daemon: Daemon, tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    script = f'cd "{gone}" && rmdir "{gone}" && exec "$@"'
    base = [sys.executable, "-m", "queuectl", "--home", str(daemon.home)]
    for args in (["enqueue", "--", "true"], ["enqueue", "--file", "-"]):
        p = subprocess.run(["sh", "-c", script, "sh", *base, *args], input='{"command": "true"}\n',
                           capture_output=True, text=True, env=daemon.env, timeout=60)  # fmt: skip
        err = one_line_error(p, out.USAGE)
        assert "--cwd" in err, args
        gone.mkdir()
    # With --cwd (or a cwd in the JSON) it does not matter where we are.
    p = subprocess.run(["sh", "-c", script, "sh", *base, "enqueue", "--cwd", "/", "--", "true"],
                       capture_output=True, text=True, env=daemon.env, timeout=60)  # fmt: skip
    assert p.returncode == 0, p.stderr


def test_a_file_that_is_not_utf8(daemon: Daemon, tmp_path: Path) -> None:
    path = tmp_path / "bad.ndjson"
    path.write_bytes(b'{"command": "true"}\n{"command": "echo \xff\xfe"}\n')
    err = one_line_error(daemon.cli("enqueue", "--file", str(path)), out.USAGE)
    assert "line 2" in err and "UTF-8" in err
    p = daemon.cli("enqueue", "--file", str(path), "--skip-invalid")
    assert p.returncode == 0 and "skipped line 2" in p.stderr, p.stderr
    assert daemon.call("job.list")["total"] == 1


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_a_global_timeout_that_is_not_a_sane_number(daemon: Daemon, value: str) -> None:
    p = daemon.cli("--timeout", value, "status")
    assert p.returncode == out.USAGE and "Traceback" not in p.stderr, p.stderr
    assert "--timeout" in p.stderr


@pytest.mark.parametrize("value", ["nan", "-1", "inf"])
def test_a_wait_timeout_that_is_not_a_sane_number(daemon: Daemon, value: str) -> None:
    one_line_error(daemon.cli("enqueue", "--wait", "--wait-timeout", value, "--", "true"), out.USAGE)
    assert daemon.call("job.list")["total"] == 0
    one_line_error(daemon.cli("wait", "--timeout", value, "nope"), out.USAGE)
