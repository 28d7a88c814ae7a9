"""What a loop turn sends, held until its transaction commits.

A client's "ok" means committed, and a child never runs a job the database does
not know is running: replies, assignments and events are only collected while a
turn runs, and sent by `flush` after the commit. Each addition is journaled, so a
request (or turn) that rolls back takes its output back with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from queuectl.daemon import wire
from queuectl.daemon.journal import Journal


class Channels(Protocol):
    """Where output goes once committed."""

    def send_reply(self, routing: list[bytes], payload: bytes) -> None: ...
    def send_to_child(self, child: int, msg: wire.ToChild) -> None: ...
    def publish(self, event: dict[str, Any]) -> None: ...


class TurnOutput:
    def __init__(self, journal: Journal):
        self.journal = journal
        self.replies: list[tuple[list[bytes], bytes]] = []
        self.reply_bytes = 0
        self.to_children: list[tuple[int, wire.ToChild]] = []
        self.events: list[dict[str, Any]] = []
        self.after_commit: list[Callable[[], None]] = []
        self.logs: list[Callable[[], None]] = []  # log lines: rendered once all is sent

    def reply(self, routing: list[bytes], payload: bytes) -> None:
        self.replies.append((routing, payload))
        self.reply_bytes += len(payload)
        self.journal.record(self._unreply)

    def _unreply(self) -> None:
        _, payload = self.replies.pop()
        self.reply_bytes -= len(payload)

    def send(self, child: int, msg: wire.ToChild) -> None:
        self.to_children.append((child, msg))
        self.journal.record(lambda: self._drop_last(self.to_children))

    def event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.journal.record(lambda: self._drop_last(self.events))

    def later(self, fn: Callable[[], None]) -> None:
        """Run fn after the commit (before replies and events are sent): answering a
        wait, removing a deleted job's log segments, applying a setting."""
        self.after_commit.append(fn)
        self.journal.record(lambda: self._drop_last(self.after_commit))

    def log(self, fn: Callable[[], None]) -> None:
        """Write a log line after the commit, once everything else is sent (a line costs
        tens of microseconds: no job start or reply waits for it)."""
        self.logs.append(fn)
        self.journal.record(lambda: self._drop_last(self.logs))

    @staticmethod
    def _drop_last(items: list[Any]) -> None:
        items.pop()

    def flush(self, channels: Channels) -> None:
        """Send everything (the transaction has committed): the children's assignments
        first (a job starts as early as it can), then callbacks, which may add replies of
        their own (a job.wait answered), replies, events, and last the log lines."""
        to_children, self.to_children = self.to_children, []
        for child, msg in to_children:
            channels.send_to_child(child, msg)
        callbacks, self.after_commit = self.after_commit, []
        for fn in callbacks:
            fn()
        replies, self.replies, self.reply_bytes = self.replies, [], 0
        for routing, payload in replies:
            channels.send_reply(routing, payload)
        events, self.events = self.events, []
        for event in events:
            channels.publish(event)
        logs, self.logs = self.logs, []
        for fn in logs:
            fn()

    def discard(self) -> None:
        """Drop everything (a failed turn: nothing of it happened)."""
        self.replies, self.reply_bytes = [], 0
        self.to_children, self.events, self.after_commit, self.logs = [], [], [], []
