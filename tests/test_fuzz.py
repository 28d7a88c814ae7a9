"""Protocol fuzzing against a running daemon: it answers every message and never dies.

The daemon runs with no workers, so nothing the fuzzer enqueues is ever executed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from queuectl import protocol as P
from queuectl.client.rpc import DaemonUnreachable, RpcClient
from tests.conftest import Daemon

# Methods a random caller must not reach: they stop the daemon, start processes, or wait forever.
UNSAFE = {"daemon.shutdown", "workers.scale", "config.set", "job.wait"}
SAFE_METHODS = [
    "job.enqueue", "job.enqueue_many", "job.get", "job.list", "job.cancel", "job.retry",
    "job.delete", "job.logs", "dlq.list", "dlq.retry", "workers.status", "workers.stop",
    "config.get", "config.list", "daemon.status", "daemon.stats", "rpc.discover",
]  # fmt: skip
PARAM_NAMES = ["id", "command", "priority", "timeout", "run_at", "delay", "max_retries", "cwd",
               "env", "jobs", "dry_run", "state", "limit", "offset", "stream", "attempt", "key",
               "value", "all", "max_bytes", "search", "order", "newest_first"]  # fmt: skip
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
CASES = {"count": 0}

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=50),
)  # fmt: skip
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
params = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(PARAM_NAMES) | st.text(max_size=8), json_values, max_size=6),
    st.lists(json_values, max_size=4),
    json_scalars,
)
requests = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "2.0", "1.0", 2]),
     "method": st.sampled_from(SAFE_METHODS) | st.text(max_size=20).filter(lambda m: m not in UNSAFE),
     "params": params,
     "id": st.one_of(st.integers(), st.text(max_size=10), st.none(), st.booleans())},
    optional={"extra": json_values},
)  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = Daemon(tmp_path_factory.mktemp("fuzz") / "home", workers=0)
    d.start()
    yield d
    rc = d.stop()
    assert rc == 0, d.log()
    db = sqlite3.connect(f"file:{d.paths.db}?mode=ro", uri=True)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    print(f"\nfuzz cases tried: {CASES['count']}")


def alive(d: Daemon) -> None:
    status = RpcClient(d.paths.socket, timeout=10).call("daemon.status")
    assert status["daemon"]["pid"] == d.proc.pid


def send_raw(d: Daemon, payload: bytes) -> bytes:
    CASES["count"] += 1
    client = RpcClient(d.paths.socket, timeout=10)
    try:
        return client.raw(payload)
    finally:
        client.close()


def assert_jsonrpc_reply(reply: bytes) -> None:
    if reply == b"":
        return  # notifications only: nothing to answer
    doc = json.loads(reply)
    for item in doc if isinstance(doc, list) else [doc]:
        assert item["jsonrpc"] == "2.0"
        assert ("result" in item) != ("error" in item)
        if "error" in item:
            assert isinstance(item["error"]["code"], int) and item["error"]["message"]


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes(fuzz_daemon: Daemon, payload: bytes) -> None:
    assert_jsonrpc_reply(send_raw(fuzz_daemon, payload))
    alive(fuzz_daemon)


@FUZZ
@given(json_values)
def test_random_json(fuzz_daemon: Daemon, value: object) -> None:
    assert_jsonrpc_reply(send_raw(fuzz_daemon, json.dumps(value).encode()))
    alive(fuzz_daemon)


@FUZZ
@given(requests)
def test_random_requests(fuzz_daemon: Daemon, request: dict) -> None:
    assert_jsonrpc_reply(send_raw(fuzz_daemon, json.dumps(request).encode()))
    alive(fuzz_daemon)


@FUZZ
@given(st.lists(requests | json_values, min_size=0, max_size=8))
def test_random_batches(fuzz_daemon: Daemon, batch: list) -> None:
    assert_jsonrpc_reply(send_raw(fuzz_daemon, json.dumps(batch).encode()))
    alive(fuzz_daemon)


@FUZZ
@given(st.text(min_size=1, max_size=60), st.text(min_size=1, max_size=200))
def test_unicode_ids_and_commands_round_trip(fuzz_daemon: Daemon, job_id: str, command: str) -> None:
    CASES["count"] += 1
    client = RpcClient(fuzz_daemon.paths.socket, timeout=10)
    try:
        job = client.call("job.enqueue", {"id": job_id, "command": command})
    except Exception as exc:  # refused input must be a clean RPC error
        assert getattr(exc, "code", None) in (P.INVALID_PARAMS, P.DUPLICATE_ID), exc
    else:
        got = client.call("job.get", {"id": job_id})
        assert (got["id"], got["command"]) == (job["id"], command)
        client.call("job.cancel", {"id": job_id})
        client.call("job.delete", {"id": job_id})
    finally:
        client.close()
    alive(fuzz_daemon)


def test_request_size_limits(fuzz_daemon: Daemon) -> None:
    big = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "job.enqueue",
                      "params": {"command": "x" * (P.MAX_REQUEST_BYTES + 10)}}).encode()  # fmt: skip
    reply = json.loads(send_raw(fuzz_daemon, big))
    assert reply["error"]["code"] == P.REQUEST_TOO_LARGE
    # Above ZeroMQ's hard limit the connection is dropped before the daemon reads it.
    client = RpcClient(fuzz_daemon.paths.socket, timeout=3)
    with pytest.raises(DaemonUnreachable):
        client.raw(b"x" * (P.HARD_MAX_MESSAGE_BYTES + 1))
    client.close()
    alive(fuzz_daemon)


def test_deeply_nested_json(fuzz_daemon: Daemon) -> None:
    # Shallow enough to parse: a batch of one invalid request.
    reply = json.loads(send_raw(fuzz_daemon, b"[" * 100 + b"]" * 100))
    assert [r["error"]["code"] for r in reply] == [P.INVALID_REQUEST]
    # Deeper than json goes: invalid_request (docs/rpc.md), not a crashed daemon.
    for depth in (10_000, 1_000_000):
        reply = json.loads(send_raw(fuzz_daemon, b"[" * depth + b"]" * depth))
        assert reply["error"]["code"] == P.INVALID_REQUEST
        assert "nested too deeply" in reply["error"]["message"]
    alive(fuzz_daemon)


def test_multipart_and_odd_envelopes(fuzz_daemon: Daemon) -> None:
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect("ipc://" + str(fuzz_daemon.paths.socket))
    try:
        for frames in ([b"", b"a", b"b"], [b"", b"", b""], [b"no-delimiter"], [b"", b"{}", b"{}", b"[]"]):
            CASES["count"] += 1
            dealer.send_multipart(frames)
        replies = 0
        while dealer.poll(2000):
            dealer.recv_multipart()
            replies += 1
        assert replies >= 3
    finally:
        dealer.close()
        ctx.term()
    alive(fuzz_daemon)


def test_clients_that_send_and_vanish(fuzz_daemon: Daemon) -> None:
    ctx = zmq.Context()
    for i in range(200):
        CASES["count"] += 1
        sock = ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect("ipc://" + str(fuzz_daemon.paths.socket))
        sock.send(json.dumps({"jsonrpc": "2.0", "id": i, "method": "job.list",
                              "params": {"limit": 1000}}).encode())  # fmt: skip
        sock.close(linger=0 if i % 2 else 100)
    ctx.term()
    alive(fuzz_daemon)


def test_the_database_is_consistent_after_fuzzing(fuzz_daemon: Daemon) -> None:
    status = RpcClient(fuzz_daemon.paths.socket).call("daemon.status")
    total = RpcClient(fuzz_daemon.paths.socket).call("job.list", {"limit": 0})["total"]
    assert sum(status["counts"].values()) == total
    db = sqlite3.connect(f"file:{Path(fuzz_daemon.paths.db)}?mode=ro", uri=True)
    assert db.execute("SELECT count(*) FROM jobs").fetchone()[0] == total
    for state, n in db.execute("SELECT state, count(*) FROM jobs GROUP BY state"):
        assert status["counts"][state] == n
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
