"""Test helpers: a real daemon process in a temporary home, real sockets, real shell commands."""

from __future__ import annotations

import compileall
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from queuectl import paths as qpaths
from queuectl.client.rpc import RpcClient

FINAL = ("completed", "dead", "cancelled")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile queuectl's byte code once, before any daemon starts. The README's test
    command installs editable, which (unlike `pip install .`) compiles nothing, and a
    machine that sets PYTHONDONTWRITEBYTECODE (CI's does) never caches it: every daemon,
    worker child and CLI call the tests start would compile some 80 modules from source,
    which took half of a daemon's 400 ms start. Reading .pyc needs no flag."""
    package = Path(__file__).resolve().parent.parent / "queuectl"
    compileall.compile_dir(str(package), quiet=1)
    # pytest-xdist's workers get COLUMNS=80 and LINES=24: every CLI the tests start would fit
    # its output to 80 columns. Output for people is fitted only where a test asks for it.
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02,
             what: str = "condition") -> Any:  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Daemon:
    """A `queuectl daemon` subprocess in its own home directory."""

    def __init__(self, home: Path, workers: int = 2, env: dict[str, str] | None = None):
        self.home = home
        self.workers = workers
        self.paths = qpaths.for_home(home)
        outer = {k: v for k, v in os.environ.items() if k != "QUEUECTL_DATABASE"}  # (the test's store only)
        self.env = {**outer, "QUEUECTL_NO_AUTOSTART": "1", **(env or {})}
        self.env.pop("QUEUECTL_HOME", None)
        self.env.pop("NOTIFY_SOCKET", None)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = home / "daemon-test.log"
        self._client: RpcClient | None = None

    def start(self, *extra: str, wait: bool = True) -> Daemon:
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115
        cmd = [sys.executable, "-m", "queuectl", "--home", str(self.home), "daemon",
               "--workers", str(self.workers), "--log-format", "json", *extra]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=self.env)
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
            if not self.paths.socket.exists():
                return False
            # Closed here, not left to the garbage collector: pyzmq's Context.__del__ may run
            # before its socket is closed, and then term() waits for it forever (a test hung so).
            try:
                with RpcClient(self.paths.socket, timeout=2) as client:
                    status = client.call("workers.status")
            except Exception:
                return False
            return sum(1 for c in status["children"] if c["ready"]) >= min(self.workers, 1) or self.workers == 0

        wait_for(up, timeout, what="the daemon to come up")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log().splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
        return events

    @property
    def client(self) -> RpcClient:
        if self._client is None:
            self._client = RpcClient(self.paths.socket, timeout=10)
        return self._client

    def call(self, method: str, params: Any = None, timeout: float | None = None) -> Any:
        return self.client.call(method, params, timeout)

    def cli(self, *args: str, input: str | None = None, timeout: float = 60,
            env: dict[str, str] | None = None, cwd: str | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return subprocess.run(
            [sys.executable, "-m", "queuectl", "--home", str(self.home), *args],
            input=input, capture_output=True, text=True, timeout=timeout,
            env={**self.env, **(env or {})}, cwd=cwd,
        )  # fmt: skip

    def enqueue(self, command: str, **fields: Any) -> dict[str, Any]:
        return self.call("job.enqueue", {"command": command, **fields})

    def job(self, job_id: str) -> dict[str, Any]:
        return self.call("job.get", {"id": job_id})

    def wait_state(self, job_id: str, states: tuple[str, ...] | str = FINAL, timeout: float = 20.0) -> dict[str, Any]:
        wanted = (states,) if isinstance(states, str) else states
        return wait_for(lambda: (j := self.job(job_id))["state"] in wanted and j, timeout,
                        what=f"job {job_id} to be {'/'.join(wanted)}")  # fmt: skip

    def wait_all_final(self, timeout: float = 60.0) -> dict[str, int]:
        def done() -> dict[str, int] | None:
            counts = self.call("daemon.status")["counts"]
            busy = sum(counts[s] for s in ("scheduled", "blocked", "pending", "assigned", "processing", "failed"))
            return counts if busy == 0 else None

        return wait_for(done, timeout, interval=0.05, what="every job to reach a final state")

    def close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        self.close_client()
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill9(self) -> None:
        assert self.proc is not None
        if self._client is not None:
            self._client.close()
            self._client = None
        self.proc.kill()
        self.proc.wait(10)

    def children_pids(self) -> list[int]:
        return [c["pid"] for c in self.call("workers.status")["children"]]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """One real PostgreSQL server for the whole run (tests/pgserver.py), started on first
    use (~1 s)."""
    from tests.pgserver import PgServer, PgUnavailable

    if os.geteuid() != 0:
        pytest.skip("the PostgreSQL tests run a server as the postgres user (runuser): they need root")
    try:
        server = PgServer().start()
    except PgUnavailable as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def database() -> str | None:
    """The database of the daemons a test starts: None is SQLite in their home. A module
    whose behaviour must hold on both stores overrides this fixture (see database_for)."""
    return None


STORES = ("sqlite", "postgres")


def database_for(request: pytest.FixtureRequest) -> str | None:
    """For a module's override, to run each of its tests on both stores:

        @pytest.fixture(params=STORES)
        def database(request): return database_for(request)

    "postgres" is a fresh database on the session's server."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("pg_server").fresh_url())


@pytest.fixture
def make_daemon(home: Path, database: str | None) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def make(workers: int = 2, start: bool = True, env: dict[str, str] | None = None,
             extra: tuple[str, ...] = (), home_dir: Path | None = None) -> Daemon:  # fmt: skip
        if database is not None:
            env = {"QUEUECTL_DATABASE": database, **(env or {})}
        d = Daemon(home_dir or home, workers, env)
        started.append(d)
        if start:
            d.start(*extra)
        return d

    yield make
    for d in started:
        with contextlib.suppress(Exception):
            if d.proc is not None and d.proc.poll() is None:
                d.stop(signal.SIGKILL, timeout=10)


@pytest.fixture
def daemon(make_daemon: Callable[..., Daemon]) -> Daemon:
    return make_daemon()


def pids_with_marker(marker: str) -> list[int]:
    """Processes whose command line contains marker (to prove no job process survives)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and int(entry) != os.getpid():
            found.append(int(entry))
    return found


def process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _no_stray_sigint() -> Iterator[None]:
    yield
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright, one per test module (the dashboard's tests)."""
    from tests.dashboard_helpers import launch_browser, need_browser, playwright_sync

    need_browser()
    with playwright_sync.sync_playwright() as pw:
        b = launch_browser(pw)
        yield b
        b.close()
