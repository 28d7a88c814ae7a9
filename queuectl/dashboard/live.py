"""Following the daemon and fanning its news out to browsers (Server-Sent Events).

One thread per dashboard (not per browser) subscribes to the daemon's event
stream and forwards every event to each connected browser's queue. After a burst
of events it asks `daemon.status` once (throttled) and pushes the counts and
workers, so no browser polls. It also knows whether the daemon is up: a ZeroMQ
socket monitor reports the event socket's disconnect at once; while the daemon
is down the thread probes for it twice a second and announces its return.

A page is rendered first and connects its event stream afterwards: news that came in
between would be lost. So the feed counts what it fans out (`position`); a page carries
the position read before its data, and a stream that connects later than some news gets
a `resync` first (the page re-reads what it shows).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from queuectl.client.events import EventStream
from queuectl.client.rpc import ClientError
from queuectl.dashboard.daemon_link import DaemonLink

PROBE_INTERVAL = 0.5  # while the daemon is down
HEARTBEAT = 5.0  # a status refresh while nothing happens (worker run times, a wedged daemon)
STATUS_MIN_GAP = 0.25  # at most four status calls a second, whatever the event rate
BURST_DELAY = 0.05  # let a burst of events arrive before asking for status
QUEUE_SIZE = 2000
NEWS = frozenset({"daemon-event", "resync", "daemon"})  # what a page rendered earlier may lack

Message = tuple[str, Any]  # (SSE event name, JSON data)


class LiveFeed:
    def __init__(self, socket_path: Path, link: DaemonLink):
        self.socket_path = socket_path
        self.link = link
        self.up = False
        self.status: dict[str, Any] | None = None
        self._subscribers: set[asyncio.Queue[Message]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Changed only on the event loop, so a render or a subscribe reads it between fan-outs.
        self._epoch = secrets.token_hex(4)  # a restarted dashboard does not match old pages
        self._news = 0

    # --- the asyncio side -------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="queuectl-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    @property
    def position(self) -> str:
        """How much news was fanned out so far; read it before loading what a page shows."""
        return f"{self._epoch}.{self._news}"

    def subscribe(self) -> asyncio.Queue[Message]:
        q: asyncio.Queue[Message] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[Message]) -> None:
        self._subscribers.discard(q)

    def snapshot(self) -> list[Message]:
        """What a browser that just connected needs to be current."""
        messages: list[Message] = [("daemon", {"up": self.up, "socket": str(self.socket_path)})]
        if self.up and self.status is not None:
            messages.append(("status", self.status))
        return messages

    def _fanout(self, messages: list[Message]) -> None:
        if any(name in NEWS for name, _ in messages):
            self._news += 1
        for q in list(self._subscribers):
            for message in messages:
                try:
                    q.put_nowait(message)
                except asyncio.QueueFull:
                    # A browser that cannot keep up starts over from a fresh view.
                    while not q.empty():
                        q.get_nowait()
                    q.put_nowait(("resync", {}))
                    break

    def _publish(self, *messages: Message) -> None:
        # One hop to the event loop per burst, not per event.
        if self._loop is not None and messages:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self._loop.call_soon_threadsafe(self._fanout, list(messages))

    # --- the thread -------------------------------------------------------------------------

    def _fetch_status(self) -> bool:
        try:
            self.status = self.link.call_blocking("daemon.status", timeout=2.0)
        except ClientError:
            return False
        return True

    def _set_up(self, up: bool) -> None:
        if up != self.up:
            self.up = up
            self._publish(("daemon", {"up": up, "socket": str(self.socket_path)}))
        if up and self.status is not None:
            self._publish(("status", self.status))

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._fetch_status():
                self._set_up(False)
                self._stop.wait(PROBE_INTERVAL)
                continue
            # Subscribe before the status we announce, so no event falls in between: wait
            # until the event socket is connected (its subscription goes out at once).
            stream = EventStream(self.socket_path)
            monitor = stream.sock.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
            try:
                if self._connected(monitor) and self._fetch_status():
                    # Pages open before this moment may have missed events (the daemon builds
                    # none while nobody subscribes, and we were not subscribed): they re-read.
                    self._publish(("resync", {}))
                    self._set_up(True)
                    self._follow(stream, monitor)
            finally:
                stream.sock.disable_monitor()
                monitor.close(linger=0)
                stream.close()

    def _connected(self, monitor: zmq.Socket, timeout: float = 2.0) -> bool:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0 and not self._stop.is_set():
            if (
                monitor.poll(int(left * 1000))
                and recv_monitor_message(monitor)["event"] == zmq.EVENT_CONNECTED
            ):
                return True
        return False

    def _follow(self, stream: EventStream, monitor: zmq.Socket) -> None:
        """Forward events until the daemon goes away (or we stop)."""
        poller = zmq.Poller()
        poller.register(stream.sock, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        status_due: float | None = None
        last_status = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            due = status_due if status_due is not None else last_status + HEARTBEAT
            wait = min(max(due - now, 0.0), 0.5)  # wake often enough to notice stop()
            ready = dict(poller.poll(int(wait * 1000)))
            if monitor in ready and recv_monitor_message(monitor)["event"] == zmq.EVENT_DISCONNECTED:
                return  # the caller finds out whether it is gone, or back already
            if stream.sock in ready:
                burst: list[Message] = []
                while len(burst) < 1000 and (event := stream.next(0)) is not None:
                    burst.append(("daemon-event", event))
                self._publish(*burst)  # with no browser too: it moves the position
                if status_due is None:
                    status_due = max(time.monotonic() + BURST_DELAY, last_status + STATUS_MIN_GAP)
            now = time.monotonic()
            if now >= (status_due if status_due is not None else last_status + HEARTBEAT):
                status_due, last_status = None, now
                if not self._fetch_status():
                    return
                self._set_up(True)
