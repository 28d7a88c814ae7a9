"""Undo for what the daemon holds in memory, kept in step with the database's
transactions.

Whatever a request or a loop turn changes in memory (the runnable and timer
windows, jobs in flight, waits and their deadlines, the pool's target size, what
the turn will send) is changed through code that records here how to undo it.
When the request's SAVEPOINT or the turn's transaction rolls back, `rollback_to`
undoes those changes in reverse order, so memory is again exactly what the last
commit left; at commit the record is dropped. Outside a transaction nothing is
recorded (there is nothing to roll back to).
"""

from __future__ import annotations

from collections.abc import Callable


class Journal:
    __slots__ = ("_undo", "open")

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []
        self.open = False

    def begin(self) -> None:
        self._undo.clear()
        self.open = True

    def record(self, undo: Callable[[], None]) -> None:
        if self.open:
            self._undo.append(undo)

    def mark(self) -> int:
        return len(self._undo)

    def rollback_to(self, mark: int = 0) -> None:
        """Undo what was recorded since `mark` (the transaction stays open)."""
        while len(self._undo) > mark:
            self._undo.pop()()

    def abort(self) -> None:
        """The transaction rolled back: undo all of it."""
        self.rollback_to(0)
        self.open = False

    def commit(self) -> None:
        self._undo.clear()
        self.open = False

    def __len__(self) -> int:
        return len(self._undo)
