"""The original QueueCTL's CLI flow, autostart, foreground workers, and a daemon that is gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import Daemon, wait_for


def run_cli(home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60,
            input: str | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("QUEUECTL_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "queuectl", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=timeout, env=full_env, input=input)  # fmt: skip


def shutdown(home: Path) -> None:
    run_cli(home, "shutdown", env={"QUEUECTL_NO_AUTOSTART": "1"})


def test_the_seed_readme_flow(tmp_path: Path) -> None:
    home = tmp_path / "home"
    try:
        r = run_cli(home, "init")
        assert r.returncode == 0 and str(home / "queue.db") in r.stdout
        # The first command that needs a daemon starts one, and says so on stderr.
        r = run_cli(home, "config", "set", "max_retries", "5")
        assert r.returncode == 0, r.stderr
        assert "started a daemon (pid" in r.stderr and str(home) in r.stderr
        assert run_cli(home, "config", "get", "max_retries").stdout.strip() == "5"
        r = run_cli(home, "worker", "stop")
        assert r.returncode == 0
        wait_for(lambda: json.loads(run_cli(home, "worker", "status", "--json").stdout)["children"] == [],
                 what="workers to stop")  # fmt: skip
        r = run_cli(home, "enqueue", '{"id":"job1","command":"echo Hello World"}')
        assert r.returncode == 0 and "job1" in r.stdout and "started a daemon" not in r.stderr
        r = run_cli(home, "list", "--state", "pending")
        assert "job1" in r.stdout
        # worker start stays in the foreground until `worker stop` from another terminal.
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUEUECTL_")}
        fg = subprocess.Popen([sys.executable, "-m", "queuectl", "--home", str(home), "worker", "start",
                               "--count", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
        wait_for(lambda: json.loads(run_cli(home, "show", "job1", "--json").stdout)["state"] == "completed",
                 timeout=20, what="job1 to complete")  # fmt: skip
        status = json.loads(run_cli(home, "status", "--json").stdout)
        assert status["workers"]["target"] == 4 and status["counts"]["completed"] == 1
        assert fg.poll() is None  # still in the foreground
        assert run_cli(home, "worker", "stop").returncode == 0
        out, _ = fg.communicate(timeout=20)
        assert fg.returncode == 0 and "workers stopped" in out
        assert run_cli(home, "logs", "job1").stdout == "Hello World\n"
        r = run_cli(home, "status")
        assert r.returncode == 0 and "completed 1" in r.stdout
    finally:
        shutdown(home)


def test_ctrl_c_in_worker_start_stops_the_workers_gracefully(tmp_path: Path) -> None:
    home = tmp_path / "home"
    d = Daemon(home, workers=0)
    d.start()
    try:
        d.enqueue("sleep 1; echo done", id="slow")
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUEUECTL_")}
        fg = subprocess.Popen([sys.executable, "-m", "queuectl", "--home", str(home), "worker", "start",
                               "--count", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
        wait_for(lambda: d.job("slow")["started_at"], what="the job to start")
        fg.send_signal(signal.SIGINT)
        out, err = fg.communicate(timeout=20)
        assert fg.returncode == 0, err
        assert "job.started" in out and "workers stopped" in out
        job = d.job("slow")
        assert job["state"] == "completed"  # it finished its job before stopping
        assert d.call("workers.status")["children"] == []
    finally:
        d.stop()


def test_status_shutdown_and_worker_stop_never_start_a_daemon(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for args in (["status"], ["shutdown"], ["worker", "stop"]):
        t0 = time.monotonic()
        r = run_cli(home, *args)
        assert r.returncode == 3, (args, r.stderr)
        assert "run/control.sock" in r.stderr or "control.sock" in r.stderr
        assert time.monotonic() - t0 < 5
    assert not (home / "run" / "control.sock").exists()


def test_no_autostart_when_turned_off(tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = run_cli(home, "enqueue", "--", "true", env={"QUEUECTL_NO_AUTOSTART": "1"})
    assert r.returncode == 3 and "no queuectl daemon answers" in r.stderr


def test_a_wedged_daemon_fails_fast_with_the_socket_path(daemon: Daemon) -> None:
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = daemon.cli("--timeout", "2", "status")
        assert r.returncode == 3
        assert str(daemon.paths.socket) in r.stderr and "within 2s" in r.stderr
        assert time.monotonic() - t0 < 6
    finally:
        os.kill(daemon.proc.pid, signal.SIGCONT)
    assert daemon.cli("status").returncode == 0


def test_bad_input_on_the_cli_is_one_line_and_nonzero(daemon: Daemon) -> None:
    for args, code in (
        (["enqueue", "{not json"], 2),
        (["enqueue"], 2),
        (["enqueue", '{"command": ""}'], 2),
        (["enqueue", '{"command": "true", "priority": "high"}'], 2),
        (["show", "missing"], 4),
        (["config", "set", "max_retries", "lots"], 2),
        (["config", "set", "no_such_key", "1"], 2),
    ):
        r = daemon.cli(*args)
        assert r.returncode == code, (args, r.returncode, r.stderr)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("queuectl: "), r.stderr
        assert "Traceback" not in r.stderr
    daemon.cli("enqueue", '{"id": "dup", "command": "true"}')
    r = daemon.cli("enqueue", '{"id": "dup", "command": "true"}')
    assert r.returncode == 6 and "exists already" in r.stderr
    assert daemon.call("job.list")["total"] == 1


README = Path(__file__).resolve().parent.parent / "README.md"


def readme_flow() -> list[list[str]]:
    """The commands of the README's "flow of the original QueueCTL", as argv lists."""
    import shlex

    text = README.read_text()
    block = text.split("The flow of the original QueueCTL", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line.split("  #", 1)[0])[1:] for line in block.splitlines() if line.strip()]


def test_the_readme_flow_runs_as_written_and_every_step_succeeds(tmp_path: Path) -> None:
    """Each command of the README's flow, in order, exits 0 (it used to end with
    `dlq retry job1` on a completed job: exit 5)."""
    home = tmp_path / "home"
    flow = readme_flow()
    assert flow[-1][:2] == ["dlq", "retry"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUEUECTL_")}
    fg = None
    try:
        for args in flow:
            if args[:2] == ["worker", "start"]:  # the foreground one: "from another terminal" below
                fg = subprocess.Popen([sys.executable, "-m", "queuectl", "--home", str(home), *args],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
                # A person reads the events for a while: until every job is final.
                wait_for(lambda: not any(json.loads(run_cli(home, "status", "--json").stdout)["counts"][s]
                                         for s in ("scheduled", "pending", "assigned", "processing", "failed")),
                         timeout=60, interval=0.2, what="every job of the flow to be final")  # fmt: skip
                continue
            r = run_cli(home, *args)
            assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
            if args[:2] == ["dlq", "list"]:
                assert flow[-1][2] in r.stdout  # the job the flow retries is in the DLQ
            if args[:2] == ["dlq", "retry"]:
                assert "retried 1" in r.stdout
                job = json.loads(run_cli(home, "show", "--json", args[2]).stdout)
                assert job["state"] == "pending"  # the workers were stopped above
            if args[0] == "logs":
                assert r.stdout == "Hello World\n"
        assert fg is not None
        fg.communicate(timeout=30)
        assert fg.returncode == 0
    finally:
        if fg is not None and fg.poll() is None:
            fg.kill()
            fg.wait(10)
        shutdown(home)
