"""Dispatch: workers get the best runnable jobs, queue by queue, and the rules users rely
on hold.

Inside a queue: a free worker always takes the queue's highest-priority runnable job
(then enqueue order), and no job waits behind a running one while a worker is idle.
Between queues: the fair order (queues.FairShare, stride scheduling by weight) says
which queue's head goes next. A queue's head starts only if the queue has `slots` of
its concurrency free (counting every job of it a child holds: running, assigned, or
waiting behind another) and the pool has `slots` free (a job of N slots runs on one
child and keeps N - 1 others idle while it runs); a queue never skips its head.

- Every idle child gets the next job by the fair order, while the pool has room.
- A wide head that is first in the fair order but does not fit in the pool yet holds
  the pool: nothing else starts (and nothing is handed out ahead) until enough of it
  is free. So a wide job is never starved by a stream of narrow ones.
- Only while every pool slot is taken, each busy child is handed its next job ahead
  (no wider than the job it runs, so the pool's count holds when it starts, and of no
  higher priority: a more urgent job goes to the first worker that is free), to start
  the moment its running one ends without a round trip to the daemon.
- A queue whose rate limit (or config rate_limit) has no room in its window (rates.py:
  starts the workers reported, and jobs handed out not started yet) starts nothing but
  hook jobs until the window frees; the loop wakes then (rate_wake), nothing polls.
- Such a job is asked back (Revoke) as soon as keeping it would break a rule: a
  worker falls idle, a better job of its queue becomes runnable, its queue is paused
  or over its (lowered) concurrency, a wide job holds the pool, or a queue that had
  nothing runnable gets a job and nothing of it is held yet (so it waits behind one
  running job at most, not behind jobs handed out ahead).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from queuectl import jobs as J
from queuectl import queues as Q
from queuectl.daemon.inflight import InFlight, InFlightTable
from queuectl.daemon.lifecycle import Lifecycle
from queuectl.daemon.queueset import Held, QueueSet
from queuectl.daemon.rates import RateLimits, on_the_way
from queuectl.daemon.store.interface import ClaimLost, PoolFull, QueueFull, Runnable, SharedStorage, Storage
from queuectl.daemon.windows import Runnables
from queuectl.daemon.workers import Workers


@dataclass(slots=True)
class Capacity:
    free_pool: int  # pool slots not held by the job a ready child runs (or is about to)
    pool_max: int  # the widest job the pool can ever take now
    held: dict[str, Held]
    reserved: bool = False  # a wide job holds the pool
    newcomers: set[str] = field(default_factory=set)  # queues that just got runnable jobs
    heads: dict[str, Runnable] = field(default_factory=dict)  # eligible_heads, kept current
    # Rate limits (rates.py): jobs handed out and not started yet (hooks left out), per queue
    # and in all: each holds a place in its windows until it starts.
    rates: RateLimits | None = None
    now: float = 0.0
    on_way: dict[str, int] = field(default_factory=dict)
    pool_on_way: int = 0
    lost: int = 0  # claims another daemon won this dispatch (a shared database)


# Claims lost in one dispatch before it gives up until the next turn: the rows it keeps
# finding may be the ones other daemons are claiming right now (not committed yet).
MAX_LOST_CLAIMS = 32


def capacity(queues: QueueSet, workers: Workers, inflight: InFlightTable, rates: RateLimits | None = None,
             now: float = 0.0) -> Capacity:  # fmt: skip
    ready = workers.pool.ready()
    used = 0
    for child in ready:
        held = inflight.of_child(child.id)
        if held:
            used += held[0].job.slots
    cap = Capacity(len(ready) - used, max(len(ready), workers.target), queues.held())
    if rates is not None and (rates.queues or rates.pool is not None):
        cap.rates, cap.now = rates, now
        cap.on_way, cap.pool_on_way = on_the_way(inflight)
    return cap


def dispatch(store: Storage, runnables: Runnables, queues: QueueSet, workers: Workers,
             lifecycle: Lifecycle, now: float) -> bool:  # fmt: skip
    """Start what may start now. False if it stopped early after losing MAX_LOST_CLAIMS
    claims to other daemons (the loop comes back to it soon, after reloading the windows)."""
    # Most turns of an idle or busy daemon: nothing to start, nothing to take back. With
    # no worker ready (scaled to 0, all starting) a backlog just grows; a child's hello
    # brings the next turn.
    if not waiting_behind(lifecycle.inflight) and (not store.counts[J.PENDING] or not workers.pool.ready()):
        if lifecycle.rates is not None:
            lifecycle.rates.wake_at = None  # (nothing may start: nothing waits on a rate limit)
        return True
    cap = capacity(queues, workers, lifecycle.inflight, lifecycle.rates, now)
    saved = queues.fair.snapshot()
    lifecycle.inflight.journal.record(lambda: queues.fair.restore(saved))
    if store.counts[J.PENDING]:
        cap.heads = eligible_heads(cap, runnables, queues)
        if store.shared and cap.heads and reserve_batch(cast("SharedStorage", store), cap, runnables, workers):
            cap.heads = eligible_heads(cap, runnables, queues)  # (some heads were another daemon's)
        cap.newcomers = {q for q in cap.heads if q not in queues.fair.passes}
        queues.fair.forget_idle(cap.heads)
        assign(cap, runnables, queues, workers, lifecycle, now)
    revoke_waiting(cap, runnables, queues, workers, lifecycle)
    if lifecycle.rates is not None:
        lifecycle.rates.wake_at = rate_wake(cap, runnables, queues) if store.counts[J.PENDING] else None
    return cap.lost < MAX_LOST_CLAIMS


def reserve_batch(store: SharedStorage, cap: Capacity, runnables: Runnables, workers: Workers) -> bool:
    """Several daemons share the database: lock, in one statement, the jobs this dispatch
    may start (each eligible queue's first few, in dispatch order), skipping those another
    daemon is claiming right now; those are dropped from the windows before dispatch picks
    (the claims that follow are then of rows this turn holds). True if any was dropped."""
    room = len(workers.idle()) + len(workers.with_room_behind())
    if not room:
        return False
    wanted = [job for name in cap.heads for job in runnables.window(name).first(room)]
    got = store.reserve([job.seq for job in wanted])
    for job in wanted:
        if job.seq not in got:
            runnables.window(job.queue).drop(job.seq)
    return len(got) < len(wanted)


def rate_held(cap: Capacity, job: Runnable) -> bool:
    """A rate limit holds this job back now (a hook is never held)."""
    if cap.rates is None or job.hook is not None:
        return False
    return cap.rates.held(job.queue, cap.now, cap.on_way.get(job.queue, 0), cap.pool_on_way)


def rate_wake(cap: Capacity, runnables: Runnables, queues: QueueSet) -> float | None:
    """The soonest moment a queue whose head a rate limit holds may start it (the loop
    wakes then; None: no head is held, or only until a job on its way starts)."""
    if cap.rates is None:
        return None
    soonest: float | None = None
    for config in queues:
        if config.paused or not queues.pending(config.name):
            continue
        head = runnables.window(config.name).peek()
        if head is None or not rate_held(cap, head):
            continue
        at = cap.rates.free_at(config.name, cap.now, cap.on_way.get(config.name, 0), cap.pool_on_way)
        if at is not None and (soonest is None or at < soonest):
            soonest = at
    return soonest


def eligible_heads(cap: Capacity, runnables: Runnables, queues: QueueSet) -> dict[str, Runnable]:
    """The head of each queue that may start a job now, as far as the queue itself goes
    (not paused, its concurrency has room for the head's slots, the pool can ever take it)."""
    heads: dict[str, Runnable] = {}
    for config in queues:
        head = eligible_head(cap, runnables, queues, config)
        if head is not None:
            heads[config.name] = head
    return heads


def eligible_head(cap: Capacity, runnables: Runnables, queues: QueueSet, config: Q.QueueConfig | None,
                  ) -> Runnable | None:  # fmt: skip
    if config is None or config.paused or not queues.pending(config.name):
        return None
    head = runnables.window(config.name).peek()
    if head is None:
        return None
    held = cap.held.get(config.name)
    if head.slots > Q.free_slots(config, held.slots if held else 0) or head.slots > cap.pool_max:
        return None
    if rate_held(cap, head):
        return None
    return head


def next_job(cap: Capacity, runnables: Runnables, queues: QueueSet, fits_in: int, reserve: bool,
             behind: Runnable | None = None) -> Runnable | None:  # fmt: skip
    """The next job by the fair order that fits in `fits_in` pool slots. With `reserve`, a
    first-ranked head that does not fit yet holds the pool (cap.reserved) instead. `behind`:
    the running job it would wait behind (handed out ahead): only a job of no higher
    priority may (a more urgent one goes to the first worker that is free)."""
    heads = cap.heads
    first = queues.fair.first(heads)
    if first is not None and heads[first].slots <= fits_in and (behind is None or
                                                                heads[first].priority <= behind.priority):
        return heads[first]  # (the usual case, without ranking them all)
    for name in queues.fair.rank(heads):
        head = heads[name]
        if behind is not None and head.priority > behind.priority:
            continue  # (nor anything of its queue behind it: priority first within a queue)
        if head.slots <= fits_in:
            return head
        if reserve:
            cap.reserved = True
            return None
    return None


def holds_for_wide(cap: Capacity, runnables: Runnables, queues: QueueSet) -> bool:
    """Every pool slot is taken: a wide job first in the fair order waits for the pool to
    drain, so nothing may be handed out ahead (it would keep the pool full)."""
    first = queues.fair.first(cap.heads)
    if first is not None and cap.heads[first].slots > max(cap.free_pool, 1):
        cap.reserved = True
    return cap.reserved


def start(cap: Capacity, runnables: Runnables, queues: QueueSet, lifecycle: Lifecycle, job: Runnable,
          child: int, now: float, queued: bool) -> bool:  # fmt: skip
    """Hand `job` to `child`; False if another daemon sharing the database got it first
    (it is out of the window then, and the queue's next head is in cap.heads)."""
    popped = runnables.window(job.queue).pop()
    assert popped is job
    config = queues.get(job.queue)
    if job.seq in lifecycle.inflight:  # (pending in the database, still dying here: a reconcile)
        next_head(cap, runnables, queues, config, job.queue)
        return False
    held = cap.held.setdefault(job.queue, Held())
    slot = Q.allocate_slots(held.indices, job.slots)
    try:
        lifecycle.claim(job, child, now, queued=queued, slot=slot, limits=config)
    except QueueFull as full:  # (other daemons sharing the database hold the queue's room)
        runnables.add(job)
        if isinstance(full, PoolFull):  # (... or config rate_limit's: no queue may start)
            cap.heads.clear()
        else:
            cap.heads.pop(job.queue, None)
        return False
    except ClaimLost:
        cap.lost += 1
        next_head(cap, runnables, queues, config, job.queue)
        return False
    held.slots += job.slots
    held.indices.update(slot)
    if not queued:
        cap.free_pool -= job.slots
    queues.fair.served(job.queue, job.slots, config.weight if config else 1)
    if cap.rates is not None and job.hook is None:
        cap.on_way[job.queue] = cap.on_way.get(job.queue, 0) + 1
        cap.pool_on_way += 1
        if cap.rates.pool is not None:  # the pool's window may be full now: every queue's head
            for name, other in list(cap.heads.items()):
                if name != job.queue and rate_held(cap, other):
                    del cap.heads[name]
    next_head(cap, runnables, queues, config, job.queue)
    return True


def next_head(cap: Capacity, runnables: Runnables, queues: QueueSet, config: Q.QueueConfig | None,
              queue: str) -> None:  # fmt: skip
    head = eligible_head(cap, runnables, queues, config)  # the queue's next, if it may start
    if head is None:
        cap.heads.pop(queue, None)
    else:
        cap.heads[queue] = head


def assign(cap: Capacity, runnables: Runnables, queues: QueueSet, workers: Workers, lifecycle: Lifecycle,
           now: float) -> None:  # fmt: skip
    for child in workers.idle():
        while cap.free_pool > 0:
            job = next_job(cap, runnables, queues, cap.free_pool, reserve=True)
            if job is None:
                return  # nothing fits, or a wide job holds the pool: nothing is handed out ahead either
            if start(cap, runnables, queues, lifecycle, job, child.id, now, queued=False):
                break  # (else another daemon took it: the next job, for the same child)
            if cap.lost >= MAX_LOST_CLAIMS:
                return
        if cap.free_pool <= 0:
            break
    if cap.free_pool > 0 or holds_for_wide(cap, runnables, queues):
        return  # a child is idle (nothing more is runnable), or a wide job waits for the pool
    # Every pool slot is taken, and more may be runnable: the best job goes behind the job
    # that has run longest (likely the first to end).
    behind = [(lifecycle.inflight.of_child(c.id)[0], c.id) for c in workers.with_room_behind()]
    behind.sort(key=lambda fc: fc[0].started_at if fc[0].started_at is not None else float("inf"))
    for running, child_id in behind:
        while (job := next_job(cap, runnables, queues, running.job.slots, reserve=False,
                               behind=running.job)) is not None:  # fmt: skip
            if start(cap, runnables, queues, lifecycle, job, child_id, now, queued=True):
                break
            if cap.lost >= MAX_LOST_CLAIMS:
                return


def waiting_behind(inflight: InFlightTable) -> list[InFlight]:
    """Jobs handed out ahead that have not started and are not being asked back yet."""
    return [f for f in inflight if f.queued and not f.started and not f.revoking]


def revoke_waiting(cap: Capacity, runnables: Runnables, queues: QueueSet, workers: Workers,
                   lifecycle: Lifecycle) -> None:  # fmt: skip
    waiting = waiting_behind(lifecycle.inflight)
    if not waiting:
        return
    someone_idle = cap.free_pool > 0 and bool(workers.idle())
    starving = sum(1 for q in cap.newcomers if not (cap.held.get(q) or Held()).slots)
    for flight in waiting:
        queue = flight.job.queue
        config = queues.get(queue)
        held = cap.held.get(queue)
        best = runnables.window(queue).peek()
        over = config is None or config.paused or (held is not None and held.slots > config.concurrency)
        if someone_idle or cap.reserved or over or (best is not None and best.key < flight.job.key):
            lifecycle.revoke(flight)
        elif starving and queue not in cap.newcomers:
            starving -= 1
            lifecycle.revoke(flight)
