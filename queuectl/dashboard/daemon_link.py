"""RPC calls to the daemon from async request handlers.

RpcClient is blocking and one REQ socket serves one request at a time, so calls
run in worker threads, each borrowing a client from a small pool. The pool is
bounded so a burst of browsers cannot open an unbounded number of sockets.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any

import anyio.to_thread

from queuectl.client.rpc import DaemonUnreachable, RpcClient

CALL_TIMEOUT = 5.0
MAX_CLIENTS = 8


class DaemonLink:
    def __init__(self, socket_path: Path, timeout: float = CALL_TIMEOUT):
        self.socket_path = socket_path
        self.timeout = timeout
        self._idle: queue.SimpleQueue[RpcClient] = queue.SimpleQueue()
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)

    def call_blocking(self, method: str, params: Any = None, timeout: float | None = None) -> Any:
        # A pooled client keeps its connected socket; a stopped daemon removes the file, so
        # look first rather than wait out the timeout.
        if not self.socket_path.exists():
            raise DaemonUnreachable(self.socket_path, "no socket file")
        with self._slots:
            try:
                client = self._idle.get_nowait()
            except queue.Empty:
                client = RpcClient(self.socket_path, self.timeout)
            try:
                return client.call(method, params, timeout)
            finally:
                self._idle.put(client)  # reusable: a failed call already dropped its socket

    async def call(self, method: str, params: Any = None, timeout: float | None = None) -> Any:
        return await anyio.to_thread.run_sync(lambda: self.call_blocking(method, params, timeout))

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
