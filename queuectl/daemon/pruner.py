"""Pruning finished jobs: the background timer and `job.prune` (the rules are
queuectl/retention.py's; the SQL store/prune.py's).

The loop calls `step` in a transaction of its own, when the pruner is due and the
loop has nothing else to do: one step removes at most BATCH jobs, CHUNK at a
time, and stops early as soon as a request or a report is waiting. A loop that
is never idle puts a step off for MAX_DEFER at most, and then runs it whole,
FORCED_BATCHES batches (about 10 ms), so pruning keeps up with a daemon busy all
the time (a soak of a million jobs showed one that could not at 250 jobs a
quarter of a second). It comes back after FAST_REARM while there is more to remove,
else after SLOW_REARM. A `job.prune` request is worked off the same way, ahead
of the settings' pass, and answered when done, so even a million jobs never hold
the loop for longer than one chunk.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from queuectl import retention as R
from queuectl.daemon.events import Events
from queuectl.daemon.journal import Journal
from queuectl.daemon.output import TurnOutput
from queuectl.daemon.rpc import Send
from queuectl.daemon.store.interface import Storage

log = structlog.get_logger("queuectl")

Collect = Callable[[set[str]], tuple[int, int]]  # segments -> (removed, bytes freed)


@dataclass(slots=True)
class Request:
    """A `job.prune` being worked off."""

    rules: R.Rules
    send: Send
    jobs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(R.FINAL, 0))
    segments: int = 0
    freed: int = 0


class Pruner:
    def __init__(self, store: Storage, journal: Journal, out: TurnOutput, events: Events,
                 config: Mapping[str, Any], collect: Collect, storage: Callable[[], dict[str, int]],
                 mono: float):  # fmt: skip
        self.store = store
        self.journal = journal
        self.out = out
        self.events = events
        self.config = config
        self.collect = collect
        self.storage = storage  # db, wal and logs bytes (status)
        self.next_at = mono + R.FAST_REARM  # monotonic
        # Since when a due step has been put off, or stopped by a waiting request, without
        # a whole step in between (None: not behind); past MAX_DEFER the next one is forced.
        self.behind_since: float | None = None
        self.forced = False  # the step due now runs whole, and bigger
        self.requests: deque[Request] = deque()
        self.readers: dict[int, float] = {}  # job seq -> when its output was last read (mono)
        self.totals: dict[str, int] = {"jobs": 0, "segments": 0, "bytes": 0}

    # --- when ------------------------------------------------------------------------------

    def due(self, mono: float, idle: bool) -> bool:
        """Whether to run a step now: due, and the loop idle (or busy for too long)."""
        if mono < self.next_at:
            return False
        self.forced = self.behind_since is not None and mono - self.behind_since >= R.MAX_DEFER
        if idle or self.forced:
            return True
        if self.behind_since is None:
            self.behind_since = mono
        return False

    def rearm(self) -> None:
        """A retention setting changed: look again at once."""
        self.next_at = 0.0

    def failed(self, mono: float) -> None:
        self.next_at = mono + R.SLOW_REARM

    def note_read(self, seq: int, mono: float) -> None:
        """A client read this job's output (`logs`, `logs --follow`): keep it a while."""
        self.readers[seq] = mono

    # --- a step ------------------------------------------------------------------------------

    def step(self, now: float, mono: float, busy: Callable[[], bool]) -> None:
        """Remove one batch (in the caller's transaction); after the commit its segments
        go, and a request that is done is answered."""
        request = self.requests[0] if self.requests else None
        rules = request.rules if request else R.from_config(self.config)
        self.readers = {s: t for s, t in self.readers.items() if mono - t < R.READ_GRACE}
        limit = R.BATCH * (R.FORCED_BATCHES if self.forced else 1)
        chosen, more = self._choose(rules, now, set(self.readers), limit)
        removed: dict[str, int] = {}
        segments: set[str] = set()
        for i in range(0, len(chosen), R.CHUNK):
            if not self.forced and busy():  # (before the first chunk too: choosing took ms)
                more = True
                self.behind_since = mono if self.behind_since is None else self.behind_since
                break
            jobs, segs = self.store.prune_jobs([c.seq for c in chosen[i : i + R.CHUNK]])
            segments |= segs
            for state, n in jobs.items():
                removed[state] = removed.get(state, 0) + n
        else:
            self.behind_since = None  # a whole step
        if removed:
            self.events.emit("jobs.pruned", jobs=removed)
            self.out.log(lambda: log.info("jobs.pruned", jobs=removed, by="request" if request else "retention"))
        self.out.later(lambda: self._committed(request, removed, segments, more))
        self.next_at = mono + (R.FAST_REARM if more or len(self.requests) > 1 else R.idle_rearm(rules))

    def _choose(self, rules: R.Rules, now: float, protected: set[int],
                limit: int) -> tuple[list[R.Candidate], bool]:  # fmt: skip
        cut = R.cutoffs(rules, now)
        counts = self.store.counts if rules.queue is None else self.store.queue_counts.get(rules.queue, {})
        excess = R.over_cap(rules, sum(counts.get(s, 0) for s in R.FINAL))
        if not cut and not excess:
            return [], False
        oldest = {
            state: self.store.prune_candidates(state, None if excess else cut[state], limit + len(protected),
                                               rules.queue)
            for state in R.FINAL if state in cut or excess
        }  # fmt: skip
        return R.choose(oldest, cut, excess, limit, protected)

    def _committed(self, request: Request | None, removed: dict[str, int], segments: set[str],
                   more: bool) -> None:  # fmt: skip
        n, freed = self.collect(segments) if segments else (0, 0)
        self.totals["jobs"] += sum(removed.values())
        self.totals["segments"] += n
        self.totals["bytes"] += freed
        if request is None:
            return
        for state, k in removed.items():
            request.jobs[state] += k
        request.segments += n
        request.freed += freed
        if not more:
            self.requests.popleft()
            request.send(self.result(request))
            if self.requests:
                self.next_at = 0.0

    # --- job.prune ---------------------------------------------------------------------------

    def request(self, rules: R.Rules, send: Send) -> None:
        """Work this request off ahead of the background pass; answered when done."""
        self.requests.append(Request(rules, send))
        self.journal.record(lambda: self._drop_last())
        self.next_at = 0.0

    def _drop_last(self) -> None:
        self.requests.pop()

    def preview(self, rules: R.Rules, now: float) -> dict[str, Any]:
        """What a request would remove (counting over the index: a dry run reads, removes
        nothing)."""
        cut = R.cutoffs(rules, now)
        due = {s: self.store.prune_count(s, t, rules.queue) for s, t in cut.items()}
        counts = self.store.counts if rules.queue is None else self.store.queue_counts.get(rules.queue, {})
        jobs, by_cap = R.dry_run(due, sum(counts.get(s, 0) for s in R.FINAL), rules)
        return {"dry_run": True, "jobs": jobs, "over_cap": by_cap, "total": sum(jobs.values()) + by_cap,
                "segments_deleted": 0, "bytes_reclaimed": 0, "storage": self.storage()}  # fmt: skip

    def result(self, request: Request) -> dict[str, Any]:
        return {"dry_run": False, "jobs": dict(request.jobs), "over_cap": 0, "total": sum(request.jobs.values()),
                "segments_deleted": request.segments, "bytes_reclaimed": request.freed,
                "storage": self.storage()}  # fmt: skip

    def abandon_all(self) -> None:
        """The daemon stops: each request still open is answered with what it removed."""
        while self.requests:
            request = self.requests.popleft()
            request.send(self.result(request))
