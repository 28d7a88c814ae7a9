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
from queuectl.daemon.rates import RateLimits, on_the_way
from queuectl.daemon.store.interface import Storage
from queuectl.daemon.windows import Runnables
from queuectl.ratelimit import Rate, rate_text

# States a queue cannot be removed in: its jobs may still run (dead ones, through `dlq retry`).
KEEPS_QUEUE = (J.SCHEDULED, J.PENDING, J.ASSIGNED, J.PROCESSING, J.FAILED, J.DEAD)


@dataclass(slots=True)
class Held:
    """What the jobs a queue's children hold (assigned or running) take of it."""

    slots: int = 0
    indices: set[int] = field(default_factory=set)


class QueueSet:
    def __init__(self, store: Storage, journal: Journal, events: Events, out: TurnOutput,
                 inflight: InFlightTable, runnables: Runnables, rates: RateLimits | None = None):  # fmt: skip
        self.store = store
        self.journal = journal
        self.events = events
        self.out = out
        self.inflight = inflight
        self.runnables = runnables
        self.rates = rates if rates is not None else RateLimits(journal)
        self.configs: dict[str, Q.QueueConfig] = {}
        self.fair = Q.FairShare()

    def load(self) -> None:
        self.configs = {q.name: q for q in self.store.queues_load()}
        if Q.DEFAULT not in self.configs:  # (the migration made it; a hand-edited database may not have)
            self.configs[Q.DEFAULT] = Q.QueueConfig(Q.DEFAULT)

    def reload(self) -> None:
        """Another daemon sharing the database changed the queues: the table's rows now
        (rate limits stay as this daemon last set them: they hold per daemon)."""
        before = set(self.configs)
        self.load()
        for name in before - set(self.configs):
            self.runnables.forget(name)

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

    def save(self, config: Q.QueueConfig, now: float = 0.0) -> None:
        old = self.configs.get(config.name)
        self.store.queue_save(config)
        self.configs[config.name] = config
        self.journal.record(lambda: self._put_back(config.name, old))
        if (old.rate if old else None) != config.rate:
            self.rates.set_queue(config.name, config.rate, self.store, now)

    def _put_back(self, name: str, old: Q.QueueConfig | None) -> None:
        if old is None:
            self.configs.pop(name, None)
        else:
            self.configs[name] = old

    def remove(self, name: str) -> None:
        old = self.configs.pop(name)
        self.store.queue_delete(name)
        self.journal.record(lambda: self._put_back(name, old))
        self.rates.set_queue(name, None, self.store, 0.0)
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

    def rate_view(self, queue: str | None, rate: Rate | None, pending: int, now: float,
                  on_way: tuple[dict[str, int], int]) -> dict[str, Any]:  # fmt: skip
        """A limit's part of a view: the rate, how many pending jobs it holds back now (all
        of them, while its window is full), and when the next may start."""
        per_queue, total = on_way
        if pending <= 0:
            held = False
        elif queue is None:
            held = self.rates.pool is not None and self.rates.pool.room(now, total) <= 0
        else:
            held = self.rates.held(queue, now, per_queue.get(queue, 0), total)
        free = self.rates.free_at(queue, now, per_queue.get(queue or "", 0), total) if held else None
        return {"rate": rate_text(rate), "rate_limited": pending if held else 0,
                "rate_free_at": J.format_time(free)}

    def view(self, config: Q.QueueConfig, now: float, held: dict[str, Held] | None = None,
             on_way: tuple[dict[str, int], int] | None = None) -> dict[str, Any]:  # fmt: skip
        held = self.held() if held is None else held
        on_way = self.on_the_way() if on_way is None else on_way
        counts = self.store.queue_counts.get(config.name) or dict.fromkeys(J.STATES, 0)
        try:
            oldest = self.store.oldest_pending(config.name) if counts[J.PENDING] else None
        except self.store.errors:  # (status from memory while the database is away)
            oldest = None
        h = held.get(config.name) or Held()
        pending = 0 if config.paused else counts[J.PENDING]
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
            **self.rate_view(config.name, config.rate, pending, now, on_way),
        }

    def on_the_way(self) -> tuple[dict[str, int], int]:
        return on_the_way(self.inflight)

    def pool_rate_view(self, now: float) -> dict[str, Any]:
        """daemon.status's `rate_limit`: config rate_limit, over every queue."""
        pending = sum(self.pending(c.name) for c in self.configs.values() if not c.paused)
        return self.rate_view(None, self.rates.pool.rate if self.rates.pool else None, pending, now,
                              self.on_the_way())  # fmt: skip

    def views(self, now: float, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        held = self.held()
        on_way = self.on_the_way()
        wanted = set(names) if names is not None else None
        return [self.view(c, now, held, on_way) for c in sorted(self.configs.values(), key=lambda c: c.name)
                if wanted is None or c.name in wanted]  # fmt: skip
