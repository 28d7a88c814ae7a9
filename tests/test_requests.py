"""Clients are always answered, once: one request message gets exactly one reply
message, deferred methods included, and no request runs anywhere but on the daemon
it was sent to, while its client still waits."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import zmq

from queuectl.client.rpc import DaemonUnreachable, RemoteError, RpcClient
from tests.conftest import Daemon, wait_for


def req(method: str, params: Any = None, id: Any = 1) -> dict[str, Any]:
    doc: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        doc["params"] = params
    if id is not None:
        doc["id"] = id
    return doc


class Dealer:
    """A raw DEALER client: counts every reply message the daemon sends."""

    def __init__(self, daemon: Daemon):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect("ipc://" + str(daemon.paths.socket))

    def send(self, doc: Any) -> None:
        self.sock.send_multipart([b"", json.dumps(doc).encode()])

    def replies(self, seconds: float) -> list[bytes]:
        got = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.sock.poll(int(left * 1000) + 1):
                frames = self.sock.recv_multipart()
                assert frames[0] == b""
                got.append(frames[1])
        return got

    def close(self) -> None:
        self.sock.close(0)
        self.ctx.term()


@pytest.fixture
def dealer(daemon: Daemon):
    d = Dealer(daemon)
    yield d
    d.close()


def test_a_wait_inside_a_batch_answers_the_batch_once(daemon: Daemon, dealer: Dealer) -> None:
    daemon.enqueue("sleep 0.5", id="slow")
    dealer.send([req("job.wait", {"id": "slow"}, 1), req("daemon.status", None, 2)])
    replies = dealer.replies(3.0)
    assert len(replies) == 1, replies
    batch = json.loads(replies[0])
    by_id = {r["id"]: r for r in batch}
    assert by_id[1]["result"]["job"]["state"] == "completed"
    assert "counts" in by_id[2]["result"]


def test_a_cancel_of_a_running_job_inside_a_batch_answers_once(daemon: Daemon, dealer: Dealer) -> None:
    daemon.enqueue("sleep 30", id="victim")
    daemon.wait_state("victim", "processing")
    dealer.send([req("job.cancel", {"id": "victim"}, "c"), req("job.get", {"id": "victim"}, "g")])
    replies = dealer.replies(3.0)
    assert len(replies) == 1, replies
    by_id = {r["id"]: r for r in json.loads(replies[0])}
    assert by_id["c"]["result"]["state"] == "cancelled"


def test_deferred_methods_sent_as_notifications_get_an_empty_reply_only(daemon: Daemon, dealer: Dealer) -> None:
    daemon.enqueue("sleep 0.3", id="n1")
    daemon.enqueue("sleep 30", id="n2")
    daemon.wait_state("n2", "processing")
    dealer.send(req("job.wait", {"id": "n1"}, id=None))
    dealer.send(req("job.cancel", {"id": "n2"}, id=None))
    dealer.send([req("job.wait", {"id": "n1"}, id=None)])
    assert dealer.replies(2.0) == [b"", b"", b""]
    assert daemon.job("n2")["state"] == "cancelled"  # a notification still acts


def test_a_req_client_never_reads_a_stale_reply(daemon: Daemon) -> None:
    daemon.enqueue("sleep 0.3", id="w")
    client = RpcClient(daemon.paths.socket, timeout=5)
    first = json.loads(client.raw(json.dumps([req("job.wait", {"id": "w"}, 1)]).encode()))
    assert first[0]["id"] == 1
    time.sleep(0.5)
    second = json.loads(client.raw(json.dumps(req("daemon.status", None, 2)).encode()))
    assert second["id"] == 2 and "counts" in second["result"]
    client.close()


def test_a_wait_on_a_job_deleted_meanwhile_is_released_at_once(daemon: Daemon) -> None:
    daemon.enqueue("true", id="later", delay=3600)
    result: dict[str, Any] = {}

    def waiter() -> None:
        with RpcClient(daemon.paths.socket, timeout=30) as client:
            t0 = time.monotonic()
            result["reply"] = client.call("job.wait", {"id": "later", "timeout": 20})
            result["took"] = time.monotonic() - t0

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.3)
    daemon.call("job.delete", {"id": "later"})
    thread.join(10)
    assert result["reply"] == {"job": None, "timed_out": False}
    assert result["took"] < 2


def test_the_cli_wait_on_a_deleted_job_exits_126_at_once(daemon: Daemon) -> None:
    daemon.enqueue("true", id="gone", delay=3600)
    proc = subprocess.Popen(
        [sys.executable, "-m", "queuectl", "--home", str(daemon.home), "wait", "gone"],
        env=daemon.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1.0)
    daemon.call("job.delete", {"id": "gone"})
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 126, (out, err)
    assert "deleted" in out + err


def test_shutdown_answers_every_pending_wait(make_daemon) -> None:
    daemon = make_daemon(workers=1)
    daemon.enqueue("true", id="never", delay=3600)
    waiters = [
        subprocess.Popen(
            [sys.executable, "-m", "queuectl", "--home", str(daemon.home), *args],
            env=daemon.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for args in (["wait", "never"], ["enqueue", "--wait", "--delay", "3600", "--", "true"])
    ]
    wait_for(lambda: daemon.call("daemon.status")["daemon"]["waiting_clients"] == 2,
             timeout=20, what="both waits")  # fmt: skip
    t0 = time.monotonic()
    daemon.call("daemon.shutdown")
    for proc in waiters:
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 3, (out, err)
        assert "daemon stopped" in err and "scheduled" in err, err
    assert time.monotonic() - t0 < 5
    daemon.proc.wait(10)


def test_a_request_is_never_delivered_to_a_restarted_daemon(make_daemon) -> None:
    daemon = make_daemon(workers=0)
    daemon.proc.send_signal(signal.SIGSTOP)
    outcome: dict[str, Any] = {}

    def shutdown_call() -> None:
        client = RpcClient(daemon.paths.socket, timeout=8)
        try:
            outcome["reply"] = client.call("daemon.shutdown")
        except DaemonUnreachable as exc:
            outcome["error"] = exc
        finally:
            client.close()

    thread = threading.Thread(target=shutdown_call)
    thread.start()
    time.sleep(1.0)  # the request waits for the stopped daemon
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(5)
    daemon.start()  # a new daemon on the same socket path, while the client still waits
    thread.join(15)
    assert "error" in outcome, outcome
    time.sleep(0.5)
    assert daemon.proc.poll() is None, "the restarted daemon ran a request sent to its predecessor"
    assert daemon.call("daemon.status")["daemon"]["shutting_down"] is False


def test_a_request_whose_client_gave_up_is_not_run(daemon: Daemon) -> None:
    client = RpcClient(daemon.paths.socket, timeout=1)
    client.call("daemon.status")  # connected: the next request reaches the daemon's socket
    daemon.proc.send_signal(signal.SIGSTOP)
    try:
        with pytest.raises(DaemonUnreachable):
            client.call("job.enqueue", {"command": "true", "id": "too-late"})
    finally:
        client.close()
        daemon.proc.send_signal(signal.SIGCONT)
    time.sleep(1.0)
    with pytest.raises(RemoteError) as err:
        daemon.job("too-late")
    assert err.value.name == "job_not_found"


def test_an_expired_request_gets_an_error_and_changes_nothing(daemon: Daemon) -> None:
    doc = req("job.enqueue", {"command": "true", "id": "expired"})
    doc["expires_at"] = time.time() - 1
    reply = json.loads(daemon.client.raw(json.dumps(doc).encode()))
    assert reply["error"]["data"]["name"] == "request_expired"
    with pytest.raises(RemoteError):
        daemon.job("expired")
