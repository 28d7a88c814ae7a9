"""Lifecycle events for subscribers (the dashboard, `queuectl events`).

Built only while someone subscribes (the XPUB socket reports subscriptions), and
sent with the turn's other output after its commit, so an event never announces a
change that was rolled back. `seq` is given when it is sent: consecutive numbers,
so a gap tells a subscriber it missed some.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from queuectl import jobs as J
from queuectl.daemon.clock import Clock
from queuectl.daemon.output import TurnOutput


class Sharing(Protocol):
    """Where events go for the other daemons sharing the database (the store's NOTIFY at
    commit, store/postgres/wake.py): `kind` "e" an event, "r" a job whose waits end, "c" a
    job to cancel (whichever daemon runs it)."""

    def share(self, kind: str, item: Any) -> None: ...
    def unshare(self, kind: str) -> None: ...


class Events:
    def __init__(self, out: TurnOutput, clock: Clock):
        self.out = out
        self.clock = clock
        self.subscriptions = 0  # live subscriptions on the events socket
        self.seq = 0
        self.sharing: Sharing | None = None  # other daemons share the database: they get every event

    @property
    def wanted(self) -> bool:
        return self.subscriptions > 0

    def emit(self, event: str, **fields: Any) -> None:
        if not self.subscriptions and self.sharing is None:
            return
        fields["event"] = event
        fields["time"] = J.format_time(self.clock.wall())
        if self.sharing is not None:
            self._share("e", dict(fields))
        if self.subscriptions:
            self.out.event(fields)

    def released(self, seq: int) -> None:
        """A job settled or was deleted: waits on it through other daemons end too."""
        if self.sharing is not None:
            self._share("r", seq)

    def ask_cancel(self, seq: int) -> None:
        """Another daemon runs this job: ask it to cancel it (after this turn commits)."""
        if self.sharing is not None:
            self._share("c", seq)

    def _share(self, kind: str, item: Any) -> None:
        sharing = self.sharing
        assert sharing is not None
        sharing.share(kind, item)
        self.out.journal.record(_undo(sharing, kind))

    def subscription_message(self, msg: bytes) -> None:
        """XPUB_VERBOSER: b"\\x01topic" for every subscribe, b"\\x00topic" to leave."""
        if msg[:1] == b"\x01":
            self.subscriptions += 1
        elif msg[:1] == b"\x00":
            self.subscriptions = max(0, self.subscriptions - 1)

    def number(self, event: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        event["seq"] = self.seq
        return event


def _undo(sharing: Sharing, kind: str) -> Callable[[], None]:
    return lambda: sharing.unshare(kind)
