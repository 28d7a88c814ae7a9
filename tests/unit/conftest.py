"""Unit tests of the daemon's core: real objects (a real SQLite file, or a real
PostgreSQL database: every test of the store and of the core runs on both), no daemon
process, no sockets, and a clock the test moves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from queuectl.daemon import wire
from queuectl.daemon.store import Storage, Store

# Opens the store a test uses, given where its SQLite file would be.
OpenStore = Callable[[Path], Storage]


class FakeClock:
    """Wall, monotonic and boot time that move only when the test says."""

    def __init__(self, wall: float = 1_800_000_000.0):
        self._wall = wall
        self._mono = 1000.0

    def wall(self) -> float:
        return self._wall

    def mono(self) -> float:
        return self._mono

    def boot(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._wall += seconds
        self._mono += seconds

    def step_wall(self, seconds: float) -> None:
        """The wall clock jumps; the others run on."""
        self._wall += seconds


class Sent:
    """Where a turn's output goes in these tests: it is kept to look at (output.Channels)."""

    def __init__(self) -> None:
        self.replies: list[tuple[list[bytes], bytes]] = []
        self.to_children: list[tuple[int, wire.ToChild]] = []
        self.events: list[dict[str, Any]] = []

    def send_reply(self, routing: list[bytes], payload: bytes) -> None:
        self.replies.append((routing, payload))

    def send_to_child(self, child: int, msg: wire.ToChild) -> None:
        self.to_children.append((child, msg))

    def publish(self, event: dict[str, Any]) -> None:
        self.events.append(event)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def pg_shared(pg_server: Any) -> Iterator[Any]:
    """One queuectl database for the run's tests of the core, and a connection to empty it."""
    import psycopg

    from queuectl.daemon.store.postgres import PgStore

    url = pg_server.fresh_url("unit")
    PgStore(url).close()  # (its schema)
    with psycopg.connect(url, autocommit=True) as admin:
        yield url, admin


def empty_database(admin: Any) -> None:
    """Every row gone, as a new database: CREATE DATABASE costs 100-200 ms on this machine,
    this ~5 ms. (The default queue is put back as the schema's first version made it.)"""
    from queuectl.daemon.store.postgres.schema import MIGRATIONS

    default_queue = next(sql for sql in MIGRATIONS[1] if sql.startswith("INSERT INTO queues"))
    tables = [r[0] for r in admin.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
    with admin.transaction():
        admin.execute("DROP FUNCTION IF EXISTS disk_full() CASCADE")  # (test_rollback's, if a test failed)
        for table in tables:
            admin.execute(f"DELETE FROM {table}" + (" WHERE key <> 'schema_version'" if table == "meta" else ""))
        admin.execute("ALTER TABLE jobs ALTER COLUMN seq RESTART")
        admin.execute(default_queue)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Which store the test runs on. A module whose tests only make sense on one of them
    overrides this fixture (saying why)."""
    return str(request.param)


@pytest.fixture
def open_store(backend: str, request: pytest.FixtureRequest) -> OpenStore:
    if backend == "sqlite":
        return Store
    from queuectl.daemon.store.postgres import PgStore

    url, admin = request.getfixturevalue("pg_shared")
    empty_database(admin)
    return lambda _path: PgStore(url)


@pytest.fixture
def store(tmp_path: Path, open_store: OpenStore) -> Iterator[Any]:
    s = open_store(tmp_path / "queue.db")
    yield s
    s.close()


class Core:
    """The daemon's core without a daemon process: the real parts over a real store
    (SQLite or PostgreSQL), a loop that is fed what would have arrived, and stand-in children (real
    `sleep` processes with real pidfds and sockets, so the pool can hold them)."""

    def __init__(self, home: Path, clock: FakeClock, open_store: OpenStore = Store):
        import itertools
        import subprocess

        import zmq

        from queuectl import paths as qpaths
        from queuectl.daemon import clients, startup
        from queuectl.daemon.daemon import Daemon
        from queuectl.daemon.loop import Loop
        from queuectl.daemon.pool import Pool
        from queuectl.daemon.reserve import SpaceReserve

        self.paths = qpaths.for_home(home)
        self.paths.state_dir.mkdir(parents=True)
        self.paths.logs_dir.mkdir()
        self.clock = clock
        d = self.daemon = Daemon(self.paths, workers=0, clock=clock)
        d.store = open_store(self.paths.db)
        d.reserve = SpaceReserve(self.paths.state_dir / "reserve")
        d.guard = clients.ConnectionGuard(1024)
        d.containment, d.cgroup_base = "subreaper", None
        self.ctx = zmq.Context()
        d.pool = Pool(self.ctx, self.paths, 1, 1 << 20, 0o022)
        d.signals = startup.Signals()
        self.sent = Sent()
        d.channels = self.sent  # type: ignore[assignment]
        d.build_core(lambda child: None, lambda child: None)
        self.loop = Loop(d)
        self.loop.clock_offset = clock.wall() - clock.boot()
        self._processes: list[subprocess.Popen[bytes]] = []
        self._ids = itertools.count(1)
        self._req_ids = itertools.count(1)

    def add_child(self) -> int:
        """A ready worker child (a stand-in process: nothing is ever run by it)."""
        import os
        import subprocess

        import zmq

        from queuectl.daemon.pool import ChildHandle

        proc = subprocess.Popen(["sleep", "600"])
        self._processes.append(proc)
        child_id = next(self._ids)
        push = self.ctx.socket(zmq.PUSH)
        push.bind(f"inproc://child-{child_id}")
        # A cgroup path that is not there: when it "dies", the pool finds nothing of a
        # job to kill (and never looks for re-parented processes of the test's own).
        handle = ChildHandle(child_id, proc, os.pidfd_open(proc.pid), push, "", ready=True,
                             last_seen=self.clock.mono(),
                             cgroup=str(self.paths.state_dir / f"no-cgroup-{child_id}"))  # fmt: skip
        self.daemon.pool.children[child_id] = handle
        self.daemon.pool.by_pidfd[handle.pidfd] = handle
        return child_id

    def request(self, method: str, params: Any = None, *, notification: bool = False,
                client: bytes = b"client-1") -> list[bytes]:  # fmt: skip
        import json

        doc: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            doc["params"] = params
        if not notification:
            doc["id"] = next(self._req_ids)
        return [client, b"", json.dumps(doc).encode()]

    def batch(self, *docs: dict[str, Any], client: bytes = b"client-1") -> list[bytes]:
        import json

        return [client, b"", json.dumps(list(docs)).encode()]

    def turn(self, *requests: list[bytes], reports: tuple[wire.FromChild, ...] = ()) -> None:
        from queuectl.daemon.loop import TurnInput

        self.loop.apply(TurnInput([wire.encode(r) for r in reports], [], list(requests)))

    def replies(self) -> list[Any]:
        """Every reply sent so far, decoded (None for an empty frame); then forgets them."""
        import json

        out = [json.loads(p) if p else None for _, p in self.sent.replies]
        self.sent.replies.clear()
        return out

    def runs(self) -> list[tuple[int, wire.Run]]:
        runs = [(c, m) for c, m in self.sent.to_children if isinstance(m, wire.Run)]
        self.sent.to_children.clear()
        return runs

    def kill_child(self, child_id: int) -> None:
        """The child dies; the next turn notices (as its pidfd would say)."""
        from queuectl.daemon.loop import TurnInput

        handle = self.daemon.pool.children[child_id]
        handle.proc.kill()
        self.loop.apply(TurnInput([], [handle], []))

    def job(self, job_id: str) -> dict[str, Any]:
        job = self.daemon.store.get(job_id)
        assert job is not None
        return job

    def close(self) -> None:
        for proc in self._processes:
            proc.kill()
            proc.wait()
        self.daemon.store.close()
        self.ctx.destroy(linger=0)


@pytest.fixture
def core(tmp_path: Path, clock: FakeClock, open_store: OpenStore) -> Iterator[Core]:
    c = Core(tmp_path / "home", clock, open_store)
    yield c
    c.close()
