"""sd_notify over real AF_UNIX datagram sockets standing in for systemd."""

from __future__ import annotations

import logging
import os
import select
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.daemon.notify import SYSTEMD_ENV_VARS, Notifier, scrub_environ


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, str]]:
    # A short directory: sun_path is limited to 107 bytes.
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        path = os.path.join(d, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(2)
        yield sock, path
        sock.close()


def recv(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def assert_nothing_queued(sock: socket.socket) -> None:
    assert select.select([sock], [], [], 0)[0] == []


def test_disabled_without_notify_socket() -> None:
    n = Notifier({})
    assert not n.enabled
    n.ready()
    n.status("x")
    n.watchdog()  # no-ops, no errors
    assert n.watchdog_interval() is None


def test_exact_datagrams(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    n = Notifier({"NOTIFY_SOCKET": path})
    assert n.enabled
    n.ready()
    assert recv(sock) == "READY=1"
    n.status("3 running, 12 pending")
    assert recv(sock) == "STATUS=3 running, 12 pending"
    n.watchdog()
    assert recv(sock) == "WATCHDOG=1"
    n.stopping()
    assert recv(sock) == "STOPPING=1"
    n.send("READY=1", "STATUS=reloaded")
    assert recv(sock) == "READY=1\nSTATUS=reloaded"
    assert_nothing_queued(sock)
    n.close()


def test_status_folds_newlines(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    Notifier({"NOTIFY_SOCKET": path}).status("line one\nline two\n")
    assert recv(sock) == "STATUS=line one line two"


def test_reloading_carries_monotonic_timestamp(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    Notifier({"NOTIFY_SOCKET": path}).reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    lines = recv(sock).split("\n")
    assert lines[0] == "RELOADING=1"
    name, _, value = lines[1].partition("=")
    assert name == "MONOTONIC_USEC"
    assert before <= int(value) <= after
    assert len(lines) == 2


def test_abstract_socket() -> None:
    name = f"queuectl-test-{os.getpid()}-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        n = Notifier({"NOTIFY_SOCKET": "@" + name})
        assert n.enabled
        n.ready()
        assert recv(sock) == "READY=1"
    finally:
        sock.close()


def test_environment_is_read_once(listener: tuple[socket.socket, str]) -> None:
    # The daemon scrubs its environment for children after creating the Notifier.
    sock, path = listener
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000", "PATH": "/bin"}
    n = Notifier(env)
    scrub_environ(env)
    assert env == {"PATH": "/bin"}
    assert set(SYSTEMD_ENV_VARS) == {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}
    n.ready()
    assert recv(sock) == "READY=1"
    assert n.watchdog_interval() == 15.0


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "1000"}, 0.0005),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_PID": str(os.getpid())}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert Notifier(env).watchdog_interval() == expected


def test_unreachable_socket_never_raises_and_warns_once(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "missing.sock")})
    assert n.enabled
    with caplog.at_level(logging.WARNING, logger="queuectl.notify"):
        for _ in range(5):
            n.ready()
            n.watchdog()
    warnings = [r for r in caplog.records if r.name == "queuectl.notify"]
    assert len(warnings) == 1
    assert "missing.sock" in warnings[0].getMessage()


def test_full_receiver_does_not_block(listener: tuple[socket.socket, str]) -> None:
    # Nobody reads: the queue fills, and sending must neither block nor raise.
    sock, path = listener
    n = Notifier({"NOTIFY_SOCKET": path})
    start = time.monotonic()
    for _ in range(5000):
        n.watchdog()
    assert time.monotonic() - start < 2
    assert recv(sock) == "WATCHDOG=1"


def test_unsupported_address_is_disabled() -> None:
    n = Notifier({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not n.enabled
    n.ready()


def test_unencodable_text_never_raises(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    n = Notifier({"NOTIFY_SOCKET": path})
    n.status("bad \udc80 surrogate")  # swallowed (and logged once)
    n.ready()
    assert recv(sock) == "READY=1"
