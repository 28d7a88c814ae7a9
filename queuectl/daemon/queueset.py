"""The named queues as the daemon holds them: their settings (saved in the store, kept in
memory, journaled), what their jobs hold now (slots, slot indices), pausing and
resuming, and their part of `status`. Dispatch (dispatch.py) reads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from queuectl import jobs as J
from queuectl import queues as Q
from queuectl.daemon import wire
from queuectl.daemon.events import Events
from queuectl.daemon.inflight import InFlight, InFlightTable
from queuectl.daemon.journal import Journal
from queuectl.daemon.output import TurnOutput
from queuectl.daemon.store.interface import Storage
from queuectl.daemon.windows import Runnables

# States a queue cannot be removed in: its jobs may still run (dead ones, through `dlq retry`).
KEEPS_QUEUE = (J.SCHEDULED, J.PENDING, J.ASSIGNED, J.PROCESSING, J.FAILED, J.DEAD)


@dataclass(slots=True)
class Held:
    """What the jobs a queue's children hold (assigned or running) take of it."""

    slots: int = 0
    indices: set[int] = field(default_factory=set)


class QueueSet:
    def __init__(self, store: Storage, journal: Journal, events: Events, out: TurnOutput,
                 inflight: InFlightTable, runnables: Runnables):  # fmt: skip
        self.store = store
        self.journal = journal
        self.events = events
        self.out = out
        self.inflight = inflight
        self.runnables = runnables
        self.configs: dict[str, Q.QueueConfig] = {}
        self.fair = Q.FairShare()

    def load(self) -> None:
        self.configs = {q.name: q for q in self.store.queues_load()}
        if Q.DEFAULT not in self.configs:  # (the migration made it; a hand-edited database may not have)
            self.configs[Q.DEFAULT] = Q.QueueConfig(Q.DEFAULT)

    def get(self, name: str) -> Q.QueueConfig | None:
        return self.configs.get(name)

    def __iter__(self) -> Any:
        return iter(list(self.configs.values()))

    # --- what jobs hold -----------------------------------------------------------------------

    def held(self) -> dict[str, Held]:
        """Per queue: the slots and slot indices of its jobs that children hold (assigned,
        waiting behind a running one, or running). A few dozen flights at most."""
        found: dict[str, Held] = {}
        for flight in self.inflight:
            h = found.setdefault(flight.job.queue, Held())
            h.slots += flight.job.slots
            h.indices.update(flight.slot)
        return found

    def pending(self, name: str) -> int:
        counts = self.store.queue_counts.get(name)
        return counts[J.PENDING] if counts else 0

    # --- changes (saved in the turn's transaction; memory journaled) -----------------------

    def save(self, config: Q.QueueConfig) -> None:
        old = self.configs.get(config.name)
        self.store.queue_save(config)
        self.configs[config.name] = config
        self.journal.record(lambda: self._put_back(config.name, old))

    def _put_back(self, name: str, old: Q.QueueConfig | None) -> None:
        if old is None:
            self.configs.pop(name, None)
        else:
            self.configs[name] = old

    def remove(self, name: str) -> None:
        old = self.configs.pop(name)
        self.store.queue_delete(name)
        self.journal.record(lambda: self._put_back(name, old))
        self.runnables.forget(name)
        self.events.emit("queue.removed", queue=name)

    def in_use(self, name: str) -> dict[str, int]:
        """The jobs that keep a queue from being removed, per state (none: {})."""
        counts = self.store.queue_counts.get(name) or {}
        return {s: counts[s] for s in KEEPS_QUEUE if counts.get(s)}

    def set_paused(self, name: str, paused: bool, kill: bool = False) -> bool:
        """Pause or resume; False when it already was (a no-op). Pausing with `kill`
        stops its running jobs too (they go back to pending, the attempt not counted)."""
        config = self.configs[name]
        changed = config.paused != paused
        if changed:
            self.save(replace(config, paused=paused))
            self.events.emit("queue.paused" if paused else "queue.resumed", queue=name, kill=kill)
        if paused and kill:
            for flight in self.flights_of(name):
                self.stop(flight)
        return changed

    def flights_of(self, name: str) -> list[InFlight]:
        return [f for f in self.inflight if f.job.queue == name]

    def stop(self, flight: InFlight) -> None:
        """Kill a running job of a paused queue (or take back one not started yet): it is
        pending again when its child reports (Finished with aborted="pause", or Returned)."""
        if flight.abort is not None:
            return
        self.inflight.set_abort(flight, "pause")
        self.out.send(flight.child, wire.Abort(flight.job.seq, "pause"))

    # --- views -------------------------------------------------------------------------------

    def view(self, config: Q.QueueConfig, now: float, held: dict[str, Held] | None = None) -> dict[str, Any]:
        held = self.held() if held is None else held
        counts = self.store.queue_counts.get(config.name) or dict.fromkeys(J.STATES, 0)
        oldest = self.store.oldest_pending(config.name) if counts[J.PENDING] else None
        h = held.get(config.name) or Held()
        return {
            "name": config.name,
            "concurrency": config.concurrency,
            "weight": config.weight,
            "paused": config.paused,
            "pending": counts[J.PENDING],
            "running": counts[J.PROCESSING],
            "assigned": counts[J.ASSIGNED],
            "slots_in_use": h.slots,
            "slot_indices": sorted(h.indices),
            "oldest_pending_age_s": None if oldest is None else round(max(now - oldest, 0.0), 3),
            "counts": dict(counts),
            "created_at": J.format_time(config.created_at),
        }

    def views(self, now: float, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        held = self.held()
        wanted = set(names) if names is not None else None
        return [self.view(c, now, held) for c in sorted(self.configs.values(), key=lambda c: c.name)
                if wanted is None or c.name in wanted]  # fmt: skip
