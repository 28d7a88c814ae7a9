"""Subscribing to the daemon's lifecycle events (a ZeroMQ PUB socket beside the control socket)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zmq

from queuectl.paths import EVENTS_NAME


def events_socket_for(control_socket: Path) -> Path:
    return control_socket.parent / EVENTS_NAME


class EventStream:
    def __init__(self, control_socket: Path, topics: tuple[str, ...] = ("",)):
        from queuectl.client.rpc import DaemonUnreachable, verify_socket

        path = events_socket_for(control_socket)
        # Checked like the control socket before we connect (UntrustedSocket otherwise). A
        # socket not there yet may appear later: only in a directory we checked is ours.
        if not verify_socket(path) and not os.path.isdir(path.parent):
            raise DaemonUnreachable(path, "no such directory")
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        for topic in topics:
            self.sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self.sock.connect("ipc://" + str(events_socket_for(control_socket)))

    def next(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None when none came within timeout seconds."""
        if not self.sock.poll(int(timeout * 1000)):
            return None
        _topic, body = self.sock.recv_multipart()
        return json.loads(body)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            event = self.next(3600)
            if event is not None:
                yield event

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()
