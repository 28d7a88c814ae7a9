"""The Python client library (`from queuectl import Client`) against a real daemon: every
method, its typed results, its exception classes, finding the socket, autostart, and the
transport's safety rules (checked socket, no reconnect, expires_at)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import zmq

from queuectl import (
    Client,
    DaemonUnreachable,
    DuplicateId,
    InvalidParams,
    InvalidState,
    Job,
    JobNotFound,
    LogChunk,
    MethodNotFound,
    QueuectlError,
    RemoteError,
    ShuttingDown,
    UntrustedSocket,
)
from queuectl import errors as E
from queuectl.client.models import EVENT_NAMES, FINAL_STATES, STATES, FollowNote
from queuectl.client.rpc import NO_RECONNECT_MS
from tests.conftest import Daemon, wait_for


@pytest.fixture
def client(daemon: Daemon) -> Any:
    with Client(home=daemon.home) as c:
        yield c


def test_enqueue_returns_a_typed_job_and_wait_the_final_one(client: Client, tmp_path: Path) -> None:
    job = client.enqueue("echo $GREETING; pwd", id="j1", priority=5, env={"GREETING": "hi"}, max_retries=0)
    assert isinstance(job, Job)
    assert (job.id, job.state, job.priority, job.max_retries, job.env) == ("j1", "pending", 5, 0, {"GREETING": "hi"})
    assert job.cwd == os.getcwd()  # as the CLI: this process's directory by default
    assert job.created_at.tzinfo is not None and abs(datetime.now(UTC) - job.created_at) < timedelta(seconds=30)
    assert job.raw["created_at"].endswith("Z")  # the wire form is kept
    result = client.wait("j1", timeout=30)
    assert not result.timed_out and result.job is not None
    done = result.job
    assert (done.state, done.exit_code, done.attempts, done.is_final) == ("completed", 0, 1, True)
    assert done.started_at is not None and done.finished_at is not None and done.started_at <= done.finished_at
    assert client.logs("j1") == f"hi\n{os.getcwd()}\n".encode()
    detail = client.get("j1").attempts_detail
    assert detail is not None and [(a.n, a.exit_code, a.charged) for a in detail] == [(1, 0, True)]
    assert client.get("j1", attempts=False).attempts_detail is None
    assert client.get("j1") == client.get("j1") and client.get("j1") != client.get("j1", attempts=False)


def test_enqueue_options_and_enqueue_spec(client: Client, tmp_path: Path) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    job = client.enqueue("true", id="later", run_at=later, cwd=tmp_path, timeout=5)
    assert job.state == "scheduled" and job.cwd == str(tmp_path) and job.timeout == 5
    assert job.run_at is not None and abs(job.run_at - later) < timedelta(milliseconds=1)
    with pytest.raises(InvalidParams) as err:  # a naive datetime: local or UTC? refused, not guessed
        client.enqueue("true", run_at=datetime.now())
    assert err.value.data == {"name": "invalid_params", "field": "run_at"}
    spec_job = client.enqueue_spec({"command": "echo spec", "id": "spec"})
    assert spec_job.cwd == os.getcwd()
    assert client.enqueue_spec({"command": "true", "cwd": None}).cwd is None  # the daemon's, asked for


def test_errors_are_classes_carrying_the_rpc_error(client: Client) -> None:
    client.enqueue("true", id="dup")
    with pytest.raises(DuplicateId) as dup:
        client.enqueue("true", id="dup")
    assert dup.value.code == E.DUPLICATE_ID and dup.value.name == "duplicate_id" and dup.value.data["id"] == "dup"
    with pytest.raises(JobNotFound) as missing:
        client.get("nope")
    assert isinstance(missing.value, LookupError | RemoteError | QueuectlError)
    assert missing.value.message == "no job with id 'nope'" and missing.value.data == {"name": "job_not_found", "id": "nope"}
    with pytest.raises(InvalidParams) as bad:
        client.enqueue("true", priority=10**9)
    assert bad.value.data["field"] == "priority" and isinstance(bad.value, ValueError)
    client.wait("dup", timeout=30)
    with pytest.raises(InvalidState) as state:
        client.cancel("dup")
    assert state.value.code == E.INVALID_STATE
    with pytest.raises(MethodNotFound):
        client.call("job.nothing")


def test_every_error_the_daemon_names_has_its_class(client: Client) -> None:
    advertised = {e["code"]: e["name"] for e in client.discover()["errors"]}
    assert advertised == E.ERROR_NAMES
    for code, name in advertised.items():
        cls = E.ERROR_CLASSES[code]
        assert cls.__name__ == "".join(part.title() for part in name.split("_")), (code, cls)
        exc = E.remote_error(code, "m", {"name": name, "id": "x"})
        assert type(exc) is cls and exc.code == code and exc.data["id"] == "x"
    unknown = E.remote_error(-32099, "from a newer daemon", {"name": "new_thing"})
    assert type(unknown) is RemoteError and unknown.name == "new_thing"


# The Client method (or namespace and method) for each RPC method the daemon advertises.
METHOD_OF = {"job.enqueue": "enqueue", "job.enqueue_many": "enqueue_many", "job.get": "get",
             "job.list": "list", "job.cancel": "cancel", "job.retry": "retry", "job.delete": "delete", "job.prune": "prune",
             "job.logs": "read_logs", "job.wait": "wait", "dlq.list": "dlq.list", "dlq.retry": "dlq.retry",
             "workers.status": "workers.status", "workers.scale": "workers.scale",
             "workers.stop": "workers.stop", "config.get": "config.get", "config.set": "config.set",
             "config.list": "config.list", "daemon.status": "status", "daemon.stats": "stats", "daemon.metrics": "metrics",
             "daemon.shutdown": "shutdown", "rpc.discover": "discover", "queue.add": "queue_add",
             "queue.list": "queue_list", "queue.get": "queue_get", "queue.set": "queue_set",
             "queue.pause": "queue_pause", "queue.resume": "queue_resume", "queue.remove": "queue_remove",
             **{f"schedule.{verb}": f"schedule_{verb}"
                for verb in ("add", "set", "list", "get", "pause", "resume", "remove", "run")}}  # fmt: skip


def test_every_rpc_method_has_a_typed_method_in_both_clients(client: Client) -> None:
    import inspect

    from queuectl import AsyncClient

    advertised = {m["name"] for m in client.discover()["methods"]}
    assert advertised == set(METHOD_OF)
    aclient = AsyncClient(socket=client.socket_path)
    try:
        for rpc_name, path in METHOD_OF.items():
            for owner in (client, aclient):
                target: Any = owner
                for part in path.split("."):
                    target = getattr(target, part)
                hints = inspect.signature(target).return_annotation
                assert hints is not inspect.Signature.empty and hints != "Any", (rpc_name, owner)
    finally:
        aclient.close()
    assert client.stats()["totals"].keys() == {"completed", "failed", "dead"}
    assert len(client.stats()["per_minute"]) == 60


def test_queues_through_both_clients(client: Client) -> None:
    from queuectl import AsyncClient, QueueNotFound

    client.workers.stop()
    added = client.queue_add("gpu", concurrency=2, weight=3)
    assert (added["name"], added["concurrency"], added["weight"], added["paused"]) == ("gpu", 2, 3, False)
    job = client.enqueue("true", queue="gpu", slots=2, tags={"team": "ml"}, unique_key="gpu-1")
    assert (job.queue, job.slots, job.tags, job.unique_key) == ("gpu", 2, {"team": "ml"}, "gpu-1")
    page = client.list_page(queue="gpu", tags={"team": "ml"})
    assert [j.id for j in page.jobs] == [job.id] and page.total == page.matched == 1
    assert [j.id for j in client.list(tags={"team": "other"})] == []
    assert [q["name"] for q in client.queue_list()] == ["default", "gpu"]
    assert client.queue_set("gpu", concurrency=4)["concurrency"] == 4
    assert client.queue_pause("gpu")["changed"] is True and client.queue_get("gpu")["paused"] is True
    status = client.status(queue="gpu")
    assert [q["name"] for q in status["queues"]] == ["gpu"] and status["counts"]["pending"] == 1
    with pytest.raises(QueueNotFound):
        client.queue_get("nope")

    async def main() -> None:
        async with AsyncClient(socket=client.socket_path) as aclient:
            assert (await aclient.queue_resume("gpu"))["changed"] is True
            await aclient.delete(job.id)
            assert (await aclient.queue_remove("gpu")) == {"removed": "gpu"}
            assert [q["name"] for q in await aclient.queue_list()] == ["default"]
            assert (await aclient.queue_add("cpu"))["concurrency"] == 10000
            assert (await aclient.enqueue("true", queue="cpu")).queue == "cpu"

    asyncio.run(main())


def test_rates_and_hooks_through_both_clients(client: Client) -> None:
    from queuectl import AsyncClient, InvalidParams

    client.workers.stop()
    assert client.queue_add("api", rate="10/m")["rate"] == "10/m"
    assert client.queue_set("api", rate="none")["rate"] is None
    with pytest.raises(InvalidParams):
        client.queue_set("api", rate="0/s")
    job = client.enqueue("true", queue="api", on_success="echo ok", on_failure="echo no")
    assert (job.on_success, job.on_failure, job.on_finish, job.hook, job.hook_of) == ("echo ok", "echo no", None,
                                                                                      None, None)  # fmt: skip
    assert client.get(job.id).hooks == [] and client.status()["rate_limit"]["rate"] is None
    with pytest.raises(InvalidParams):
        client.enqueue("true", on_finish=" ")

    async def main() -> None:
        async with AsyncClient(socket=client.socket_path) as aclient:
            assert (await aclient.queue_set("api", rate="2/s"))["rate"] == "2/s"
            assert (await aclient.queue_add("web", rate="5/10s"))["rate"] == "5/10s"
            assert (await aclient.enqueue("true", on_finish="echo done")).on_finish == "echo done"

    asyncio.run(main())


def test_dependencies_and_schedules_through_both_clients(client: Client) -> None:
    from queuectl import AsyncClient, ScheduleNotFound

    client.workers.stop()
    parent = client.enqueue("true")
    child = client.enqueue("true", after=[parent.id], after_condition="always")
    assert child.state == "blocked"
    got = client.get(child.id)
    assert got.after_condition == "always" and [p["id"] for p in got.parents or []] == [parent.id]
    assert [d["id"] for d in client.get(parent.id).dependents or []] == [child.id]
    assert client.cancel(parent.id, with_dependents=True).state == "cancelled"
    assert client.get(child.id).state == "cancelled"
    added = client.schedule_add("s1", "true", every=600, overlap="queue")
    assert (added["name"], added["every"], added["overlap"], added["paused"]) == ("s1", 600, "queue", False)
    assert added["job"]["command"] == "true" and "cwd" in added["job"]
    assert client.schedule_set("s1", cron="0 3 * * *", tz="UTC")["cron"] == "0 3 * * *"
    assert [s["name"] for s in client.schedule_list()] == ["s1"]
    assert client.schedule_pause("s1")["paused"] is True
    run = client.schedule_run("s1")
    assert run.id.startswith("s1@") and client.schedule_get("s1")["jobs"][0]["id"] == run.id
    with pytest.raises(ScheduleNotFound):
        client.schedule_get("nope")

    async def main() -> None:
        async with AsyncClient(socket=client.socket_path) as aclient:
            assert (await aclient.schedule_resume("s1"))["paused"] is False
            assert (await aclient.schedule_get("s1", runs=2))["next_runs"]
            assert (await aclient.schedule_remove("s1")) == {"removed": "s1"}
            assert await aclient.schedule_list() == []
            job = await aclient.enqueue("true", after=run.id)
            assert (await aclient.cancel(job.id)).state == "cancelled"

    asyncio.run(main())


def test_list_pages_through_every_job(client: Client) -> None:
    client.workers.stop()
    client.enqueue_many([{"command": "true", "id": f"p{i:02}"} for i in range(25)])
    ids = [job.id for job in client.list(page_size=7)]
    assert ids == [f"p{i:02}" for i in range(25)]
    assert [j.id for j in client.list(limit=10, page_size=4)] == [f"p{i:02}" for i in range(10)]
    assert [j.id for j in client.list(newest_first=True, limit=2)] == ["p24", "p23"]
    assert [j.id for j in client.list(search="p1")] == [f"p1{i}" for i in range(10)]
    page = client.list_page("pending", limit=5, offset=20)
    assert [j.id for j in page.jobs] == [f"p{i}" for i in range(20, 25)] and page.total == 25
    with pytest.raises(InvalidParams):
        next(client.list("sleeping"))


def test_enqueue_many_all_or_nothing_dry_run_and_skip(client: Client) -> None:
    client.workers.stop()
    with pytest.raises(DuplicateId) as err:
        client.enqueue_many([{"command": "true", "id": "m1"}, {"command": "true", "id": "m1"}])
    assert err.value.data["index"] == 1
    assert client.list_page().total == 0
    assert client.enqueue_many([{"command": "true"}] * 3, dry_run=True) == {"ids": [], "count": 3}
    result = client.enqueue_many([{"command": "true", "id": "ok"}, {"command": ""}], skip_invalid=True)
    assert result["ids"] == ["ok"] and result["skipped"][0]["index"] == 1
    assert client.get("ok").cwd == os.getcwd()


def test_logs_bytes_chunks_and_stderr(client: Client) -> None:
    client.enqueue("printf 'a\\377b'; echo err >&2", id="bin", max_retries=0)
    client.wait("bin", timeout=30)
    assert client.logs("bin") == b"a\xffb"  # not UTF-8: sent as base64, given back as bytes
    assert client.logs("bin", stream="stderr") == b"err\n"
    chunk = client.read_logs("bin", max_bytes=1)
    assert isinstance(chunk, LogChunk) and (chunk.data, chunk.next_offset, chunk.eof) == (b"a", 1, False)
    chunks = list(client.iter_logs("bin"))
    assert chunks[-1].eof and chunks[-1].attempt == 1
    never = client.enqueue("true", id="never", delay=3600)
    assert [(c.attempt, c.data, c.eof) for c in client.iter_logs(never.id)] == [(0, b"", True)]


def test_follow_logs_follows_the_job_across_its_retries(client: Client, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    client.config.set("backoff_base", 1.0)
    command = (f"echo attempt $QUEUECTL_ATTEMPT; sleep 0.2; if [ -e {marker} ]; then echo done; exit 0; fi; "
               f"touch {marker}; exit 3")  # fmt: skip
    client.enqueue(command, id="flaky", max_retries=2)
    items = list(client.follow_logs("flaky", notes=True))
    output = b"".join(i.data for i in items if isinstance(i, LogChunk))
    assert output == b"attempt 1\nattempt 2\ndone\n"
    notes = [(n.kind, n.attempt) for n in items if isinstance(n, FollowNote)]
    assert ("attempt", 2) in notes and notes[-1] == ("final", 2)
    assert any(kind == "waiting" for kind, _ in notes)  # backing off between the attempts
    assert isinstance(items[-1], FollowNote) and items[-1].job.state == "completed"
    # Without notes: only the output, and a follow of a final job ends at once.
    assert b"".join(c.data for c in client.follow_logs("flaky")) == b"attempt 2\ndone\n"


def test_follow_logs_waits_for_a_scheduled_job(client: Client) -> None:
    client.enqueue("echo later", id="later", delay=1.5)
    t0 = time.monotonic()
    assert b"".join(c.data for c in client.follow_logs("later")) == b"later\n"
    assert time.monotonic() - t0 > 1.0


def test_cancel_retry_delete_and_the_dlq(client: Client) -> None:
    client.enqueue("sleep 30", id="long")
    wait_for(lambda: client.get("long").state == "processing", what="the job to start")
    cancelled = client.cancel("long")  # the answer waits until the job is dead
    assert cancelled.state == "cancelled"
    client.enqueue("exit 4", id="bad", max_retries=0)
    assert client.wait("bad", timeout=30).job.state == "dead"  # type: ignore[union-attr]
    assert [j.id for j in client.dlq.list()] == ["bad"]
    assert client.dlq.list_page().total == 1
    assert client.dlq.retry("bad") == {"retried": ["bad"]}
    client.wait("bad", timeout=30)
    assert client.retry("bad").state in ("pending", "processing", "dead")
    client.wait("bad", timeout=30)
    assert client.dlq.retry(all=True)["retried"] == ["bad"]
    with pytest.raises(InvalidParams):
        client.dlq.retry("bad", all=True)
    client.wait("bad", timeout=30)
    assert client.delete("bad") == {"deleted": "bad"}
    with pytest.raises(JobNotFound):
        client.get("bad")


def test_workers_config_status(client: Client) -> None:
    assert client.workers.status()["target"] == 2
    assert client.workers.scale(1)["target"] == 1
    assert client.config.get("max_retries")["value"] == 3
    assert client.config.set("max_retries", 1) == {"key": "max_retries", "value": 1}
    assert client.config.list()["max_retries"] == 1
    with pytest.raises(InvalidParams):
        client.config.set("max_retries", "many")
    status = client.status()
    assert set(status["counts"]) >= {"pending", "dead"} and status["daemon"]["socket"] == str(client.socket_path)
    assert client.workers.stop()["target"] == 0


def test_wait_times_out_and_a_daemon_stopping_raises_shutting_down(make_daemon) -> None:
    d = make_daemon(workers=0)
    client = Client(home=d.home)
    client.enqueue("true", id="stuck")
    result = client.wait("stuck", timeout=0.3)
    assert result.timed_out and result.job is not None and result.job.state == "pending"
    with pytest.raises(InvalidParams):
        client.wait("stuck", timeout=float("nan"))
    caught: list[BaseException] = []
    waiter = threading.Thread(target=lambda: _catch(caught, lambda: client.wait("stuck")))
    waiter.start()
    wait_for(lambda: client.status()["daemon"]["waiting_clients"] == 1, what="the wait")
    assert client.shutdown(wait=True)["stopping"] is True
    assert d.proc.wait(10) == 0
    waiter.join(10)
    assert isinstance(caught[0], ShuttingDown) and caught[0].data["job"]["id"] == "stuck"
    with pytest.raises(DaemonUnreachable) as err:
        client.status()
    assert str(d.paths.socket) in str(err.value)


def _catch(into: list[BaseException], fn: Any) -> None:
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001
        into.append(exc)


def test_events_iterate_the_daemon_lifecycle_events(client: Client) -> None:
    with client.events(("job.",)) as events:
        client.enqueue("true", id="ev")  # subscribed before: nothing is missed
        seen = []
        while not seen or seen[-1]["event"] != "job.completed":
            event = events.next(10)
            assert event is not None, seen
            seen.append(event)
    # An idle worker is handed the job (assigned) and starts it at once.
    assert [e["event"] for e in seen] == ["job.enqueued", "job.assigned", "job.started", "job.completed"]
    assert {e["job_id"] for e in seen} == {"ev"}
    assert all(e["event"] in EVENT_NAMES for e in seen)


def test_the_types_name_every_state_and_event_the_daemon_has() -> None:
    import re

    from queuectl import jobs

    assert STATES == jobs.STATES  # same order: docs/lifecycle.md's
    assert FINAL_STATES == jobs.FINAL_STATES
    rpc_md = (Path(__file__).resolve().parents[1] / "docs" / "rpc.md").read_text()
    # The events table of docs/rpc.md: its rows are `| `name` | when | fields |`.
    documented = re.findall(r"^\| `((?:job|workers|config|queue|schedule)\.[a-z_]+)` \| [^|]+ \| [^|]+ \|$", rpc_md,
                            re.M)  # fmt: skip
    assert set(EVENT_NAMES) == set(documented)
    assert {"job.assigned", "job.returned"} <= set(EVENT_NAMES) and "assigned" in STATES


# --- finding the daemon, starting one ------------------------------------------------------


def test_the_socket_is_found_as_the_cli_finds_it(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUEUECTL_SOCKET", raising=False)
    monkeypatch.setenv("QUEUECTL_HOME", str(daemon.home))
    assert Client().socket_path == daemon.paths.socket
    assert Client().status()["daemon"]["pid"] == daemon.proc.pid  # type: ignore[union-attr]
    monkeypatch.delenv("QUEUECTL_HOME")
    assert Client(home=daemon.home).socket_path == daemon.paths.socket
    assert Client(socket=daemon.paths.socket).status()["daemon"]["home"] == str(daemon.home)
    monkeypatch.setenv("QUEUECTL_SOCKET", str(daemon.paths.socket))
    assert Client(home="/nonexistent").socket_path == daemon.paths.socket  # as --socket beats --home


def test_the_users_own_socket_then_the_system_services(daemon: Daemon, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from queuectl import paths

    for key in ("QUEUECTL_HOME", "QUEUECTL_SOCKET", "STATE_DIRECTORY", "RUNTIME_DIRECTORY"):
        monkeypatch.delenv(key, raising=False)
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    # Neither runs: the user's own socket (where autostart would start one).
    assert not paths.system_paths().socket.exists()
    assert Client().socket_path == xdg / "queuectl" / "control.sock"
    # Only the system service's socket exists: that one. (Its directories are this test
    # daemon's here: /run/queuectl is the real system service's.)
    monkeypatch.setattr(paths, "system_paths", lambda: paths.Paths(daemon.paths.state_dir,
                                                                   daemon.paths.runtime_dir, is_system=True))
    with Client(autostart=True) as client:
        assert client.socket_path == daemon.paths.socket
        assert not client.location.may_autostart()  # never the system service's
        assert client.status()["daemon"]["pid"] == daemon.proc.pid  # type: ignore[union-attr]
    # The user's own socket, once it exists, wins over the system service's.
    (xdg / "queuectl").mkdir(mode=0o700)
    (xdg / "queuectl" / "control.sock").touch()
    assert Client().socket_path == xdg / "queuectl" / "control.sock"


def test_autostart_starts_a_users_daemon_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capfd: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    home = tmp_path / "auto"
    monkeypatch.delenv("QUEUECTL_NO_AUTOSTART", raising=False)
    with pytest.raises(DaemonUnreachable, match=f"no queuectl daemon answers at {home}/run/control.sock"):
        Client(home=home).enqueue("true")
    starter = Client(home=home, autostart=True)
    with pytest.raises(DaemonUnreachable):
        starter.status()  # status never starts a daemon, as with the CLI
    monkeypatch.setenv("QUEUECTL_NO_AUTOSTART", "1")
    with pytest.raises(DaemonUnreachable):
        Client(home=home, autostart=True).enqueue("true")
    monkeypatch.delenv("QUEUECTL_NO_AUTOSTART")
    pid = None
    try:
        job = starter.enqueue("echo started", id="auto")
        assert "queuectl: started a daemon (pid" in capfd.readouterr().err
        pid = starter.status()["daemon"]["pid"]
        assert starter.wait(job.id, timeout=30).job.state == "completed"  # type: ignore[union-attr]
        assert Client(socket=starter.socket_path, autostart=True).location.may_autostart() is False
    finally:
        if pid is not None:
            starter.shutdown(wait=True)


def test_an_untrusted_socket_is_never_connected_to(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    run.chmod(0o777)  # anyone could have put a socket here
    fake = zmq.Context.instance().socket(zmq.ROUTER)
    fake.bind(f"ipc://{run}/control.sock")
    try:
        client = Client(socket=run / "control.sock", timeout=1)
        with pytest.raises(UntrustedSocket, match="writable by everyone"):
            client.enqueue("echo secret")
        with pytest.raises(UntrustedSocket):
            client.events()
        assert fake.poll(200) == 0  # not even a connection sent it a byte
    finally:
        fake.close(0)


def test_bad_arguments_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    for timeout in (0, -1, float("nan"), 86400 * 25):
        with pytest.raises(InvalidParams):
            Client(socket=tmp_path / "none.sock", timeout=timeout)


# --- the transport's rules hold for the library ------------------------------------------


def test_requests_use_no_reconnect_no_immediate_and_linger_0(client: Client) -> None:
    client.status()
    pool = client.rpc._pool
    assert pool is not None and pool.idle
    sock, _ = pool.idle[0]
    assert sock.getsockopt(zmq.RECONNECT_IVL) == NO_RECONNECT_MS  # no reconnect within a request's life
    assert sock.getsockopt(zmq.IMMEDIATE) == 0
    assert sock.getsockopt(zmq.LINGER) == 0


def test_an_idle_socket_is_not_reused_once_another_daemon_has_the_path(make_daemon) -> None:
    daemon = make_daemon(workers=0)
    client = Client(home=daemon.home)
    client.status()
    pool = client.rpc._pool
    assert pool is not None and len(pool.idle) == 1
    first, _ = pool.idle[0]
    daemon.stop()
    daemon.start()
    assert client.status()["daemon"]["pid"] == daemon.proc.pid  # through a new, checked socket
    assert first.closed and [s for s, _ in pool.idle] != [first]


def test_a_request_the_client_gave_up_on_is_not_run(daemon: Daemon) -> None:
    client = Client(home=daemon.home, timeout=1)
    client.status()
    daemon.proc.send_signal(signal.SIGSTOP)
    try:
        with pytest.raises(DaemonUnreachable, match="no reply within 1s"):
            client.enqueue("true", id="too-late")
    finally:
        daemon.proc.send_signal(signal.SIGCONT)
    time.sleep(1.0)  # the daemon reads it now: past its expires_at, refused
    with pytest.raises(JobNotFound):
        client.get("too-late")


def test_a_request_is_never_delivered_to_a_restarted_daemon(make_daemon) -> None:
    daemon = make_daemon(workers=0)
    client = Client(home=daemon.home, timeout=6)
    client.status()  # a connected socket in the pool, as a long-lived client has
    daemon.proc.send_signal(signal.SIGSTOP)
    caught: list[BaseException] = []
    thread = threading.Thread(target=lambda: _catch(caught, client.shutdown))
    thread.start()
    time.sleep(1.0)  # the request waits in the stopped daemon's socket
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(5)
    daemon.start()
    thread.join(15)
    assert isinstance(caught[0], DaemonUnreachable), caught
    time.sleep(0.5)
    assert daemon.proc.poll() is None, "the restarted daemon ran a request sent to its predecessor"
    assert client.status()["daemon"]["shutting_down"] is False


def test_import_queuectl_is_cheap_and_the_client_imports_no_heavy_modules() -> None:
    import subprocess

    code = ("import sys; import queuectl; a = set(sys.modules); from queuectl import Client, Job, JobNotFound; "
            "b = set(sys.modules); print(' '.join(sorted(m for m in a if m.startswith('queuectl')))); "
            "print(' '.join(sorted(b)))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    first, loaded = out.splitlines()
    assert first == "queuectl"
    modules = set(loaded.split())
    for heavy in ("click", "structlog", "msgpack", "asyncio", "dataclasses", "inspect", "sqlite3",
                  "queuectl.daemon", "queuectl.protocol", "queuectl.client.cli", "subprocess"):  # fmt: skip
        assert heavy not in modules, heavy
