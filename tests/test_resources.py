"""Resource faults: a disk that fills up under the daemon, and a job with a huge output."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.client.rpc import RemoteError
from tests.conftest import Daemon, pids_with_marker, wait_for


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs of our own, so filling it touches nothing else."""
    mount = tmp_path / "small"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(mount)],
                       capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root/CAP_SYS_ADMIN): {r.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(fs: Path, leave_bytes: int = 0) -> Path:
    """Fill the filesystem, leaving about leave_bytes free; returns the filler file."""
    filler = fs / "filler"
    # Unbuffered: a short last write must leave nothing behind for close() to flush (which
    # would raise ENOSPC out of here, depending on how the free space falls).
    with open(filler, "wb", buffering=0) as f:
        chunk = b"\0" * (256 * 1024)
        with contextlib.suppress(OSError):
            while True:
                f.write(chunk)
    if leave_bytes:
        size = filler.stat().st_size
        with open(filler, "r+b") as f:
            f.truncate(max(0, size - leave_bytes))
    return filler


def test_disk_full_while_jobs_write_and_the_database_commits(small_fs: Path) -> None:
    d = Daemon(small_fs / "home", workers=1)
    d.start()
    try:
        d.call("config.set", {"key": "backoff_base", "value": 1})
        before = [d.enqueue("echo before", id=f"before-{i}")["id"] for i in range(20)]
        d.wait_all_final(30)
        # A job that starts while there is room, then writes when there is none.
        m = f"qtest-full-{time.monotonic_ns()}"
        d.enqueue(f"sleep 1; head -c 4000000 /dev/zero # {m}", id="too-big", max_retries=50)
        wait_for(lambda: d.job("too-big")["started_at"], what="too-big to start")
        filler = fill(small_fs)
        accepted, refused = [], 0
        for i in range(200):
            try:
                accepted.append(d.enqueue("true", id=f"during-{i}")["id"])
            except RemoteError as exc:
                assert exc.code == -32006 and "database" in exc.message
                refused += 1
        assert refused > 0, "the disk never filled up"
        assert d.call("daemon.status")["daemon"]["pid"] == d.proc.pid  # still serving reads
        wait_for(lambda: not pids_with_marker(m), what="too-big to fail on the full disk")
        # Space returns: everything resumes, nothing acknowledged was lost.
        filler.unlink()
        job = d.wait_state("too-big", "completed", timeout=60)
        first, *_, last = job["attempts_detail"]
        assert first["exit_code"] != 0  # its writes failed while the disk was full
        assert last["exit_code"] == 0 and last["stdout_bytes"] == 4_000_000
        assert d.call("job.logs", {"id": "too-big", "max_bytes": 10})["data"] == "\0" * 10
        counts = d.wait_all_final(60)
        ids = {j["id"] for j in d.call("job.list", {"limit": 10000})["jobs"]}
        assert set(before) <= ids and set(accepted) <= ids
        assert counts["completed"] == len(before) + len(accepted) + 1
        d.enqueue("echo after", id="after")
        d.wait_state("after", "completed", timeout=20)
    finally:
        d.stop()


def test_a_job_writing_1gb_does_not_take_the_daemon_down(make_daemon) -> None:
    daemon = make_daemon(workers=1)  # one child: `small` runs after `huge`, in a new segment
    t0 = time.monotonic()
    daemon.enqueue("head -c 1000000000 /dev/zero", id="huge")
    daemon.enqueue("echo small", id="small")
    job = daemon.wait_state("huge", "completed", timeout=120)
    # It keeps the default max_output_bytes (64 MiB); the rest was read and dropped.
    attempt = job["attempts_detail"][0]
    assert attempt["stdout_bytes"] == 64 << 20 and attempt["dropped_bytes"] == 1_000_000_000 - (64 << 20)
    chunk = daemon.call("job.logs", {"id": "huge", "offset": (64 << 20) - 10, "max_bytes": 100})
    assert chunk["data"] == "\0" * 10 and chunk["eof"]
    assert daemon.wait_state("small", "completed")["exit_code"] == 0
    # The daemon never read the output into memory.
    status = Path(f"/proc/{daemon.proc.pid}/status").read_text().splitlines()
    rss_kb = int(next(line for line in status if line.startswith("VmRSS")).split()[1])
    assert rss_kb < 200_000, rss_kb
    assert time.monotonic() - t0 < 120
    daemon.call("job.delete", {"id": "huge"})
    # Its segment is gone once nothing points into it and its child writes elsewhere.
    assert sum(p.stat().st_size for p in daemon.paths.logs_dir.iterdir()) < 10_000_000


def test_delete_works_on_a_full_disk_and_frees_the_space(small_fs: Path) -> None:
    d = Daemon(small_fs / "home", workers=1)
    d.start()
    try:
        d.enqueue("head -c 6000000 /dev/urandom", id="bulky")
        d.wait_state("bulky", "completed", timeout=30)
        for i in range(30):
            d.enqueue("true", id=f"small-{i}")
        d.wait_all_final(30)
        d.call("workers.scale", {"count": 0})  # its segment is no longer written
        wait_for(lambda: not d.children_pids(), what="the child to exit")
        filler = fill(small_fs)
        # Nothing new fits...
        with pytest.raises(RemoteError) as full:
            for i in range(200):
                d.enqueue("true", id=f"no-room-{i}")
        assert full.value.code == -32006
        # ...but deleting does, and gives the space back.
        p = d.cli("delete", "bulky")
        assert p.returncode == 0, p.stderr
        with pytest.raises(RemoteError):
            d.job("bulky")
        free = subprocess.run(["df", "--output=avail", "-B1", str(small_fs)], capture_output=True,
                              text=True).stdout.split()[-1]  # fmt: skip
        assert int(free) > 5_000_000, free
        for i in range(10):
            p = d.cli("delete", f"small-{i}")
            assert p.returncode == 0, p.stderr
        filler.unlink()
        d.enqueue("true", id="after")
    finally:
        d.stop()


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith("VmRSS")).split()[1]) / 1024


def test_a_client_that_never_reads_its_replies_cannot_grow_the_daemon(daemon: Daemon) -> None:
    import json

    import zmq

    daemon.enqueue("head -c 1000000 /dev/urandom", id="noisy")  # base64 in replies: 1.3 MB each
    daemon.wait_state("noisy", "completed")
    before = rss_mb(daemon.proc.pid)
    ctx = zmq.Context()
    greedy = ctx.socket(zmq.DEALER)
    greedy.setsockopt(zmq.LINGER, 0)
    greedy.setsockopt(zmq.RCVHWM, 1)  # and it reads nothing: replies pile up on the daemon's side
    greedy.connect("ipc://" + str(daemon.paths.socket))
    try:
        request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "job.logs",
                              "params": {"id": "noisy", "max_bytes": 1048576}}).encode()  # fmt: skip
        for _ in range(600):
            greedy.send_multipart([b"", request])
        wait_for(lambda: any(e.get("event") == "client.reply_dropped" for e in daemon.log_events()),
                 timeout=30, what="the daemon to drop replies nobody reads")  # fmt: skip
        time.sleep(2)  # the rest of the 600 are answered (and dropped) too
        assert daemon.call("daemon.status")["counts"]["completed"] == 1  # others are served
        grown = rss_mb(daemon.proc.pid) - before
        print(f"daemon grew by {grown:.1f} MB")
        assert grown < 120, f"the daemon grew by {grown:.0f} MB"
    finally:
        greedy.close(0)
        ctx.term()


def test_more_connections_than_file_descriptors_are_refused_not_fatal(tmp_path: Path) -> None:
    import resource
    import sys

    home = tmp_path / "home"
    d = Daemon(home, workers=1)

    def small_fd_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    home.mkdir()
    log = open(d.log_path, "ab")  # noqa: SIM115
    d.proc = subprocess.Popen(
        [sys.executable, "-m", "queuectl", "--home", str(home), "daemon", "--workers", "1",
         "--log-format", "json"], stdout=log, stderr=log, env=d.env, preexec_fn=small_fd_limit,
    )  # fmt: skip
    log.close()
    try:
        d.wait_ready()
        assert d.call("daemon.status")["daemon"]["fd_limit"] == 256
        crowd = subprocess.Popen(
            [sys.executable, "-c", CROWD, str(d.paths.socket), "400"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert crowd.stdout is not None and crowd.stdout.readline().strip() == "connected"
        wait_for(lambda: any(e.get("event") == "daemon.connections_refused" for e in d.log_events()),
                 timeout=30, what="the daemon to refuse connections")  # fmt: skip (a loaded machine: 400 connects)
        assert d.proc.poll() is None, d.log()[-2000:]
        crowd.kill()
        crowd.wait()
        # Once they are gone it accepts again, by itself.
        d.close_client()
        wait_for(lambda: try_status(d), timeout=30, what="the daemon to accept again")
        assert d.proc.poll() is None
    finally:
        d.stop(timeout=30)


# argv: socket path, how many connections, and "sub" for subscribers that never read
CROWD = """
import sys, time, zmq
ctx = zmq.Context()
ctx.set(zmq.MAX_SOCKETS, 10000)
socks = []
for _ in range(int(sys.argv[2])):
    s = ctx.socket(zmq.SUB if sys.argv[3:] == ["sub"] else zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    if sys.argv[3:] == ["sub"]:
        s.setsockopt(zmq.RCVHWM, 1)  # and it never reads: events pile up on the daemon's side
        s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect("ipc://" + sys.argv[1])
    socks.append(s)
time.sleep(2)
print("connected", flush=True)
time.sleep(120)
"""


def try_status(d: Daemon) -> bool:
    from queuectl.client.rpc import ClientError, RpcClient

    try:
        with RpcClient(d.paths.socket, timeout=2) as client:
            return client.call("daemon.status")["daemon"]["accepting"]
    except ClientError:
        return False



def test_a_thousand_stalled_event_subscribers_hold_a_bounded_amount(daemon: Daemon) -> None:
    """Each subscriber that reads nothing may hold at most 1,000 events in the daemon
    (docs/rpc.md); at 10,000 each, 1,000 of them grew the daemon by 1.2 GB."""
    import sys

    before = rss_mb(daemon.proc.pid)
    crowd = subprocess.Popen(
        [sys.executable, "-c", CROWD, str(daemon.paths.events_socket), "1000", "sub"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert crowd.stdout is not None and crowd.stdout.readline().strip() == "connected"
        for _ in range(5):  # 5,000 job.enqueued events for each subscriber
            daemon.call("job.enqueue_many", {"jobs": [{"command": "true", "delay": 3600}] * 1000})
        time.sleep(2)
        grown = rss_mb(daemon.proc.pid) - before
        print(f"daemon grew by {grown:.1f} MB with 1,000 stalled subscribers")
        # 1,000 x 1,000 queued events x ~128 bytes: about 130 MB; unbounded, 5,000 each: 640 MB.
        assert grown < 330, f"the daemon grew by {grown:.0f} MB"
        assert daemon.call("daemon.status")["counts"]["scheduled"] == 5000  # and it still serves
    finally:
        crowd.kill()
        crowd.wait()
