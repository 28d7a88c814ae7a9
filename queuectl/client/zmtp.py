"""A minimal ZeroMQ REQ peer written against the wire protocol (ZMTP 3.0, NULL security)
over a Unix stream socket, for the CLI's fast path (queuectl.client.fast).

Why: loading pyzmq costs more than the rest of a short CLI call together (`import zmq`
is about 4 x `python -c pass`; even its compiled backend alone, reached by going around
the package's __init__, about 3 x). The daemon's control socket is a ZeroMQ ROUTER, and a
REQ exchange with it is a few bytes of framing (https://rfc.zeromq.org/spec/23/): a
64-byte greeting each way, a READY command each way, then the request as two frames (an
empty delimiter and the body) and the reply likewise. That is all this module does; it
imports nothing but the C socket module.

It is used for one request per connection and never reconnects (RpcClient, likewise,
never reconnects within a request's life). Everything else — events, several requests, large messages,
anything a future daemon may negotiate — stays with pyzmq (queuectl.client.rpc).
"""

from __future__ import annotations

import _socket
import time

SIGNATURE = b"\xff" + b"\x00" * 8 + b"\x7f"
# signature, version 3.0, mechanism NULL (20 bytes), as-server 0, filler (31 bytes)
GREETING = SIGNATURE + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31
READY_REQ = b"\x05READY" + b"\x0bSocket-Type" + (3).to_bytes(4, "big") + b"REQ"

MORE, LONG, COMMAND = 0x01, 0x02, 0x04


class HandshakeFailed(Exception):
    """The peer did not complete a ZMTP 3 NULL handshake as a ROUTER (nothing was sent)."""


class Closed(Exception):
    """The peer closed the connection (after the request was sent)."""


def _frame(flags: int, body: bytes) -> bytes:
    size = len(body)
    if size < 256:
        return bytes((flags, size)) + body
    return bytes((flags | LONG,)) + size.to_bytes(8, "big") + body


class ReqConnection:
    """One connected, handshaken REQ peer. Timeouts are absolute `time.monotonic()`
    deadlines; running past one raises TimeoutError."""

    def __init__(self, path: str, deadline: float):
        self._buf = bytearray()
        self._sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            self._set_deadline(deadline)
            self._sock.connect(path)  # OSError: nobody listens, no such file, ...
            self._handshake(deadline)
        except BaseException:
            self._sock.close()
            raise

    def _set_deadline(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        self._sock.settimeout(left)

    def _read(self, n: int, deadline: float) -> bytes:
        while len(self._buf) < n:
            self._set_deadline(deadline)
            chunk = self._sock.recv(65536)
            if not chunk:
                raise Closed("the peer closed the connection")
            self._buf += chunk
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _read_frame(self, deadline: float) -> tuple[int, bytes]:
        flags = self._read(1, deadline)[0]
        size_bytes = self._read(8 if flags & LONG else 1, deadline)
        return flags, self._read(int.from_bytes(size_bytes, "big"), deadline)

    def _handshake(self, deadline: float) -> None:
        self._sock.sendall(GREETING + _frame(COMMAND, READY_REQ))
        try:
            greeting = self._read(64, deadline)
            if greeting[:1] != b"\xff" or greeting[9:10] != b"\x7f" or greeting[10] < 3:
                raise HandshakeFailed("not a ZMTP 3 peer")
            if greeting[12:32].rstrip(b"\x00") != b"NULL":
                raise HandshakeFailed("the peer wants a security mechanism other than NULL")
            flags, body = self._read_frame(deadline)
        except Closed:
            raise HandshakeFailed("the peer closed the connection during the handshake") from None
        if not flags & COMMAND or not body.startswith(b"\x05READY"):
            raise HandshakeFailed("no READY from the peer")
        if _properties(body[6:]).get(b"socket-type") != b"ROUTER":
            raise HandshakeFailed("the peer is not a ROUTER socket")

    def request(self, body: bytes, deadline: float) -> bytes:
        """Send one request and return the reply's body. TimeoutError, Closed."""
        self._sock.sendall(_frame(MORE, b"") + _frame(0, body))
        parts: list[bytes] = []
        while True:
            flags, data = self._read_frame(deadline)
            if flags & COMMAND:
                continue  # e.g. a PING of a later ZMTP: nothing asked of a REQ here
            parts.append(data)
            if not flags & MORE:
                break
        if len(parts) < 2 or parts[0] != b"":
            raise Closed("a reply without its envelope")
        return parts[-1]

    def close(self) -> None:
        self._sock.close()


def _properties(data: bytes) -> dict[bytes, bytes]:
    """ZMTP metadata: name-length (1 byte), name, value-length (4 bytes), value; names
    are case-insensitive."""
    props: dict[bytes, bytes] = {}
    i = 0
    while i < len(data):
        n = data[i]
        name = data[i + 1 : i + 1 + n]
        i += 1 + n
        size = int.from_bytes(data[i : i + 4], "big")
        props[name.lower()] = data[i + 4 : i + 4 + size]
        i += 4 + size
    return props
