"""queue.*: named queues (docs/lifecycle.md, "Queues"), as methods of Client (QueueCalls)
and of AsyncClient (AsyncQueueCalls): `client.queue_add("gpu", concurrency=2)`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from queuectl.client.params import queue_params

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from queuectl.client.records import QueueChange, QueueInfo, QueueRemoved


class QueueCalls:
    """Client's queue.* methods. A queue's name is 1 to 64 characters of A-Z a-z 0-9 . _ -;
    QueueNotFound when no queue has it."""

    if TYPE_CHECKING:

        def call(self, method: str, params: Any = None, timeout: float | None = None) -> Any: ...

    def queue_add(self, name: str, *, concurrency: int | None = None, weight: int | None = None,
                  rate: str | None = None) -> QueueInfo:  # fmt: skip
        """Create a queue (saved: it survives restarts). concurrency: slots its jobs may hold
        at once (default 10,000: the pool decides; 0: nothing starts); weight: its share of
        the pool against other busy queues (default 1); rate: at most N starts in any PERIOD,
        "N/PERIOD" such as "10/m", "2/s", "5/10s" (default: none). InvalidState if it exists."""
        params = queue_params(name, concurrency=concurrency, weight=weight, rate=rate)
        result: QueueInfo = self.call("queue.add", params)
        return result

    def queue_list(self) -> list[QueueInfo]:
        """Every queue, by name, with its counts."""
        result: list[QueueInfo] = self.call("queue.list")
        return result

    def queue_get(self, name: str) -> QueueInfo:
        result: QueueInfo = self.call("queue.get", queue_params(name))
        return result

    def queue_set(self, name: str, *, concurrency: int | None = None, weight: int | None = None,
                  rate: str | None = None) -> QueueInfo:  # fmt: skip
        """Change its concurrency, weight or rate (at least one), at once; running jobs go on.
        rate "none" lifts the queue's rate limit."""
        params = queue_params(name, concurrency=concurrency, weight=weight, rate=rate)
        result: QueueInfo = self.call("queue.set", params)
        return result

    def queue_pause(self, name: str, *, kill: bool = False) -> QueueChange:
        """No job of the queue starts until it is resumed (saved). kill: also stop its running
        jobs (back to pending, the attempt not counted). `changed` False: it was paused."""
        result: QueueChange = self.call("queue.pause", queue_params(name, kill=kill or None))
        return result

    def queue_resume(self, name: str) -> QueueChange:
        result: QueueChange = self.call("queue.resume", queue_params(name))
        return result

    def queue_remove(self, name: str) -> QueueRemoved:
        """Remove a queue (not `default`); InvalidState while it holds jobs that may still run."""
        result: QueueRemoved = self.call("queue.remove", queue_params(name))
        return result


class AsyncQueueCalls:
    """AsyncClient's queue.* methods: QueueCalls' as coroutines."""

    if TYPE_CHECKING:

        def call(self, method: str, params: Any = None, timeout: float | None = None) -> Awaitable[Any]: ...

    async def queue_add(self, name: str, *, concurrency: int | None = None, weight: int | None = None,
                        rate: str | None = None) -> QueueInfo:  # fmt: skip
        params = queue_params(name, concurrency=concurrency, weight=weight, rate=rate)
        result: QueueInfo = await self.call("queue.add", params)
        return result

    async def queue_list(self) -> list[QueueInfo]:
        result: list[QueueInfo] = await self.call("queue.list")
        return result

    async def queue_get(self, name: str) -> QueueInfo:
        result: QueueInfo = await self.call("queue.get", queue_params(name))
        return result

    async def queue_set(self, name: str, *, concurrency: int | None = None, weight: int | None = None,
                        rate: str | None = None) -> QueueInfo:  # fmt: skip
        params = queue_params(name, concurrency=concurrency, weight=weight, rate=rate)
        result: QueueInfo = await self.call("queue.set", params)
        return result

    async def queue_pause(self, name: str, *, kill: bool = False) -> QueueChange:
        result: QueueChange = await self.call("queue.pause", queue_params(name, kill=kill or None))
        return result

    async def queue_resume(self, name: str) -> QueueChange:
        result: QueueChange = await self.call("queue.resume", queue_params(name))
        return result

    async def queue_remove(self, name: str) -> QueueRemoved:
        result: QueueRemoved = await self.call("queue.remove", queue_params(name))
        return result
