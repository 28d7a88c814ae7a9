"""RPC calls to the daemon from async request handlers.

RpcClient is blocking and one REQ socket serves one request at a time, so calls
run in worker threads, each borrowing a client from a small pool. The pool is
bounded so a burst of browsers cannot open an unbounded number of sockets.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path
from typing import Any

import anyio.to_thread

from queuectl.client.rpc import DaemonUnreachable, RemoteError, RpcClient

CALL_TIMEOUT = 5.0
MAX_CLIENTS = 8
MAX_BATCH = 1000  # the daemon's limit for one batch


class DaemonLink:
    def __init__(self, socket_path: Path, timeout: float = CALL_TIMEOUT):
        self.socket_path = socket_path
        self.timeout = timeout
        self._idle: queue.SimpleQueue[RpcClient] = queue.SimpleQueue()
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)

    def _with_client(self, use: Any) -> Any:
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
                return use(client)
            finally:
                self._idle.put(client)  # reusable: a failed call already dropped its socket

    def call_blocking(self, method: str, params: Any = None, timeout: float | None = None) -> Any:
        return self._with_client(lambda client: client.call(method, params, timeout))

    def batch_blocking(self, calls: list[tuple[str, Any]], timeout: float | None = None) -> list[Any]:
        """Many requests in one JSON-RPC batch (one round trip): each element's result, or
        the RemoteError it got. Each request runs on its own in the daemon."""
        if not calls:
            return []
        if len(calls) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} calls in one batch")
        wait = self.timeout if timeout is None else timeout
        expires = round(time.time() + wait, 3)
        docs = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p, "expires_at": expires}
                for i, (m, p) in enumerate(calls)]  # fmt: skip
        replies = json.loads(self._with_client(lambda client: client.raw(json.dumps(docs).encode(), wait)))
        if isinstance(replies, dict):  # the whole batch was refused
            err = replies["error"]
            raise RemoteError(err.get("code", 0), err.get("message", "error"), err.get("data"))
        by_id = {r.get("id"): r for r in replies}
        results: list[Any] = []
        for i in range(len(calls)):
            reply = by_id.get(i, {"error": {"code": -32603, "message": "no reply"}})
            err = reply.get("error")
            results.append(RemoteError(err.get("code", 0), err.get("message", "error"), err.get("data"))
                           if err else reply.get("result"))  # fmt: skip
        return results

    async def call(self, method: str, params: Any = None, timeout: float | None = None) -> Any:
        return await anyio.to_thread.run_sync(lambda: self.call_blocking(method, params, timeout))

    async def batch(self, calls: list[tuple[str, Any]], timeout: float | None = None) -> list[Any]:
        return await anyio.to_thread.run_sync(lambda: self.batch_blocking(calls, timeout))

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
