"""A job's processes stay the job's: nothing it starts outlives it (timeout, cancel,
shutdown, a child killed at the worst moment), none of its output lands in another
job's log, and two attempts of one job never run at the same time. In both
containment modes."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Daemon, wait_for

MODES = ["cgroup", "subreaper"]


def job_pids(job_id: str) -> list[int]:
    """Live processes whose environment says they belong to this job."""
    return list(job_processes(job_id))


def job_processes(job_id: str) -> dict[int, str]:
    """Live processes of this job: pid -> its session (each attempt's shell starts a
    session of its own, so two sessions are two runs at once)."""
    needle = f"QUEUECTL_JOB_ID={job_id}".encode() + b"\0"
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            state, session = fields[0], fields[3]
        except OSError:
            continue
        if needle in env and state != "Z":
            found[int(entry)] = session
    return found


def start(make_daemon, mode: str, workers: int = 1) -> Daemon:
    daemon = make_daemon(workers=workers, env={"QUEUECTL_CONTAINMENT": mode})
    assert daemon.call("daemon.status")["daemon"]["containment"] == mode
    return daemon


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    if request.param == "cgroup" and os.geteuid() != 0:
        pytest.skip("cgroup containment needs a writable cgroup v2 tree (root here)")
    return request.param


def test_output_of_a_detached_process_never_lands_in_the_next_job(make_daemon, mode: str) -> None:
    daemon = start(make_daemon, mode)
    daemon.enqueue("setsid sh -c 'sleep 0.7; echo LEAKED; sleep 100' & echo first", id="first")
    daemon.enqueue("sleep 1.5; echo second", id="second")
    daemon.wait_state("second", "completed", timeout=20)
    assert daemon.cli("logs", "second").stdout == "second\n"
    assert daemon.cli("logs", "first").stdout == "first\n"
    assert job_pids("first") == []


@pytest.mark.parametrize("how", ["timeout", "cancel", "shutdown"])
def test_a_detached_process_dies_with_its_job(make_daemon, mode: str, how: str) -> None:
    daemon = start(make_daemon, mode)
    daemon.call("config.set", {"key": "kill_grace", "value": 0.5})
    daemon.call("config.set", {"key": "shutdown_grace", "value": 0.5})
    daemon.enqueue("setsid sleep 1000 & nohup setsid sh -c 'sleep 1000' >/dev/null 2>&1 & sleep 1000",
                   id="escaper", timeout=2 if how == "timeout" else None, max_retries=0)  # fmt: skip
    daemon.wait_state("escaper", "processing")
    wait_for(lambda: len(job_pids("escaper")) >= 4, what="the job's processes")
    if how == "cancel":
        daemon.call("job.cancel", {"id": "escaper"})
    elif how == "shutdown":
        daemon.call("daemon.shutdown")
        daemon.proc.wait(20)
    else:
        daemon.wait_state("escaper", "dead", timeout=20)
    wait_for(lambda: job_pids("escaper") == [], timeout=5, what="every process of the job gone")


def test_a_child_killed_right_after_spawning_never_runs_the_job_twice(make_daemon, mode: str) -> None:
    """The child is killed inside pidfd_open, right after spawning the job's shell and
    before it can report the start (strace places the kill there)."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.fail("strace is needed (Debian package strace; .ci/apt-packages installs it)")
    daemon = start(make_daemon, mode)
    child_pid = daemon.children_pids()[0]
    # Its next pidfd_open is the one right after it spawned the job's shell.
    tracer = subprocess.Popen(
        [strace, "-qq", "-o", "/dev/null", "-p", str(child_pid),
         "-e", "trace=pidfd_open", "-e", "inject=pidfd_open:signal=SIGKILL"],
    )  # fmt: skip
    try:
        time.sleep(1.0)  # strace attached
        daemon.enqueue("sleep 1000", id="once", max_retries=3)
        wait_for(lambda: child_pid not in daemon.children_pids(), timeout=15, what="the child killed")
    finally:
        tracer.kill()
        tracer.wait()
    # The replacement child runs it again; never beside the first shell.
    def running_again() -> bool:
        job = daemon.job("once")
        return job["state"] == "processing" and job["attempts_detail"][-1]["started_at"] is not None

    wait_for(running_again, timeout=15, what="the retry to start")
    time.sleep(0.5)
    running = job_processes("once")
    assert len(set(running.values())) == 1, running  # one run, never two at once
    attempts = daemon.job("once")["attempts_detail"]
    assert attempts[0]["error"].startswith("worker lost"), attempts
    daemon.call("job.cancel", {"id": "once"})
    wait_for(lambda: job_pids("once") == [], timeout=5, what="the job gone")


def test_the_containment_mode_is_reported_and_a_bad_one_refused(make_daemon, home: Path) -> None:
    daemon = make_daemon(workers=0, start=False, env={"QUEUECTL_CONTAINMENT": "jail"})
    daemon.start(wait=False)
    assert daemon.proc.wait(20) != 0
    assert "QUEUECTL_CONTAINMENT must be auto, cgroup or subreaper" in daemon.log()
    auto = make_daemon(workers=0, home_dir=home.parent / "auto")
    expected = "cgroup" if os.geteuid() == 0 else "subreaper"
    assert auto.call("daemon.status")["daemon"]["containment"] == expected


def test_a_killed_daemon_leaves_no_job_process_behind(make_daemon, mode: str) -> None:
    daemon = start(make_daemon, mode)
    daemon.enqueue("setsid sleep 1000 & sleep 1000", id="orphaned")
    wait_for(lambda: len(job_pids("orphaned")) >= 2, what="the job's processes")
    daemon.kill9()
    wait_for(lambda: job_pids("orphaned") == [], timeout=10, what="the job's processes gone")
