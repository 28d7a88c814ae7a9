"""The async transport under AsyncClient (queuectl.client.aio): RpcClient's rules
(queuectl.client.rpc) on zmq.asyncio, and events as an async iterator.

Concurrent calls from many tasks each borrow their own REQ socket. Sockets belong to the
event loop they were made in: a new loop (another asyncio.run) gets new ones. In a child
made by os.fork() the transport makes its own context and leaves its parent's untouched
(closing an asyncio socket would unregister it from the event loop's epoll set, which the
child shares with its parent).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
import weakref
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio

from queuectl.client.events import close_socket_and_context, events_socket_for, monitor_event
from queuectl.client.models import Event
from queuectl.client.rpc import (
    DEFAULT_TIMEOUT,
    FileId,
    check_socket_file,
    open_req,
    parse_reply,
    request_payload,
    socket_file_id,
    verify_socket,
)
from queuectl.errors import DaemonUnreachable


class _Pool:
    __slots__ = ("ctx", "idle", "busy", "closed", "loop", "pid")

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.ctx = zmq.asyncio.Context()
        _open_pools.add(self)
        self.idle: list[tuple[zmq.asyncio.Socket, FileId]] = []
        self.busy = 0
        self.closed = False
        self.loop = loop
        self.pid = os.getpid()


# Pools until their context is terminated: reachable from here, so a client dropped in a
# reference cycle is finalized (sockets closed, then the context) before its context could
# be (see queuectl.client.rpc._open_pools).
_open_pools: set[_Pool] = set()


def _term(pool: _Pool) -> None:
    _open_pools.discard(pool)
    pool.ctx.term()


class AsyncRpc:
    """The async transport: RpcClient's rules (queuectl.client.rpc) on zmq.asyncio."""

    def __init__(self, socket_path: Path | str, timeout: float = DEFAULT_TIMEOUT,
                 owners: frozenset[int] | None = None):  # fmt: skip
        self.socket_path = Path(socket_path)
        self.timeout = timeout
        self.owners = owners
        self._pool: _Pool | None = None
        self._ids = itertools.count(1)

    def _current_pool(self) -> _Pool:
        loop = asyncio.get_running_loop()
        pool = self._pool
        if pool is not None and pool.pid != os.getpid():
            # Forked: mark the parent's objects closed without a thing done to them
            # (zmq.Socket.close, not the asyncio one, which would touch the epoll set).
            for sock, _ in pool.idle:
                zmq.Socket.close(sock)
            _term(pool)  # pyzmq does nothing to a context of another process
            pool = self._pool = None
        if pool is not None and pool.loop is not loop:
            self._close_pool(pool)
            pool = self._pool = None
        if pool is None:
            pool = self._pool = _Pool(loop)
        return pool

    @staticmethod
    def _close_pool(pool: _Pool) -> None:
        pool.closed = True
        idle, pool.idle = pool.idle, []
        for sock, _ in idle:
            sock.close(linger=0)
        if pool.busy == 0:
            _term(pool)

    async def raw(self, payload: bytes, timeout: float | None = None) -> bytes:
        return await self._exchange(lambda: payload, timeout)

    async def _exchange(self, make_payload: Any, timeout: float | None) -> bytes:
        wait_ms = int((self.timeout if timeout is None else timeout) * 1000)
        pool = self._current_pool()
        pool.busy += 1
        file_id = socket_file_id(self.socket_path)
        sock: zmq.asyncio.Socket | None = None
        while pool.idle and sock is None:
            sock, idle_file = pool.idle.pop()
            if idle_file != file_id:  # another daemon's socket file now: not this socket
                sock.close(linger=0)
                sock = None
        reusable = False
        try:
            if sock is None:
                check_socket_file(self.socket_path, self.owners)
                file_id = socket_file_id(self.socket_path)
                sock = open_req(pool.ctx, self.socket_path)
            await sock.send(make_payload(), zmq.NOBLOCK)
            if not await sock.poll(wait_ms):  # POLLIN
                raise DaemonUnreachable(self.socket_path, f"no reply within {wait_ms / 1000:g}s")
            reply = await sock.recv()
            reusable = True
            return reply
        except zmq.ZMQError as exc:
            raise DaemonUnreachable(self.socket_path, str(exc)) from None
        finally:
            # A timeout or a cancelled task leaves the REQ socket waiting for an answer:
            # closed, not reused.
            pool.busy -= 1
            if sock is not None:
                if reusable and not pool.closed and pool is self._pool:
                    pool.idle.append((sock, file_id))
                else:
                    sock.close(linger=0)
            if pool.closed and pool.busy == 0 and not pool.ctx.closed:
                _term(pool)

    async def call(self, method: str, params: Any = None, timeout: float | None = None) -> Any:
        req_id = next(self._ids)
        wait = self.timeout if timeout is None else timeout
        return parse_reply(await self._exchange(lambda: request_payload(req_id, method, params, wait), timeout))

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and pool.pid == os.getpid():
            self._close_pool(pool)

    def __del__(self) -> None:
        # Sockets before their context, whatever order the garbage collector would take.
        with contextlib.suppress(Exception):
            self.close()


class AsyncEventStream:
    """Lifecycle events as an async iterator (see queuectl.client.events.EventStream)."""

    def __init__(self, control_socket: Path, topics: Iterable[str] = ("",)):
        path = self.path = events_socket_for(Path(control_socket))
        if not verify_socket(path) and not os.path.isdir(path.parent):
            raise DaemonUnreachable(path, "no such directory")
        self.ctx = zmq.asyncio.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self._finalizer = weakref.finalize(self, close_socket_and_context, self.sock, self.ctx)
        for topic in topics:
            self.sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self._monitor: zmq.asyncio.Socket | None = None

    async def _connect(self, wait: float | None) -> None:
        if wait is not None:  # before connecting, or the handshake could pass unseen
            self._monitor = self.sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        self.sock.connect("ipc://" + str(self.path))
        if wait is None:
            return
        monitor = self._monitor
        assert monitor is not None
        deadline = time.monotonic() + wait
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not await monitor.poll(int(left * 1000)):
                    raise DaemonUnreachable(self.path, f"no daemon publishes events there within {wait:g}s")
                if monitor_event(await monitor.recv_multipart()) == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                    break
        finally:
            self._stop_monitor()
        self.sock.getsockopt(zmq.EVENTS)  # the SUB socket sends its subscriptions now

    def _stop_monitor(self) -> None:
        if self._monitor is not None:
            self.sock.disable_monitor()
            self._monitor.close(linger=0)
            self._monitor = None

    async def next(self, timeout: float) -> Event | None:
        """The next event, or None when none came within timeout seconds."""
        if not await self.sock.poll(int(timeout * 1000)):
            return None
        _topic, body = await self.sock.recv_multipart()
        import json

        event: Event = json.loads(body)
        return event

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        while True:
            event = await self.next(3600)
            if event is not None:
                return event

    def close(self) -> None:
        self._stop_monitor()
        self._finalizer()

    async def __aenter__(self) -> AsyncEventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
