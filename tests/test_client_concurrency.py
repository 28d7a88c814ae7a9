"""Thread safety and fork safety of the Python client, as docs/python.md states them, with a
real daemon: one Client shared by threads (a long wait in one holds up none of the others),
a Client made before os.fork() used in the child and still in the parent, and the same
for AsyncClient (many tasks at once; a fork between two event loops)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from typing import Any

from queuectl import AsyncClient, Client
from tests.conftest import Daemon


def test_one_client_shared_by_threads(daemon: Daemon) -> None:
    client = Client(home=daemon.home)
    client.workers.stop()  # nothing runs: the jobs stay pending, the count is exact
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(40):
                job = client.enqueue("true", id=f"t{n}-{i}")
                assert client.get(job.id).id == job.id  # each answer is for its own request
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert client.list_page(limit=0).total == 320
    # As many sockets as calls ran at once, reused since: not one per call.
    assert client.rpc._pool is not None and 1 <= len(client.rpc._pool.idle) <= 8


def test_a_long_wait_in_one_thread_holds_up_no_other(daemon: Daemon) -> None:
    client = Client(home=daemon.home)
    client.enqueue("sleep 2", id="slow")
    done: dict[str, float] = {}

    def waiter() -> None:
        client.wait("slow")
        done["wait"] = time.monotonic()

    t0 = time.monotonic()
    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.2)  # the wait is in the daemon now
    for i in range(20):
        client.status()
        client.enqueue("true", id=f"quick{i}")
    done["others"] = time.monotonic()
    thread.join(30)
    assert done["others"] - t0 < 1.5 < done["wait"] - t0, done


def _in_child(fn: Any) -> tuple[int, str]:
    """Run fn in a forked child; its exit status and what it wrote (a pipe)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave at once, whatever happens
        code = 1
        try:
            os.close(read_fd)
            message = str(fn())
            code = 0
        except BaseException as exc:  # noqa: BLE001
            message = f"{type(exc).__name__}: {exc}"
        os.write(write_fd, message.encode())
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        output = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output


def test_a_client_made_before_fork_works_in_the_child_and_the_parent(daemon: Daemon) -> None:
    client = Client(home=daemon.home)
    client.enqueue("echo parent", id="before")  # the parent's context and socket exist
    parent_ctx = client.rpc._pool.ctx  # type: ignore[union-attr]

    def child() -> str:
        job = client.enqueue("echo child", id="from-child")
        result = client.wait(job.id, timeout=30)
        assert client.rpc._pool is not None and client.rpc._pool.ctx is not parent_ctx
        return f"{result.job.state} {client.logs(job.id).decode().strip()}"  # type: ignore[union-attr]

    code, output = _in_child(child)
    assert (code, output) == (0, "completed child")
    # The child touched nothing of the parent's: its socket still works.
    assert client.rpc._pool is not None and client.rpc._pool.ctx is parent_ctx
    assert client.get("from-child").state == "completed"
    assert client.wait("before", timeout=30).job.state == "completed"  # type: ignore[union-attr]


def test_fork_while_another_thread_waits_on_the_client(daemon: Daemon) -> None:
    """A socket lent to a thread at the moment of fork(), and the client's lock, must not
    hang or break the child (the thread does not exist there)."""
    client = Client(home=daemon.home)
    client.enqueue("sleep 1.5", id="slow")
    waited: list[Any] = []
    thread = threading.Thread(target=lambda: waited.append(client.wait("slow", timeout=30)))
    thread.start()
    time.sleep(0.3)
    code, output = _in_child(lambda: client.status()["counts"]["processing"])
    assert (code, output) == (0, "1")
    thread.join(30)
    assert waited and waited[0].job.state == "completed"


def test_async_client_serves_many_tasks_at_once(daemon: Daemon) -> None:
    async def main() -> tuple[float, float, list[str]]:
        async with AsyncClient(home=daemon.home) as client:
            await client.enqueue("sleep 1.5", id="slow")
            t0 = time.monotonic()
            wait = asyncio.create_task(client.wait("slow"))
            jobs = await asyncio.gather(*(client.enqueue("true", id=f"a{i}") for i in range(30)))
            quick = time.monotonic() - t0
            result = await wait
            assert result.job is not None and result.job.state == "completed"
            return quick, time.monotonic() - t0, [j.id for j in jobs]

    quick, slow, ids = asyncio.run(main())
    assert ids == [f"a{i}" for i in range(30)]
    assert quick < 1.0 < slow


def test_async_client_across_event_loops_and_fork(daemon: Daemon) -> None:
    client = AsyncClient(home=daemon.home)
    assert asyncio.run(client.status())["daemon"]["pid"] == daemon.proc.pid  # type: ignore[union-attr]
    # A second loop gets its own sockets (the first loop is closed).
    assert asyncio.run(client.enqueue("echo hi", id="loop2")).id == "loop2"

    def child() -> str:
        async def run() -> str:
            result = await client.wait("loop2", timeout=30)
            return (await client.logs("loop2")).decode().strip() + " " + result.job.state  # type: ignore[union-attr]

        return asyncio.run(run())

    assert _in_child(child) == (0, "hi completed")
    assert asyncio.run(client.get("loop2")).state == "completed"
    client.close()


def test_async_events_and_follow(daemon: Daemon) -> None:
    async def main() -> tuple[list[str], bytes]:
        client = AsyncClient(home=daemon.home)
        events = await client.events(("job.",))
        async with events:
            await client.enqueue("echo one; sleep 0.3; echo two", id="ev")
            names: list[str] = []
            async for event in events:
                names.append(event["event"])
                if event["event"] == "job.completed":
                    break
        output = b"".join([c.data async for c in client.follow_logs("ev")])
        client.close()
        return names, output

    names, output = asyncio.run(main())
    assert names == ["job.enqueued", "job.assigned", "job.started", "job.completed"]
    assert output == b"one\ntwo\n"


def test_a_client_dropped_in_a_reference_cycle_is_collected_without_hanging(daemon: Daemon) -> None:
    """The garbage collector may finalize a ZeroMQ context before its sockets, and then
    term() waits forever: a client must close its sockets first (regression)."""
    code = (
        "import gc, sys\n"
        "from queuectl import Client\n"
        "class Holder: pass\n"
        "for _ in range(5):\n"
        "    h = Holder(); h.client = Client(home=sys.argv[1]); h.me = h\n"
        "    h.client.status(); h.client.workers.status()\n"
        "    del h\n"
        "    gc.collect()\n"
        "print('collected')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(daemon.home)], capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert proc.stdout.strip() == "collected", proc.stderr


def test_event_streams_dropped_in_a_reference_cycle_or_left_open_do_not_hang(daemon: Daemon) -> None:
    """As above for event streams (sync and async), and for streams and clients never
    closed when the program exits (regression: both hung)."""
    code = (
        "import asyncio, gc, sys\n"
        "from queuectl import AsyncClient, Client\n"
        "class Holder: pass\n"
        "client = Client(home=sys.argv[1])\n"
        "for _ in range(3):\n"
        "    h = Holder(); h.events = client.events(('job.',)); h.me = h\n"
        "    del h\n"
        "    gc.collect()\n"
        "async def main():\n"
        "    for _ in range(3):\n"
        "        h = Holder(); h.client = AsyncClient(home=sys.argv[1]); h.me = h\n"
        "        h.events = await h.client.events(); await h.client.status()\n"
        "        del h\n"
        "        gc.collect()\n"
        "asyncio.run(main())\n"
        "left_open = client.events()\n"
        "client.status()\n"
        "print('collected')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(daemon.home)], capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.strip() == "collected", proc.stderr
