"""One request message, one reply message: the answers of a request (or a batch) are
collected here and sent together once every one of them is in.

A handler may answer later (`job.wait`, `job.cancel` of a running job); the reply
to its message then waits for it. A notification is answered with nothing at once,
whatever its method does afterwards, so a REQ client never reads a stale reply.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# Methods that free disk space: on a full disk they may use the space held in reserve.
FREES_SPACE = frozenset({"job.delete"})

# Sends (routing envelope, JSON document or None for an empty frame) after commit.
SendReply = Callable[[list[bytes], Any], None]


class PendingReply:
    """The answers owed for one request message (a single request or a batch)."""

    __slots__ = ("routing", "send", "batch", "answers", "answered", "missing")

    def __init__(self, routing: list[bytes], send: SendReply, size: int, batch: bool):
        self.routing = routing
        self.send = send
        self.batch = batch
        self.answers: list[dict[str, Any] | None] = [None] * size
        self.answered = [False] * size
        self.missing = size

    def answer(self, index: int, doc: dict[str, Any] | None) -> None:
        """The answer of request `index` (None: a notification, which gets none)."""
        if self.answered[index]:
            return  # answered once already (a deferred answer racing its deadline)
        self.answered[index] = True
        self.answers[index] = doc
        self.missing -= 1
        if self.missing:
            return
        if self.batch:
            docs = [a for a in self.answers if a is not None]
            self.send(self.routing, docs or None)
        else:
            self.send(self.routing, self.answers[0])


class Waiter:
    """Someone waiting for a job to reach a final state (a `job.wait`, a `job.cancel` of
    a running job). Exactly one of the two callbacks runs, once."""

    __slots__ = ("_settled", "_abandoned", "done")

    def __init__(
        self,
        settled: Callable[[dict[str, Any] | None], None],
        abandoned: Callable[[dict[str, Any] | None], None],
    ):
        self._settled = settled
        self._abandoned = abandoned
        self.done = False

    def settled(self, job: dict[str, Any] | None) -> None:
        """The job is final (or deleted: None)."""
        if not self.done:
            self.done = True
            self._settled(job)

    def abandoned(self, job: dict[str, Any] | None) -> None:
        """The daemon stops before the job is final."""
        if not self.done:
            self.done = True
            self._abandoned(job)


def frees_space(frames: list[bytes]) -> bool:
    """Whether a request message (its last frame: one request or a batch) only asks for
    methods that free space."""
    try:
        doc = json.loads(frames[-1])
    except (ValueError, IndexError, RecursionError):
        return False
    items = doc if isinstance(doc, list) else [doc]
    return bool(items) and all(isinstance(i, dict) and i.get("method") in FREES_SPACE for i in items)
