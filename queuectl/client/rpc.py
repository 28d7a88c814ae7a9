"""The RPC client every queuectl client uses: one REQ socket, JSON-RPC 2.0, never hangs.

A request that gets no answer within its timeout raises DaemonUnreachable naming
the socket path; the socket is then thrown away (a REQ socket that missed a
reply cannot be reused).

Nothing is sent to a socket that was not checked first (`verify_socket`): it and
every directory above it must belong to the expected user (ourselves or root; for
the system service's socket also its account), and nobody else may write them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

DEFAULT_TIMEOUT = 10.0
NO_RECONNECT_MS = 3_600_000  # an hour: longer than any request waits


class ClientError(Exception):
    """Base of what the client raises."""


class DaemonUnreachable(ClientError):
    def __init__(self, socket_path: Path | str, why: str):
        super().__init__(f"no queuectl daemon answers at {socket_path} ({why})")
        self.socket_path = str(socket_path)


class UntrustedSocket(DaemonUnreachable):
    """The socket (or a directory on its way) is not the expected user's: never talked to."""

    def __init__(self, socket_path: Path | str, problem: Any):
        where = "" if str(getattr(problem, "path", socket_path)) == str(socket_path) else f"{problem.path}: "
        reason = getattr(problem, "reason", str(problem))
        ClientError.__init__(self, f"not talking to a daemon at {socket_path}: {where}{reason}")
        self.socket_path = str(socket_path)


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


class RemoteError(ClientError):
    """The daemon answered with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data or {}

    @property
    def name(self) -> str:
        return self.data.get("name", "error") if isinstance(self.data, dict) else "error"


class RpcClient:
    def __init__(self, socket_path: Path | str, timeout: float = DEFAULT_TIMEOUT,
                 owners: frozenset[int] | None = None):  # fmt: skip
        self.socket_path = Path(socket_path)
        self.timeout = timeout
        self.owners = owners  # None: expected_owners(socket_path)
        self._ctx: zmq.Context | None = None
        self._sock: zmq.Socket | None = None
        self._sock_file: tuple[int, int] | None = None  # (device, inode) we connected to
        self._ids = itertools.count(1)

    def _socket_file(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.socket_path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def _socket(self) -> zmq.Socket:
        if self._sock is not None and self._socket_file() != self._sock_file:
            # Another daemon has bound the path since (or none now): whatever this socket
            # still holds must not reach it. Start over, checks included.
            self._drop_socket()
        if self._sock is None:
            if not verify_socket(self.socket_path, self.owners):
                raise DaemonUnreachable(self.socket_path, "no socket file")
            if not os.access(self.socket_path, os.W_OK):
                # zmq would connect in the background and hide EACCES until the timeout.
                raise DaemonUnreachable(self.socket_path, "permission denied")
            if not self._listening():  # a daemon killed with -9 leaves its socket file
                raise DaemonUnreachable(self.socket_path, "not running (a stale socket file)")
            if self._ctx is None:
                self._ctx = zmq.Context()
            self._sock_file = self._socket_file()
            sock = self._ctx.socket(zmq.REQ)
            sock.setsockopt(zmq.LINGER, 0)
            # No reconnect within any request's life: a request queued for this daemon must
            # not be delivered to the next one on the same path (a `daemon.shutdown` would
            # stop it). Not -1, and no ZMQ_IMMEDIATE: with either, a reply that arrives
            # just before the daemon closes the connection (its last answers at shutdown)
            # is thrown away unread.
            sock.setsockopt(zmq.RECONNECT_IVL, NO_RECONNECT_MS)
            sock.connect("ipc://" + str(self.socket_path))
            self._sock = sock
        return self._sock

    def _drop_socket(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
            self._sock_file = None

    def _listening(self) -> bool:
        """False when nothing listens on the socket file (a daemon killed with -9 leaves it)."""
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(str(self.socket_path))
            return True
        except ConnectionRefusedError:
            return False
        except OSError:
            return True  # anything else: let the normal timeout decide
        finally:
            conn.close()

    def raw(self, payload: bytes, timeout: float | None = None) -> bytes:
        """Send one message and return the reply's bytes (for `queuectl call`, tests)."""
        return self._exchange(lambda: payload, timeout)

    def _exchange(self, make_payload: Callable[[], bytes], timeout: float | None) -> bytes:
        sock = self._socket()
        wait_ms = int((self.timeout if timeout is None else timeout) * 1000)
        try:
            sock.send(make_payload(), zmq.NOBLOCK)  # queued until the connection is up
            if not sock.poll(wait_ms, zmq.POLLIN):
                raise DaemonUnreachable(
                    self.socket_path, f"no reply within {wait_ms / 1000:g}s"
                )
            return sock.recv()
        except DaemonUnreachable:
            self._drop_socket()
            raise
        except zmq.ZMQError as exc:
            self._drop_socket()
            raise DaemonUnreachable(self.socket_path, str(exc)) from None

    def call(self, method: str, params: Any = None, timeout: float | None = None) -> Any:
        req_id = next(self._ids)
        wait = self.timeout if timeout is None else timeout
        doc: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id, "method": method}
        if params is not None:
            doc["params"] = params

        def payload() -> bytes:
            # Made as it is sent: past expires_at we have given up, and the daemon
            # refuses the request instead of running it (a paused daemon reading it late).
            doc["expires_at"] = round(time.time() + wait, 3)
            return json.dumps(doc).encode()

        reply = json.loads(self._exchange(payload, timeout))
        if "error" in reply:
            err = reply["error"]
            raise RemoteError(err.get("code", 0), err.get("message", "error"), err.get("data"))
        return reply.get("result")

    def close(self) -> None:
        self._drop_socket()
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
