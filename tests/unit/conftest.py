"""Unit tests of the daemon's core: real objects (a real SQLite file), no daemon
process, no sockets, and a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from queuectl.daemon import wire
from queuectl.daemon.store import Store


class FakeClock:
    """Wall, monotonic and boot time that move only when the test says."""

    def __init__(self, wall: float = 1_800_000_000.0):
        self._wall = wall
        self._mono = 1000.0

    def wall(self) -> float:
        return self._wall

    def mono(self) -> float:
        return self._mono

    def boot(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._wall += seconds
        self._mono += seconds

    def step_wall(self, seconds: float) -> None:
        """The wall clock jumps; the others run on."""
        self._wall += seconds


class Sent:
    """Where a turn's output goes in these tests: it is kept to look at (output.Channels)."""

    def __init__(self) -> None:
        self.replies: list[tuple[list[bytes], bytes]] = []
        self.to_children: list[tuple[int, wire.ToChild]] = []
        self.events: list[dict[str, Any]] = []

    def send_reply(self, routing: list[bytes], payload: bytes) -> None:
        self.replies.append((routing, payload))

    def send_to_child(self, child: int, msg: wire.ToChild) -> None:
        self.to_children.append((child, msg))

    def publish(self, event: dict[str, Any]) -> None:
        self.events.append(event)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "queue.db")
    yield s
    s.close()
