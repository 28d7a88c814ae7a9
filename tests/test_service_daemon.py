"""The daemon as a service, end to end: a real daemon process with real sockets.

- sd_notify: a real AF_UNIX datagram socket as $NOTIFY_SOCKET receives READY (only once
  the control socket answers and recovery is done), STATUS with live counts, WATCHDOG
  at half of $WATCHDOG_USEC, RELOADING/MONOTONIC_USEC then READY on SIGHUP, STOPPING on
  SIGTERM; jobs never see those variables.
- logs: every line in JSON mode is a JSON object with event/level/timestamp, and the
  lifecycle events carry their fields; with $JOURNAL_STREAM naming the daemon's stderr,
  events arrive at a datagram socket standing in for journald as native entries.
- permissions: the user daemon's socket is out of reach of another user; the system
  layout ($RUNTIME_DIRECTORY group-owned 0750) lets that group in and nobody else.
  Other users are real accounts created for the test (root only); their side runs in a
  forked child that drops to their credentials (an interpreter under /root, as in many
  venvs, cannot be exec'd by another user, so `runuser ... python` would not prove much).
- `daemon --detach`, the socket search order, `shutdown`.

Every wait is for an event (a datagram, a file, an answer) with a generous deadline.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import grp
import json
import os
import pwd
import re
import select
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from queuectl.client.cli import cli
from queuectl.client.commands import register_all
from queuectl.client.output import ALREADY_RUNNING
from queuectl.client.rpc import RpcClient
from tests.conftest import Daemon, process_alive, wait_for
from tests.journal import entry_dict

register_all(cli)

STATUS_RE = re.compile(
    r"STATUS=(\d+) workers \((\d+) busy\), (\d+) pending, (\d+) assigned, (\d+) running, (\d+) waiting, "
    r"(\d+) dead"
)


# --- a datagram socket standing in for systemd / journald ----------------------------------


class DatagramSink:
    """A bound AF_UNIX datagram socket, drained by a thread into a list.

    The kernel queues only max_dgram_qlen (often 10) datagrams per socket, and a full
    queue makes the daemon's non-blocking sends fail, so reading must never lag.
    """

    def __init__(self, name: str) -> None:
        self.dir = tempfile.mkdtemp(dir="/tmp", prefix="qctl-")  # sun_path is short
        self.path = os.path.join(self.dir, name)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.items: list[tuple[float, bytes]] = []  # (monotonic time of receipt, payload)
        self.on_receive: Callable[[bytes], None] | None = None
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data, fds, _, _ = socket.recv_fds(self.sock, 1 << 20, 1)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            if fds:  # a large journal entry: a sealed memfd
                with os.fdopen(fds[0], "rb") as f:
                    f.seek(0)
                    data = f.read()
            if self.on_receive is not None:
                self.on_receive(data)
            with self._cond:
                self.items.append((now, data))
                self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self.items)

    def texts(self) -> list[str]:
        with self._cond:
            return [d.decode() for _, d in self.items]

    def wait_for(self, predicate: Callable[[bytes], bool], start: int = 0, timeout: float = 30.0,
                 what: str = "a datagram") -> int:  # fmt: skip
        """Index of the first datagram at or after `start` that satisfies predicate."""
        deadline = time.monotonic() + timeout
        i = start
        with self._cond:
            while True:
                while i < len(self.items):
                    if predicate(self.items[i][1]):
                        return i
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    got = [d[:200] for _, d in self.items[start:]]
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}; got {got}")
                self._cond.wait(left)

    def wait_text(self, predicate: Callable[[str], bool], start: int = 0, timeout: float = 30.0,
                  what: str = "a message") -> int:  # fmt: skip
        return self.wait_for(lambda d: predicate(d.decode()), start, timeout, what)

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def notify_sink() -> Iterator[DatagramSink]:
    sink = DatagramSink("notify.sock")
    yield sink
    sink.close()


@pytest.fixture
def journal_sink() -> Iterator[DatagramSink]:
    sink = DatagramSink("journal.sock")
    yield sink
    sink.close()


# --- sd_notify ----------------------------------------------------------------------------


def notified(d: Daemon, env: dict[str, str]) -> Daemon:
    # The Daemon helper drops NOTIFY_SOCKET after applying its env argument (so a test
    # run under systemd does not leak it); set the variables afterwards.
    d.env.update(env)
    return d


def test_ready_only_once_the_socket_answers_and_recovery_is_done(
    make_daemon: Callable[..., Daemon], notify_sink: DatagramSink
) -> None:
    # A job left in `processing` by a killed daemon is the recovery the next start does.
    first = make_daemon(workers=1)
    first.enqueue("sleep 60", id="interrupted")
    wait_for(lambda: first.job("interrupted").get("started_at"), what="the job to start")
    first.kill9()

    seen_at_ready: dict[str, Any] = {}
    d = notified(make_daemon(workers=1, start=False), {"NOTIFY_SOCKET": notify_sink.path})

    def snapshot(data: bytes) -> None:
        # Taken by the receiving thread the moment READY=1 arrives: is the socket there,
        # and is the interrupted attempt already closed in the database (recovery done)?
        if data == b"READY=1" and not seen_at_ready:
            seen_at_ready["socket"] = d.paths.socket.exists()
            db = sqlite3.connect(d.paths.db, timeout=30)
            try:
                seen_at_ready["state"] = db.execute(
                    "SELECT state FROM jobs WHERE id = 'interrupted'"
                ).fetchone()
                seen_at_ready["attempt"] = db.execute(
                    "SELECT a.finished_at IS NOT NULL, a.error FROM attempts a JOIN jobs j "
                    "ON j.seq = a.job_seq WHERE j.id = 'interrupted' AND a.n = 1"
                ).fetchone()
            finally:
                db.close()

    notify_sink.on_receive = snapshot
    d.start(wait=False)
    ready = notify_sink.wait_text(lambda m: m == "READY=1", timeout=60, what="READY=1")
    # The control socket answers right away (a REQ/ROUTER round trip, no retrying).
    with RpcClient(d.paths.socket, timeout=30) as client:
        status = client.call("daemon.status")
    assert d.proc is not None and status["daemon"]["pid"] == d.proc.pid
    # Nothing but STATUS= may come before READY=1 (here nothing at all does).
    assert all(m.startswith("STATUS=") for m in notify_sink.texts()[:ready])
    assert seen_at_ready["socket"] is True
    assert seen_at_ready["state"] == ("pending",), seen_at_ready  # no longer "processing"
    finished, error = seen_at_ready["attempt"]
    assert finished and error.startswith("interrupted"), seen_at_ready
    recovered = wait_for(lambda: [e for e in d.log_events() if e["event"] == "job.recovered"],
                         what="job.recovered in the log")[0]  # fmt: skip
    assert (recovered["job_id"], recovered["attempt"]) == ("interrupted", 1)
    # The first STATUS= follows READY=1 at once, with the counts.
    status_at = notify_sink.wait_text(lambda m: m.startswith("STATUS="), start=ready, what="STATUS=")
    assert STATUS_RE.fullmatch(notify_sink.texts()[status_at])

    d.call("job.cancel", {"id": "interrupted"})
    assert d.stop() == 0


def test_status_has_live_counts_and_jobs_do_not_inherit_notify_variables(
    make_daemon: Callable[..., Daemon], notify_sink: DatagramSink, tmp_path: Path
) -> None:
    # WATCHDOG_PID names another process: the watchdog is not ours, so no pings.
    env = {"NOTIFY_SOCKET": notify_sink.path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    d = notified(make_daemon(workers=1, start=False), env).start()

    dump = tmp_path / "job-env.txt"
    d.enqueue(f"env > {dump}", id="env")
    assert d.wait_state("env")["state"] == "completed"
    names = {line.split("=", 1)[0] for line in dump.read_text().splitlines() if "=" in line}
    assert "QUEUECTL_NO_AUTOSTART" in names  # the daemon's environment does reach jobs...
    assert not names & {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}  # ...but not these
    for pid in d.children_pids():  # nor the worker children themselves
        child_env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert not [v for v in child_env if v.split(b"=")[0] in (b"NOTIFY_SOCKET", b"WATCHDOG_USEC")]

    mark = len(notify_sink)
    d.enqueue("sleep 60", id="busy")
    d.wait_state("busy", "processing")
    d.enqueue("true", id="p1")
    d.enqueue("true", id="p2")

    def counts(data: bytes) -> tuple[int, ...]:
        m = STATUS_RE.fullmatch(data.decode())
        return tuple(map(int, m.groups())) if m else ()

    # STATUS= is refreshed every few seconds from the loop's housekeeping. (A job sent
    # ahead to the busy child is assigned, not running.)
    three = notify_sink.wait_for(
        lambda m: (c := counts(m))[:2] == (1, 1) and c[2:5] == (1, 1, 1),
        start=mark, timeout=30, what="STATUS= with 1 busy worker and 3 jobs pending or running",
    )  # fmt: skip
    for job_id in ("p1", "p2", "busy"):
        d.call("job.cancel", {"id": job_id})
    notify_sink.wait_for(lambda m: counts(m) == (1, 0, 0, 0, 0, 0, 0), start=three + 1, timeout=30,
                         what="STATUS= with nothing left to do")  # fmt: skip
    assert "WATCHDOG=1" not in notify_sink.texts()
    assert d.stop() == 0


def start_with_own_watchdog_pid(d: Daemon) -> None:
    """Start the daemon the way systemd does: WATCHDOG_PID is the pid of the daemon itself
    (the shell exports its own pid, then execs the daemon in the same process)."""
    d.home.mkdir(parents=True, exist_ok=True)
    with open(d.log_path, "ab") as log:
        d.proc = subprocess.Popen(
            ["sh", "-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"', "sh",
             sys.executable, "-m", "queuectl", "--home", str(d.home), "daemon",
             "--workers", str(d.workers), "--log-format", "json"],
            stdout=log, stderr=log, env=d.env,
        )  # fmt: skip
    d.wait_ready()


def test_watchdog_reload_and_stop(make_daemon: Callable[..., Daemon], notify_sink: DatagramSink) -> None:
    env = {"NOTIFY_SOCKET": notify_sink.path, "WATCHDOG_USEC": "1000000"}
    d = notified(make_daemon(workers=1, start=False), env)
    start_with_own_watchdog_pid(d)
    assert d.proc is not None
    assert d.call("daemon.status")["daemon"]["pid"] == d.proc.pid  # exec kept the pid

    # WATCHDOG=1 at half of WATCHDOG_USEC (1 s): about every 0.5 s. Measured as the mean
    # over ten pings, so a receiving thread that is late for one ping under load does not
    # distort it; a busy loop would show as a far shorter mean, a late one as a longer.
    pings = [notify_sink.wait_text(lambda m: m == "WATCHDOG=1", what="WATCHDOG=1")]
    for _ in range(9):
        pings.append(notify_sink.wait_text(lambda m: m == "WATCHDOG=1", start=pings[-1] + 1,
                                           what="another WATCHDOG=1"))  # fmt: skip
    mean = (notify_sink.items[pings[-1]][0] - notify_sink.items[pings[0]][0]) / (len(pings) - 1)
    assert 0.42 <= mean <= 0.75, mean

    # SIGHUP re-reads the configuration from the database (changed behind its back here).
    assert d.call("config.get", {"key": "max_retries"})["value"] == 3
    db = sqlite3.connect(d.paths.db, timeout=30)
    with db:
        for key, value in (("max_retries", 7), ("workers", 2)):
            db.execute("INSERT INTO config(key, value) VALUES(?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, json.dumps(value)))  # fmt: skip
    db.close()
    assert d.call("config.get", {"key": "max_retries"})["value"] == 3  # not until reloaded
    mark = len(notify_sink)
    sent_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    d.proc.send_signal(signal.SIGHUP)
    reloading = notify_sink.wait_text(lambda m: m.startswith("RELOADING=1"), start=mark, what="RELOADING=1")
    lines = notify_sink.texts()[reloading].split("\n")
    assert lines[0] == "RELOADING=1" and lines[1].startswith("MONOTONIC_USEC=") and len(lines) == 2
    usec = int(lines[1].removeprefix("MONOTONIC_USEC="))
    assert sent_usec <= usec <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000  # CLOCK_MONOTONIC, now
    notify_sink.wait_text(lambda m: m == "READY=1", start=reloading + 1, what="READY=1 after the reload")
    assert d.call("config.get", {"key": "max_retries"})["value"] == 7
    wait_for(lambda: len([c for c in d.call("workers.status")["children"] if c["ready"]]) == 2,
             30, what="the reload to scale to 2 workers")  # fmt: skip
    assert any(e["event"] == "daemon.reloaded" for e in d.log_events())

    # SIGTERM: STOPPING=1 first, then a clean exit.
    mark = len(notify_sink)
    d.proc.send_signal(signal.SIGTERM)
    notify_sink.wait_text(lambda m: m == "STOPPING=1", start=mark, what="STOPPING=1")
    assert d.proc.wait(60) == 0


# --- logs ----------------------------------------------------------------------------------

LIFECYCLE_FIELDS = {
    # event: fields it must carry
    "daemon.started": {"pid", "workers", "recovered"},
    "daemon.stopping": {"reason"},
    "daemon.stopped": set(),
    "job.recovered": {"job_id", "attempt"},
    "job.enqueued": {"job_id"},
    "job.started": {"job_id", "attempt", "child"},
    "job.completed": {"job_id", "attempt", "child", "exit_code", "duration_ms"},
    "job.failed": {"job_id", "attempt", "child", "exit_code", "duration_ms"},
    "job.dead": {"job_id", "attempt", "child", "exit_code", "duration_ms"},
    "job.retried": {"job_id"},
    "child.spawned": {"child", "pid"},
    "child.lost": {"child", "pid"},
}


def test_every_json_log_line_parses_and_lifecycle_events_carry_their_fields(
    make_daemon: Callable[..., Daemon],
) -> None:
    d = make_daemon(workers=2)
    d.call("config.set", {"key": "backoff_base", "value": 1.0})  # retries after 1 s
    d.enqueue("echo ok", id="ok")
    d.enqueue("exit 3", id="flaky", max_retries=1)  # failed, then dead
    d.enqueue("exit 4", id="doomed", max_retries=0)  # dead at once
    for job_id in ("ok", "flaky", "doomed"):
        d.wait_state(job_id, timeout=60)
    d.call("dlq.retry", {"id": "doomed"})  # retried, then dead again
    d.wait_state("doomed", "dead")
    # A worker child killed mid-job: child.lost, its job dead ("worker lost"), a new child.
    d.enqueue("sleep 60", id="orphan", max_retries=0)
    child = wait_for(lambda: next((c for c in d.call("workers.status")["children"]
                                   if c["job"] and c["job"]["job_id"] == "orphan"), None),
                     what="the job to run")  # fmt: skip
    os.kill(child["pid"], signal.SIGKILL)
    assert d.wait_state("orphan")["state"] == "dead"
    # Recovery: the daemon killed mid-job, then started again.
    d.enqueue("sleep 60", id="survivor")
    d.wait_state("survivor", "processing")
    d.kill9()
    d.start()
    d.call("job.cancel", {"id": "survivor"})
    assert d.stop() == 0

    lines = d.log().splitlines()
    assert lines
    events = []
    for line in lines:
        event = json.loads(line)  # every line, not only the ones we look at
        assert isinstance(event, dict), line
        assert {"event", "level", "timestamp"} <= event.keys(), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", event["timestamp"]), line
        events.append(event)

    by_name: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_name.setdefault(e["event"], []).append(e)
    missing = set(LIFECYCLE_FIELDS) - by_name.keys()
    assert not missing, f"no log event {sorted(missing)}; got {sorted(by_name)}"
    for name, fields in LIFECYCLE_FIELDS.items():
        for e in by_name[name]:
            assert fields <= e.keys(), (name, e)

    def one(name: str, job_id: str, **match: Any) -> dict[str, Any]:
        found = [e for e in by_name[name] if e.get("job_id") == job_id
                 and all(e.get(k) == v for k, v in match.items())]  # fmt: skip
        assert len(found) == 1, (name, job_id, match, by_name[name])
        return found[0]

    ok = one("job.completed", "ok")
    assert (ok["attempt"], ok["exit_code"], ok["level"]) == (1, 0, "info")
    assert isinstance(ok["duration_ms"], int | float) and ok["duration_ms"] >= 0
    assert isinstance(ok["child"], int)
    failed = one("job.failed", "flaky")
    assert (failed["attempt"], failed["exit_code"], failed["level"]) == (1, 3, "warning")
    assert one("job.dead", "flaky")["attempt"] == 2
    assert one("job.dead", "doomed", attempt=1)["exit_code"] == 4
    assert one("job.dead", "doomed", attempt=2)["exit_code"] == 4
    assert one("job.retried", "doomed")
    lost = one("job.dead", "orphan")
    assert lost["exit_code"] is None and "worker lost" in lost["error"]
    assert [e for e in by_name["child.lost"] if e["child"] == lost["child"]]
    assert one("job.recovered", "survivor")["attempt"] == 1
    assert {e["job_id"] for e in by_name["job.enqueued"]} == {"ok", "flaky", "doomed", "orphan", "survivor"}
    assert len(by_name["daemon.started"]) == 2 and len(by_name["daemon.stopped"]) == 1


def test_journald_gets_native_entries_with_job_fields(
    make_daemon: Callable[..., Daemon], journal_sink: DatagramSink
) -> None:
    d = make_daemon(workers=1, start=False)
    d.home.mkdir(parents=True, exist_ok=True)
    d.log_path.touch()  # the daemon's stderr: JOURNAL_STREAM names this file's dev:ino
    st = os.stat(d.log_path)
    d.env.update(JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}", QUEUECTL_JOURNAL_SOCKET=journal_sink.path)
    d.start()
    d.enqueue("echo hi", id="job1")
    d.enqueue("exit 5", id="job2", max_retries=0)
    d.wait_state("job1")
    d.wait_state("job2")

    def entry(event: str, job_id: str) -> dict[str, str]:
        def match(data: bytes) -> bool:
            fields = entry_dict(data)
            return fields.get("EVENT") == event and fields.get("JOB_ID") == job_id

        return entry_dict(journal_sink.items[journal_sink.wait_for(match, what=f"{event} {job_id}")][1])

    done = entry("job.completed", "job1")
    assert done["PRIORITY"] == "6" and done["SYSLOG_IDENTIFIER"] == "queuectl"
    assert (done["ATTEMPT"], done["EXIT_CODE"]) == ("1", "0")
    assert done["CHILD"].isdigit() and float(done["DURATION_MS"]) >= 0
    assert done["MESSAGE"].startswith("job.completed ") and "job_id=job1" in done["MESSAGE"]
    assert "TIMESTAMP" not in done and "LEVEL" not in done  # journald has its own
    assert entry("job.started", "job1")["ATTEMPT"] == "1"
    assert entry("job.enqueued", "job1")["PRIORITY"] == "6"
    dead = entry("job.dead", "job2")
    assert (dead["PRIORITY"], dead["EXIT_CODE"], dead["ERROR"]) == ("4", "5", "exit code 5")
    started = entry_dict(journal_sink.items[journal_sink.wait_for(
        lambda x: entry_dict(x).get("EVENT") == "daemon.started", what="daemon.started")][1])  # fmt: skip
    assert d.proc is not None and started["PID"] == str(d.proc.pid)
    # Sent natively, so not written to stderr as well.
    assert not [e for e in d.log_events() if e.get("job_id") in ("job1", "job2")]
    assert d.stop() == 0


# --- permissions ---------------------------------------------------------------------------


def _admin(*cmd: str) -> None:
    """useradd & co., retried: another test run may hold /etc/passwd's lock for a moment."""
    for attempt in range(20):
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if result.returncode == 0:
            return
        if attempt == 19:
            raise AssertionError(f"{' '.join(cmd)} failed: {result.stderr}")
        time.sleep(0.5)


needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("useradd"), reason="needs root and useradd to create users"
)


def _remove_stale_accounts() -> None:
    """Accounts left by a test run that was killed (named after its pid, now gone)."""
    for prefix, entries, remove in (
        ("qctl-u", pwd.getpwall(), "userdel"),
        ("qctl-g", grp.getgrall(), "groupdel"),
    ):
        for entry in entries:
            name = entry[0]
            pid = name[len(prefix) :]
            if name.startswith(prefix) and pid.isdigit() and not Path(f"/proc/{pid}").exists():
                subprocess.run([remove, name], capture_output=True, timeout=60)
                if remove == "userdel":  # its own group, made by --user-group
                    subprocess.run(["groupdel", name], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def other_user() -> Iterator[pwd.struct_passwd]:
    _remove_stale_accounts()
    name = f"qctl-u{os.getpid()}"
    _admin("useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name)
    try:
        yield pwd.getpwnam(name)
    finally:
        _admin("userdel", name)
        with contextlib.suppress(KeyError):
            grp.getgrnam(name)
            _admin("groupdel", name)


@pytest.fixture(scope="module")
def service_group() -> Iterator[grp.struct_group]:
    name = f"qctl-g{os.getpid()}"
    _admin("groupadd", "--system", name)
    try:
        yield grp.getgrnam(name)
    finally:
        _admin("groupdel", name)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory other users can traverse (pytest's tmp_path is private to root)."""
    d = Path(tempfile.mkdtemp(dir="/tmp", prefix="qctl-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_user(user: pwd.struct_passwd, fn: Callable[[], Any], timeout: float = 60.0) -> dict[str, Any]:
    """Run fn in a forked child with the user's uid, gid and groups (as a login gets them
    from /etc/group); returns {"ok": result} or {"errno": n, "error": text}."""
    groups = os.getgrouplist(user.pw_name, user.pw_gid)
    # Unreferenced zmq contexts must be finalized here: terminating one in the child,
    # where its I/O threads do not exist, would hang.
    gc.collect()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        try:
            gc.disable()
            os.close(r)
            os.setgroups(groups)
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            try:
                result: dict[str, Any] = {"ok": fn()}
            except OSError as exc:
                result = {"errno": exc.errno, "error": str(exc)}
            except BaseException as exc:
                result = {"error": repr(exc)}
            os.write(w, json.dumps(result, default=str).encode())
        finally:
            os._exit(0)
    os.close(w)
    try:
        chunks = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                raise AssertionError(f"the child running as {user.pw_name} did not finish in {timeout}s")
            chunk = os.read(r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # it has exited already unless it hung
        os.waitpid(pid, 0)
    return json.loads(b"".join(chunks))


def connect(path: Path) -> Callable[[], str]:
    def fn() -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(path))
        return "connected"

    return fn


def cli_run(*args: str) -> Callable[[], tuple[int, str]]:
    def fn() -> tuple[int, str]:
        result = CliRunner().invoke(cli, list(args))
        return result.exit_code, result.output + ("" if result.exception is None or isinstance(
            result.exception, SystemExit) else repr(result.exception))  # fmt: skip

    return fn


def warm_up_cli() -> None:
    """Import what the CLI imports lazily while still root: the forked child may not be
    able to read the interpreter's library (e.g. under /root). Nothing may talk to a daemon
    here: a CLI run in this process leaves its zmq context in a reference cycle, and the
    garbage collector terminating a context whose socket it has already cleared blocks
    forever."""
    import queuectl.client.autostart  # noqa: F401
    import queuectl.client.library  # noqa: F401
    import queuectl.client.rpc  # noqa: F401
    import queuectl.paths  # noqa: F401

    CliRunner().invoke(cli, ["status", "--help"])


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@needs_root
def test_user_daemon_socket_is_private(
    make_daemon: Callable[..., Daemon], other_user: pwd.struct_passwd, open_dir: Path
) -> None:
    home = open_dir / "home"
    home.mkdir(mode=0o755)  # so only the runtime directory and socket modes keep others out
    d = make_daemon(workers=0, home_dir=home)
    run_dir = d.paths.socket.parent
    assert mode(run_dir) == 0o700
    assert mode(d.paths.socket) & 0o077 == 0
    assert mode(d.paths.logs_dir) == 0o700
    refused = as_user(other_user, connect(d.paths.socket))
    assert refused.get("errno") == errno.EACCES, refused
    # Even with the directory opened up, the socket itself refuses others.
    run_dir.chmod(0o711)
    try:
        refused = as_user(other_user, connect(d.paths.socket))
        assert refused.get("errno") == errno.EACCES, refused
    finally:
        run_dir.chmod(0o700)
    # The owner is served (the same check, as root: the daemon's user).
    assert d.proc is not None and d.call("daemon.status")["daemon"]["pid"] == d.proc.pid
    # A daemon restarted on a run dir someone loosened puts it back to 0700.
    d.stop()
    run_dir.chmod(0o755)
    d.start()
    assert mode(run_dir) == 0o700
    assert d.stop() == 0


@needs_root
def test_cli_of_another_user_is_refused_with_exit_code_3(
    make_daemon: Callable[..., Daemon], other_user: pwd.struct_passwd, open_dir: Path
) -> None:
    home = open_dir / "home"
    home.mkdir(mode=0o755)
    d = make_daemon(workers=0, home_dir=home)
    warm_up_cli()
    code, output = as_user(other_user, cli_run("--socket", str(d.paths.socket), "--timeout", "5", "status"))[
        "ok"
    ]
    assert code == 3 and str(d.paths.socket) in output and "ermission denied" in output, output


@needs_root
def test_system_layout_lets_the_group_in_and_nobody_else(
    other_user: pwd.struct_passwd, service_group: grp.struct_group, open_dir: Path
) -> None:
    # What systemd prepares for the system unit: StateDirectory= and RuntimeDirectory=
    # (mode 0750, group queuectl), UMask=0007, the variables naming the directories.
    state = open_dir / "state"
    state.mkdir(mode=0o750)
    runtime = open_dir / "rt"
    runtime.mkdir()
    os.chown(runtime, 0, service_group.gr_gid)
    runtime.chmod(0o750)
    env = {k: v for k, v in os.environ.items()
           if k not in ("QUEUECTL_HOME", "QUEUECTL_SOCKET", "NOTIFY_SOCKET")}  # fmt: skip
    env.update(STATE_DIRECTORY=str(state), RUNTIME_DIRECTORY=str(runtime), QUEUECTL_NO_AUTOSTART="1")
    sock = runtime / "control.sock"
    with open(open_dir / "daemon.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "queuectl", "daemon", "--workers", "0", "--log-format", "json"],
            stdout=log, stderr=log, env=env, umask=0o007,
        )  # fmt: skip
    try:

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError((open_dir / "daemon.log").read_text())
            try:
                with RpcClient(sock, timeout=2) as c:
                    return bool(c.call("daemon.status"))
            except Exception:
                return False

        wait_for(up, 30, what="the daemon to answer")
        assert (state / "queue.db").exists()  # state where $STATE_DIRECTORY says
        assert mode(runtime) == 0o750  # RuntimeDirectoryMode= is kept, not reset to 0700
        for path in (sock, runtime / "events.sock"):
            assert mode(path) == 0o660, oct(mode(path))
            assert os.stat(path).st_gid == service_group.gr_gid

        warm_up_cli()
        refused = as_user(other_user, connect(sock))  # not in the group
        assert refused.get("errno") == errno.EACCES, refused
        _admin(
            "usermod", "-aG", service_group.gr_name, other_user.pw_name
        )  # docs: usermod -aG queuectl alice
        try:
            assert as_user(other_user, connect(sock)) == {"ok": "connected"}
            code, output = as_user(other_user, cli_run("--socket", str(sock), "status"))["ok"]
            assert code == 0 and output.startswith("jobs:"), output
        finally:
            _admin("gpasswd", "-d", other_user.pw_name, service_group.gr_name)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        assert not sock.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


# --- daemon --detach, finding the socket, shutdown ----------------------------------------


def test_detach_is_found_without_flags_and_shutdown_stops_it(tmp_path: Path) -> None:
    xdg_runtime = tmp_path / "xrt"
    xdg_runtime.mkdir(mode=0o700)
    xdg_state = tmp_path / "xstate"
    env = {k: v for k, v in os.environ.items()
           if k not in ("QUEUECTL_HOME", "QUEUECTL_SOCKET", "STATE_DIRECTORY", "RUNTIME_DIRECTORY",
                        "NOTIFY_SOCKET", "JOURNAL_STREAM")}  # fmt: skip
    env.update(XDG_RUNTIME_DIR=str(xdg_runtime), XDG_STATE_HOME=str(xdg_state), HOME=str(tmp_path),
               QUEUECTL_NO_AUTOSTART="1")  # fmt: skip
    sock = xdg_runtime / "queuectl" / "control.sock"
    pidfile = xdg_runtime / "queuectl" / "daemon.pid"
    logfile = xdg_state / "queuectl" / "daemon.log"

    def q(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "queuectl", *args], env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    started = q("daemon", "--detach", "--workers", "1")
    pid = None
    try:
        assert started.returncode == 0, started.stderr
        assert str(pidfile) in started.stdout and str(logfile) in started.stdout
        # (--detach returns once the socket accepts; the pidfile follows a moment later.)
        pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text(), what="the pidfile"))
        assert process_alive(pid)
        wait_for(lambda: "daemon.started" in [json.loads(x)["event"] for x in logfile.read_text().splitlines()],
                 what="daemon.started in the log file")  # fmt: skip

        # No flags: $XDG_RUNTIME_DIR/queuectl/control.sock is found.
        status = q("status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["daemon"]["pid"] == pid
        # --socket names one (and wins over $QUEUECTL_SOCKET).
        env["QUEUECTL_SOCKET"] = str(tmp_path / "elsewhere.sock")
        assert q("status").returncode == 3
        named = q("--socket", str(sock), "status", "--json")
        assert named.returncode == 0 and json.loads(named.stdout)["daemon"]["pid"] == pid
        del env["QUEUECTL_SOCKET"]
        absent = q("--socket", str(tmp_path / "nothing.sock"), "status")
        assert absent.returncode == 3 and str(tmp_path / "nothing.sock") in absent.stderr

        again = q("daemon", "--detach")
        assert again.returncode == ALREADY_RUNNING and "already running" in again.stderr

        stopped = q("shutdown")
        assert stopped.returncode == 0 and f"pid {pid}" in stopped.stdout
        wait_for(lambda: not process_alive(pid), 30, what="the daemon to exit")
        assert not pidfile.exists() and not sock.exists()
        assert json.loads(logfile.read_text().splitlines()[-1])["event"] == "daemon.stopped"
    finally:
        if pid is not None and process_alive(pid):
            os.kill(pid, signal.SIGKILL)
