"""What the daemon holds for its clients, bounded: replies not yet read, and the file
descriptors their connections take.

Replies. libzmq queues a client's unread replies in memory up to a number of
messages, whatever their size: a client that sent 600 `job.logs` requests and
never read grew the daemon by gigabytes. Small replies stay bounded by the
socket's high-water mark (REPLY_HWM messages of under LARGE_REPLY bytes); a
large reply is sent tracked, so we know when libzmq has handed it to the kernel,
and a client may hold at most CLIENT_BYTES of large replies unread. Past either,
its further replies are dropped (it is not reading them anyway) with a log line.
Replies are sent after their turn commits, so a turn also stops taking requests
once it holds TURN_REPLY_BYTES of replies; the rest wait for the next turn.

Connections. Every client connection takes a file descriptor, and libzmq aborts
the whole process when accept() on a Unix socket fails for want of one (EMFILE).
So the daemon raises its soft limit to the hard one at start, and stops
accepting (unbinds its client sockets) while fewer than a margin of descriptors
are free, binding again once enough are.
"""

from __future__ import annotations

import os
import resource
import time
from collections import deque

import structlog
import zmq

log = structlog.get_logger("queuectl")

REPLY_HWM = 1000  # unread small replies per client (the daemon reads 1,000 requests a turn)
LARGE_REPLY = 16 * 1024
CLIENT_BYTES = 32 * 1024 * 1024  # unread large replies per client
TURN_REPLY_BYTES = 16 * 1024 * 1024  # replies one loop turn builds before it sends them
EVENTS_HWM = 1000  # events queued per subscriber; each costs ~128 bytes of libzmq's pipe
DROP_LOG_SECONDS = 10.0
SEND_MORE, SEND_LAST = int(zmq.SNDMORE | zmq.NOBLOCK), int(zmq.NOBLOCK)


class ReplySender:
    """Sends replies on the ROUTER socket without letting one client's unread replies
    grow without bound."""

    def __init__(self, sock: zmq.Socket[bytes]):
        self.sock = sock
        self.large: dict[bytes, deque[tuple[zmq.MessageTracker, int]]] = {}
        self.dropped: dict[bytes, int] = {}
        self.last_drop_log: dict[bytes, float] = {}

    def send(self, routing: list[bytes], payload: bytes) -> None:
        peer = routing[0] if routing else b""
        try:
            if len(payload) < LARGE_REPLY:
                # (send_multipart's frame loop, without its enum arithmetic on the flags)
                for frame in routing:
                    self.sock.send(frame, SEND_MORE)
                self.sock.send(payload, SEND_LAST)
                return
            if self.unread_bytes(peer) + len(payload) > CLIENT_BYTES:
                self.drop(peer, len(payload), "too many unread large replies")
                return
            tracker = self.sock.send_multipart([*routing, payload], zmq.NOBLOCK, copy=False, track=True)
            if tracker is not None:
                self.large.setdefault(peer, deque()).append((tracker, len(payload)))
        except zmq.Again:  # its queue is full: it does not read
            self.drop(peer, len(payload), "too many unread replies")
        except zmq.ZMQError:  # gone (EHOSTUNREACH)
            self.large.pop(peer, None)

    def unread_bytes(self, peer: bytes) -> int:
        held = self.large.get(peer)
        if not held:
            return 0
        while held and held[0][0].done:
            held.popleft()
        if not held:
            del self.large[peer]
            return 0
        return sum(size for tracker, size in held if not tracker.done)

    def drop(self, peer: bytes, size: int, why: str) -> None:
        self.dropped[peer] = self.dropped.get(peer, 0) + 1
        now = time.monotonic()
        if now - self.last_drop_log.get(peer, 0.0) >= DROP_LOG_SECONDS:
            self.last_drop_log[peer] = now
            log.warning("client.reply_dropped", client=peer.hex(), reason=why, bytes=size,
                        dropped=self.dropped[peer], unread_bytes=self.unread_bytes(peer))  # fmt: skip

    def forget_idle(self) -> None:
        """Drop the bookkeeping of clients whose large replies have all been read."""
        for peer in list(self.large):
            self.unread_bytes(peer)
        for table in (self.dropped, self.last_drop_log):
            for peer in [p for p in table if p not in self.large]:
                del table[peer]


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (systemd's default soft limit is 1,024,
    which a thousand clients exhaust); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


class ConnectionGuard:
    """Decides when to stop and resume accepting connections, by free descriptors."""

    def __init__(self, limit: int):
        self.limit = limit
        # Keep a quarter of the descriptors (at least 64) free: connections arriving in a
        # burst are accepted by libzmq's I/O thread before we can react.
        self.margin = max(64, limit // 4)
        self.paused = False

    @property
    def backlog(self) -> int:
        """Pending connections libzmq may accept in one go: well inside the margin, so a
        flood takes several rounds of client retries (100 ms each) to use the margin up,
        even while the loop is held up (a slow commit on a loaded disk)."""
        return max(8, min(1024, self.margin // 8))

    def check(self, used: int) -> bool | None:
        """True: stop accepting now; False: accept again; None: no change."""
        free = self.limit - used
        if not self.paused and free < self.margin:
            self.paused = True
            log.error("daemon.connections_refused", open_fds=used, limit=self.limit,
                      reason="too many connections: new clients are refused until some close")  # fmt: skip
            return True
        if self.paused and free >= 2 * self.margin:
            self.paused = False
            log.warning("daemon.connections_accepted", open_fds=used, limit=self.limit)
            return False
        return None
