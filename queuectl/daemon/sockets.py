"""The daemon's ZeroMQ sockets: binding them with the right permissions, and sending
on them.

- control (ROUTER): clients' JSON-RPC requests; replies go out through ReplySender.
- events (XPUB): lifecycle events; XPUB tells us about subscriptions, so events
  nobody listens to are not even built.
- results (PULL): every child's reports. Each child's own PUSH (assignments) is
  bound by the pool.
Who reaches the control socket may run any command as us: its directory was
checked and made private (or the system service's group layout) at start-up.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import structlog
import zmq

from queuectl import protocol as P
from queuectl.daemon import clients, wire
from queuectl.daemon.events import Events
from queuectl.daemon.pool import Pool
from queuectl.paths import Paths

log = structlog.get_logger("queuectl")

# Plain ints: pyzmq's enum flags cost a few microseconds of enum arithmetic per call.
EVENTS, POLLIN, NOBLOCK = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.NOBLOCK)


def next_message(sock: zmq.Socket[bytes], waiting: bool = False) -> list[bytes] | None:
    """The frames of the next message waiting on sock, or None. Asking the socket whether
    one waits costs about 3 µs; a receive that finds none raises zmq.Again, which costs
    about 13 (`waiting`: the poll said one does, no need to ask)."""
    if not waiting:
        events = sock.getsockopt(EVENTS)
        if not isinstance(events, int) or not events & POLLIN:
            return None
    try:
        return recv_frames(sock)
    except zmq.Again:
        return None


def recv_frames(sock: zmq.Socket[bytes]) -> list[bytes]:
    """One message's frames without waiting (zmq.Again if none): recv_multipart, but
    asking each frame whether more follow instead of getsockopt(RCVMORE), whose answer
    pyzmq turns into an enum (1.5 µs less for a request's three frames)."""
    frames = []
    while True:
        frame = sock.recv(NOBLOCK, copy=False)
        frames.append(frame.bytes)
        if not frame.more:
            return frames


class Sockets:
    def __init__(self, paths: Paths, socket_group: int | None, guard: clients.ConnectionGuard):
        self.paths = paths
        self.socket_group = socket_group  # the system service's group may use the CLI
        self.guard = guard
        self.ctx = zmq.Context()
        self.ctx.set(zmq.MAX_SOCKETS, 65536)
        for path in (paths.socket, paths.events_socket, paths.results_socket):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # left by a crashed daemon; we hold the lock, so it is stale
        self.control = self.ctx.socket(zmq.ROUTER)
        self.control.setsockopt(zmq.LINGER, 0)
        self.control.setsockopt(zmq.MAXMSGSIZE, P.HARD_MAX_MESSAGE_BYTES)
        self.control.setsockopt(zmq.SNDHWM, clients.REPLY_HWM)
        self.control.setsockopt(zmq.RCVHWM, 10000)
        # A reply to a client whose queue is full raises instead of vanishing silently,
        # so ReplySender can say so.
        self.control.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.control.setsockopt(zmq.BACKLOG, guard.backlog)
        self.replies = clients.ReplySender(self.control)
        self.events = self.ctx.socket(zmq.XPUB)
        self.events.setsockopt(zmq.LINGER, 0)
        self.events.setsockopt(zmq.SNDHWM, clients.EVENTS_HWM)
        self.events.setsockopt(zmq.XPUB_VERBOSER, 1)
        self.events.setsockopt(zmq.BACKLOG, guard.backlog)
        # New connections are counted (ConnectionGuard): libzmq dies if accept() runs out
        # of file descriptors.
        self.accept_watch = [sock.get_monitor_socket(zmq.EVENT_ACCEPTED)
                             for sock in (self.control, self.events)]  # fmt: skip
        self.bind_clients()
        # Children's sockets are for us and our children only (umask 077 since start).
        self.results = self.ctx.socket(zmq.PULL)
        self.results.setsockopt(zmq.LINGER, 0)
        self.results.setsockopt(zmq.MAXMSGSIZE, 1024 * 1024)
        self.results.bind(paths.endpoint(paths.results_socket))

    def _client_endpoints(self) -> list[tuple[zmq.Socket[bytes], Path]]:
        return [(self.control, self.paths.socket), (self.events, self.paths.events_socket)]

    def bind_clients(self) -> None:
        old_umask = os.umask(0o077 if self.socket_group is None else 0o007)
        try:
            for sock, path in self._client_endpoints():
                sock.bind(self.paths.endpoint(path))
        finally:
            os.umask(old_umask)
        if self.socket_group is not None:  # group members may use the CLI and `events`
            for _, path in self._client_endpoints():
                os.chmod(path, 0o660)
                try:
                    if os.stat(path).st_gid != self.socket_group:
                        os.chown(path, -1, self.socket_group)
                except OSError as exc:
                    log.warning("socket.chown_failed", path=str(path), error=str(exc))

    def guard_connections(self) -> None:
        """Stop accepting clients while file descriptors run short; accept again once
        enough are free. (Unbinding drops the connections of that moment too: better
        than libzmq's abort at EMFILE.)"""
        decision = self.guard.check(clients.open_fds())
        if decision is True:
            for sock, path in self._client_endpoints():
                with contextlib.suppress(zmq.ZMQError):
                    sock.unbind(self.paths.endpoint(path))
        elif decision is False:
            self.bind_clients()

    def drain_accept_watch(self) -> None:
        for watch in self.accept_watch:
            with contextlib.suppress(zmq.Again):
                while True:
                    watch.recv_multipart(zmq.NOBLOCK)

    def close(self) -> None:
        self.control.close(linger=2000)  # the last replies still go out
        self.ctx.destroy(linger=0)
        for path in (self.paths.socket, self.paths.events_socket, self.paths.results_socket):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


class Channels:
    """Where a turn's output goes once it has committed (output.Channels)."""

    def __init__(self, sockets: Sockets, pool: Pool, events: Events):
        self.sockets = sockets
        self.pool = pool
        self.events = events

    def send_reply(self, routing: list[bytes], payload: bytes) -> None:
        self.sockets.replies.send(routing, payload)

    def send_to_child(self, child: int, msg: wire.ToChild) -> None:
        handle = self.pool.children.get(child)
        if handle is not None:
            self.pool.send(handle, msg)

    def publish(self, event: dict[str, Any]) -> None:
        self.events.number(event)
        with contextlib.suppress(zmq.ZMQError):
            self.sockets.events.send_multipart(
                [event["event"].encode(), json.dumps(event).encode()], zmq.NOBLOCK
            )
