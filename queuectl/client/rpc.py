"""The RPC transport every queuectl client uses: JSON-RPC 2.0 over REQ sockets, never hangs.

A request that gets no answer within its timeout raises DaemonUnreachable naming
the socket path; its socket is then thrown away (a REQ socket that missed a
reply cannot be reused).

Nothing is sent to a socket that was not checked first (`verify_socket`): it and
every directory above it must belong to the expected user (ourselves or root; for
the system service's socket also its account), and nobody else may write them.

Threads: one RpcClient serves any number of threads at once. A REQ socket carries one
request at a time and must not be shared between threads, so each call borrows a socket
from the client's pool (made, after the checks above, when none is idle) and gives it
back: a long `job.wait` in one thread holds up no other.

Fork: a ZeroMQ context must not be used in a child made by fork(). In the child the
client lets go of its parent's context and sockets without touching them (pyzmq closes
nothing made in another process) and makes its own on first use; the parent's go on.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

# Re-exported: clients have always imported these from here.
from queuectl.errors import DaemonUnreachable as DaemonUnreachable
from queuectl.errors import QueuectlError as QueuectlError
from queuectl.errors import RemoteError as RemoteError
from queuectl.errors import UntrustedSocket as UntrustedSocket
from queuectl.errors import remote_error

DEFAULT_TIMEOUT = 10.0
NO_RECONNECT_MS = 3_600_000  # an hour: longer than any request waits
MAX_TIMEOUT = 86400 * 24  # a ZeroMQ poll takes whole milliseconds, up to about 24 days

ClientError = QueuectlError  # the base's old name


def expected_owners(socket_path: Path | str) -> frozenset[int]:
    """Who may own the socket and its directories: ourselves and root; for the system
    service's socket (/run/queuectl) also the service's account."""
    from queuectl.paths import SYSTEM_RUNTIME_DIR, SYSTEM_USER

    owners = {os.geteuid(), 0}
    if Path(socket_path).parent == SYSTEM_RUNTIME_DIR:
        import pwd

        with contextlib.suppress(KeyError):
            owners.add(pwd.getpwnam(SYSTEM_USER).pw_uid)
    return frozenset(owners)


def verify_socket(socket_path: Path | str, owners: frozenset[int] | None = None) -> bool:
    """Check the socket before anything is sent to it (or a daemon is started for it).

    False when it does not exist; raises UntrustedSocket when it or a directory above it
    is someone else's or writable by others, DaemonUnreachable when we may not look."""
    from queuectl import fsguard

    try:
        st = fsguard.check_socket(socket_path, owners or expected_owners(socket_path))
    except fsguard.UnsafePath as exc:
        raise UntrustedSocket(socket_path, exc) from None
    except PermissionError:
        raise DaemonUnreachable(socket_path, "permission denied") from None
    except OSError as exc:
        raise DaemonUnreachable(socket_path, exc.strerror or str(exc)) from None
    return st is not None


def probe(sock: Path | str) -> str:
    """"up", "absent", "stale" (a file left by a killed daemon) or "denied"."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(sock))
        return "up"
    except (FileNotFoundError, NotADirectoryError):
        return "absent"
    except PermissionError:
        return "denied"
    except OSError:
        return "stale"
    finally:
        conn.close()


def _listening(path: Path) -> bool:
    """False when nothing listens on the socket file (a daemon killed with -9 leaves it)."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
        return True
    except ConnectionRefusedError:
        return False
    except OSError:
        return True  # anything else: let the normal timeout decide
    finally:
        conn.close()


def check_socket_file(socket_path: Path, owners: frozenset[int] | None) -> None:
    """What a socket file must be before we connect: ours (UntrustedSocket otherwise),
    writable, listened on."""
    if not verify_socket(socket_path, owners):
        raise DaemonUnreachable(socket_path, "no socket file")
    if not os.access(socket_path, os.W_OK):
        # zmq would connect in the background and hide EACCES until the timeout.
        raise DaemonUnreachable(socket_path, "permission denied")
    if not _listening(socket_path):  # a daemon killed with -9 leaves its socket file
        raise DaemonUnreachable(socket_path, "not running (a stale socket file)")


def open_req(ctx: zmq.Context[Any], socket_path: Path) -> Any:
    """A REQ socket of ctx (a zmq or zmq.asyncio context) connected to a checked socket."""
    sock = ctx.socket(zmq.REQ)
    try:
        sock.setsockopt(zmq.LINGER, 0)
        # No reconnect within any request's life: a request queued for this daemon must
        # not be delivered to the next one on the same path (a `daemon.shutdown` would
        # stop it). Not -1, and no ZMQ_IMMEDIATE: with either, a reply that arrives
        # just before the daemon closes the connection (its last answers at shutdown)
        # is thrown away unread. An idle socket is not reused once the path holds
        # another socket file (socket_file_id).
        sock.setsockopt(zmq.RECONNECT_IVL, NO_RECONNECT_MS)
        sock.connect("ipc://" + str(socket_path))
    except BaseException:
        sock.close(linger=0)
        raise
    return sock


FileId = tuple[int, int, int] | None


def socket_file_id(socket_path: Path) -> FileId:
    """Which socket file is at the path: a daemon started since has bound a new one. The
    inode alone does not tell (a file system reuses a freed inode number at once); with
    its change time, to the nanosecond, it does."""
    try:
        st = os.stat(socket_path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_ctime_ns)


def request_payload(req_id: int, method: str, params: Any, wait: float) -> bytes:
    """The request as sent: made at the moment of sending, for its expires_at. Past it we
    have given up, and the daemon refuses the request instead of running it (a paused
    daemon reading it late)."""
    doc: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id, "method": method}
    if params is not None:
        doc["params"] = params
    doc["expires_at"] = round(time.time() + wait, 3)
    return json.dumps(doc).encode()


def parse_reply(reply: bytes) -> Any:
    """The result of a reply, or its error raised as the RemoteError subclass for its code."""
    doc = json.loads(reply)
    if "error" in doc:
        err = doc["error"] if isinstance(doc["error"], dict) else {}
        raise remote_error(err.get("code", 0), err.get("message", "error"), err.get("data"))
    return doc.get("result")


class _Pool:
    """One ZeroMQ context and the REQ sockets made in it that are free to use, each with
    the socket file it connected to."""

    __slots__ = ("ctx", "idle", "busy", "closed")

    def __init__(self) -> None:
        # Made with the first socket, after its checks: none for a socket we refuse.
        self.ctx: zmq.Context[zmq.Socket[bytes]] | None = None
        self.idle: list[tuple[zmq.Socket[bytes], FileId]] = []
        self.busy = 0  # sockets lent out
        self.closed = False  # the client was closed: the last socket back terminates ctx


_clients: weakref.WeakSet[RpcClient] = weakref.WeakSet()

# Every pool with a context, until its context is terminated. Kept reachable from here so
# that a client dropped in a reference cycle is finalized while its context and sockets
# are not garbage themselves: its __del__ closes the sockets, then terminates the context.
# (Were the context garbage too, the collector could run pyzmq's Context.__del__ first,
# which waits forever for sockets not closed yet: a hang in gc.collect() or at exit.)
_open_pools: set[_Pool] = set()


def _term(pool: _Pool) -> None:
    _open_pools.discard(pool)
    if pool.ctx is not None:
        pool.ctx.term()


@atexit.register
def _close_open_pools() -> None:
    """At exit, the sockets of clients never closed, then their contexts (pyzmq leaves a
    context alone at exit, and its threads would keep a daemon-less process waiting)."""
    for pool in list(_open_pools):
        idle, pool.idle = pool.idle, []
        for sock, _ in idle:
            with contextlib.suppress(Exception):
                sock.close(linger=0)
        if pool.busy == 0:
            with contextlib.suppress(Exception):
                _term(pool)


def _after_fork_in_child() -> None:
    # Runs in the child before anything else can: only this thread exists, so the locks
    # are replaced here (one held by another thread at the fork would never be released).
    for client in list(_clients):
        client._forget_parent()


os.register_at_fork(after_in_child=_after_fork_in_child)


class RpcClient:
    def __init__(self, socket_path: Path | str, timeout: float = DEFAULT_TIMEOUT,
                 owners: frozenset[int] | None = None):  # fmt: skip
        self.socket_path = Path(socket_path)
        self.timeout = timeout
        self.owners = owners  # None: expected_owners(socket_path)
        self._lock = threading.Lock()
        self._pool: _Pool | None = None
        self._ids = itertools.count(1)
        _clients.add(self)

    # --- sockets ---------------------------------------------------------------------------

    def _acquire(self) -> tuple[_Pool, zmq.Socket[bytes], FileId]:
        current = socket_file_id(self.socket_path)
        stale: list[zmq.Socket[bytes]] = []
        sock: zmq.Socket[bytes] | None = None
        with self._lock:
            pool = self._pool
            if pool is None:
                pool = self._pool = _Pool()
            pool.busy += 1
            while pool.idle and sock is None:
                sock, file_id = pool.idle.pop()
                if file_id != current:
                    # Another daemon has bound the path since (or none now): whatever this
                    # socket still holds must not reach it. A new one, checks included.
                    stale.append(sock)
                    sock = None
        for old in stale:
            old.close(linger=0)
        if sock is not None:
            return pool, sock, current
        try:
            check_socket_file(self.socket_path, self.owners)
            file_id = socket_file_id(self.socket_path)
            with self._lock:
                if pool.ctx is None:
                    pool.ctx = zmq.Context()
                    _open_pools.add(pool)
                ctx = pool.ctx
            return pool, open_req(ctx, self.socket_path), file_id
        except BaseException:
            self._release(pool, None, None, False)
            raise

    def _release(self, pool: _Pool, sock: zmq.Socket[bytes] | None, file_id: FileId, reusable: bool) -> None:
        with self._lock:
            pool.busy -= 1
            keep = sock is not None and reusable and not pool.closed and pool is self._pool
            if keep:
                assert sock is not None
                pool.idle.append((sock, file_id))
            term = pool.closed and pool.busy == 0
        if sock is not None and not keep:
            sock.close(linger=0)
        if term:
            _term(pool)

    def _forget_parent(self) -> None:
        self._lock = threading.Lock()
        pool, self._pool = self._pool, None
        if pool is not None:
            # No-ops on the parent's objects but for marking them closed, so nothing here
            # ever uses them (or warns about them) later.
            for sock, _ in pool.idle:
                sock.close()
            pool.idle = []
            _term(pool)

    # --- calls -----------------------------------------------------------------------------

    def raw(self, payload: bytes, timeout: float | None = None) -> bytes:
        """Send one message and return the reply's bytes (for `queuectl call`, tests)."""
        return self._exchange(lambda: payload, timeout)

    def _exchange(self, make_payload: Callable[[], bytes], timeout: float | None) -> bytes:
        wait_ms = int((self.timeout if timeout is None else timeout) * 1000)
        pool, sock, file_id = self._acquire()
        reusable = False
        try:
            sock.send(make_payload(), zmq.NOBLOCK)  # queued until the connection is up
            if not sock.poll(wait_ms, zmq.POLLIN):
                raise DaemonUnreachable(self.socket_path, f"no reply within {wait_ms / 1000:g}s")
            reply = sock.recv()
            reusable = True
            return reply
        except zmq.ZMQError as exc:
            raise DaemonUnreachable(self.socket_path, str(exc)) from None
        finally:
            # Anything but a reply received (a timeout, Ctrl+C) leaves the REQ socket
            # waiting for an answer it may never get: it is closed, not reused.
            self._release(pool, sock, file_id, reusable)

    def call(self, method: str, params: Any = None, timeout: float | None = None) -> Any:
        req_id = next(self._ids)
        wait = self.timeout if timeout is None else timeout
        return parse_reply(self._exchange(lambda: request_payload(req_id, method, params, wait), timeout))

    def close(self) -> None:
        """Close the sockets and the context (a later call makes new ones). Calls still
        running in other threads finish first; their sockets are closed as they end."""
        with self._lock:
            pool, self._pool = self._pool, None
            if pool is None:
                return
            pool.closed = True
            idle, pool.idle = pool.idle, []
            term = pool.busy == 0
        for sock, _ in idle:
            sock.close(linger=0)
        if term:
            _term(pool)

    def __del__(self) -> None:
        # Close the sockets before their context: left to the garbage collector (a client
        # in a reference cycle), the context may go first and then wait forever for them.
        with contextlib.suppress(Exception):
            self.close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
