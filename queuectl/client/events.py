"""Subscribing to the daemon's lifecycle events (a ZeroMQ PUB socket beside the control socket).

An EventStream belongs to the thread (and process) that made it: unlike the control
client it has one socket, which ZeroMQ does not let threads share.
"""

from __future__ import annotations

import json
import os
import sys
import time
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zmq

from queuectl.errors import DaemonUnreachable
from queuectl.paths import EVENTS_NAME

if TYPE_CHECKING:
    from queuectl.client.models import Event


def events_socket_for(control_socket: Path) -> Path:
    return control_socket.parent / EVENTS_NAME


def close_socket_and_context(sock: zmq.Socket[Any], ctx: zmq.Context[Any]) -> None:
    sock.close(linger=0)
    ctx.term()


def monitor_event(frames: list[bytes]) -> int:
    """The event number of a ZeroMQ monitor message (16 bits, native order; parsed here
    because zmq.utils.monitor imports asyncio)."""
    return int.from_bytes(frames[0][:2], sys.byteorder)


class EventStream:
    """Events as dicts (`event`, `time`, and fields such as `job_id`), as they happen.

    Iterate it (forever), or take one at a time with `next(timeout)`. A slow reader may
    miss events (the daemon drops rather than waits): read the state when it matters."""

    def __init__(self, control_socket: Path, topics: Iterable[str] = ("",), wait: float | None = None):
        """With wait: return only once connected to a daemon, with the subscription on its
        way (DaemonUnreachable if none answers within that many seconds); without, a daemon
        that starts later is connected to when it does."""
        from queuectl.client.rpc import verify_socket

        path = self.path = events_socket_for(Path(control_socket))
        # Checked like the control socket before we connect (UntrustedSocket otherwise). A
        # socket not there yet may appear later: only in a directory we checked is ours.
        if not verify_socket(path) and not os.path.isdir(path.parent):
            raise DaemonUnreachable(path, "no such directory")
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        # Closed by close(), or when the stream is collected (the finalizer keeps the
        # socket and context out of the garbage, so the socket is closed before its context).
        self._finalizer = weakref.finalize(self, close_socket_and_context, self.sock, self.ctx)
        for topic in topics:
            self.sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self._monitor: zmq.Socket[bytes] | None = None
        if wait is not None:  # before connecting, or the handshake could pass unseen
            self._monitor = self.sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        self.sock.connect("ipc://" + str(path))
        if wait is not None:
            try:
                self._wait_connected(wait)
            except BaseException:
                self.close()
                raise

    def _wait_connected(self, timeout: float) -> None:
        monitor = self._monitor
        assert monitor is not None
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not monitor.poll(int(left * 1000)):
                    raise DaemonUnreachable(self.path, f"no daemon publishes events there within {timeout:g}s")
                if monitor_event(monitor.recv_multipart()) == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                    break
        finally:
            self._stop_monitor()
        # The SUB socket sends its subscriptions when it next looks at its commands.
        self.sock.getsockopt(zmq.EVENTS)

    def _stop_monitor(self) -> None:
        if self._monitor is not None:
            self.sock.disable_monitor()
            self._monitor.close(linger=0)
            self._monitor = None

    def next(self, timeout: float) -> Event | None:
        """The next event, or None when none came within timeout seconds."""
        if not self.sock.poll(int(timeout * 1000)):
            return None
        _topic, body = self.sock.recv_multipart()
        event: Event = json.loads(body)
        return event

    def __iter__(self) -> Iterator[Event]:
        while True:
            event = self.next(3600)
            if event is not None:
                yield event

    def close(self) -> None:
        self._stop_monitor()
        self._finalizer()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
