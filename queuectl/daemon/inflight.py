"""Jobs handed to a worker child and not yet settled: what the daemon knows of each.

A child holds at most two: the one it runs (or is about to start) and, while every
worker is busy, one waiting behind it (`queued`; see dispatch.py). Changes are
journaled.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from queuectl.daemon.journal import Journal
from queuectl.daemon.store.interface import Runnable


@dataclass(slots=True)
class InFlight:
    job: Runnable
    attempt: int
    child: int
    started: bool = False
    started_at: float | None = None
    pgid: int | None = None  # the job's process group (its shell's pid), once started
    abort: str | None = None  # "cancel" once a cancel was asked for
    queued: bool = False  # sent to a busy child: it starts when the running job ends
    revoking: bool = False  # asked back (Revoke), not yet returned or started
    slot: tuple[int, ...] = (0,)  # its slot indices within its queue (QUEUECTL_SLOT)


class InFlightTable:
    def __init__(self, journal: Journal):
        self.journal = journal
        self._by_seq: dict[int, InFlight] = {}
        self._by_child: dict[int, list[int]] = {}  # in the order the child will run them

    def __len__(self) -> int:
        return len(self._by_seq)

    def __contains__(self, seq: int) -> bool:
        return seq in self._by_seq

    def __iter__(self) -> Iterator[InFlight]:
        return iter(list(self._by_seq.values()))

    def get(self, seq: int) -> InFlight | None:
        return self._by_seq.get(seq)

    def of_child(self, child: int) -> list[InFlight]:
        """What the child holds, in the order it runs them."""
        return [self._by_seq[seq] for seq in self._by_child.get(child, ())]

    def add(self, flight: InFlight) -> None:
        self._restore(flight)
        self.journal.record(lambda: self._remove(flight))

    def remove(self, seq: int) -> InFlight | None:
        flight = self._by_seq.get(seq)
        if flight is not None:
            self._remove(flight)
            self.journal.record(lambda: self._restore(flight))
        return flight

    def _remove(self, flight: InFlight) -> None:
        self._by_seq.pop(flight.job.seq, None)
        held = self._by_child.get(flight.child)
        if held and flight.job.seq in held:
            held.remove(flight.job.seq)
            if not held:
                del self._by_child[flight.child]

    def _restore(self, flight: InFlight) -> None:
        self._by_seq[flight.job.seq] = flight
        held = self._by_child.setdefault(flight.child, [])
        # (a queued job runs after the one before it; one restored by an undo goes back
        # where it was: queued ones last)
        if flight.queued:
            held.append(flight.job.seq)
        else:
            held.insert(0, flight.job.seq)

    def mark_started(self, flight: InFlight, at: float, pgid: int | None) -> None:
        old = (flight.started, flight.started_at, flight.pgid)
        flight.started, flight.started_at, flight.pgid = True, at, pgid

        def undo() -> None:
            flight.started, flight.started_at, flight.pgid = old

        self.journal.record(undo)

    def set_revoking(self, flight: InFlight) -> None:
        flight.revoking = True
        self.journal.record(lambda: setattr(flight, "revoking", False))

    def set_abort(self, flight: InFlight, reason: str) -> None:
        old = flight.abort
        flight.abort = reason
        self.journal.record(lambda: setattr(flight, "abort", old))
