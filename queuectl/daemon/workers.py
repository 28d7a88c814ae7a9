"""The pool of worker children as the loop sees it: its target size, spawning (with a
back-off for a child that keeps dying before it says hello), retiring, silence,
and what happens when a child exits.

Spawning is a side effect no rollback can undo, so it happens outside the loop's
transactions (`top_up`, after each commit); inside one, only the target and who
is retiring change (journaled) and the Exit messages wait for the commit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from queuectl import jobs as J
from queuectl.daemon import wire
from queuectl.daemon.events import Events
from queuectl.daemon.inflight import InFlightTable
from queuectl.daemon.journal import Journal
from queuectl.daemon.lifecycle import Lifecycle
from queuectl.daemon.output import TurnOutput
from queuectl.daemon.pool import ChildHandle, Pool

log = structlog.get_logger("queuectl")

RESPAWN_BACKOFF_MAX = 60.0


class Workers:
    def __init__(self, pool: Pool, journal: Journal, out: TurnOutput, events: Events,
                 inflight: InFlightTable, lifecycle: Lifecycle, config: Mapping[str, Any],
                 watch: Callable[[ChildHandle], None], unwatch: Callable[[ChildHandle], None]):  # fmt: skip
        self.pool = pool
        self.journal = journal
        self.out = out
        self.events = events
        self.inflight = inflight
        self.lifecycle = lifecycle
        self.config = config
        self.watch, self.unwatch = watch, unwatch  # the loop polls each child's pidfd
        self.target = 0
        self.respawn_at = 0.0  # monotonic: no child spawns before (a crash-looping child)
        self.spawn_failures = 0
        self.listening_since = 0.0  # monotonic: since when the loop has been awake to hear

    # --- size -----------------------------------------------------------------------------

    def scale(self, n: int) -> None:
        """The pool's size from now on; children over it retire (idle ones first; a busy
        one finishes its job). New children come in `top_up`, after the commit."""
        old = self.target
        self.target = n
        self.journal.record(lambda: setattr(self, "target", old))
        active = self.pool.active()
        if len(active) > n:
            victims = sorted(active, key=lambda c: len(self.inflight.of_child(c.id)))
            for child in victims[: len(active) - n]:
                self.retire(child)
        self.events.emit("workers.changed", workers=n)

    def retire(self, child: ChildHandle) -> None:
        if child.stopping:
            return
        child.stopping = True
        self.journal.record(lambda: setattr(child, "stopping", False))
        self.out.send(child.id, wire.Exit())

    def top_up(self, mono: float) -> None:
        """Spawn children up to the target (outside any transaction)."""
        missing = self.target - len(self.pool.active())
        if missing <= 0 or mono < self.respawn_at:
            return
        for _ in range(missing):
            child = self.pool.spawn()
            self.watch(child)
            log.info("child.spawned", child=child.id, pid=child.pid)

    def wants_respawn_at(self, mono: float) -> float | None:
        """When the loop must wake to spawn (a back-off is running), if it must."""
        if self.respawn_at > mono and len(self.pool.active()) < self.target:
            return self.respawn_at
        return None

    def idle(self) -> list[ChildHandle]:
        """Children that may be sent a job now: ready, staying, holding none."""
        return [c for c in self.pool.ready() if not self.inflight.of_child(c.id)]

    def with_room_behind(self) -> list[ChildHandle]:
        """Busy children with no job waiting behind the one they run; none while a child
        is still starting (it is about to be free: what is runnable waits for it)."""
        ready = self.pool.ready()
        if len(ready) < len(self.pool.active()):
            return []
        return [c for c in ready if len(self.inflight.of_child(c.id)) == 1]

    # --- what children say -----------------------------------------------------------------

    def hello(self, child: ChildHandle, msg: wire.Hello, shutting_down: bool) -> None:
        child.ready = True
        child.containment = msg.containment
        self.spawn_failures = 0
        log.info("child.ready", child=child.id, pid=child.pid, containment=msg.containment)
        if shutting_down or child.stopping:
            self.out.send(child.id, wire.Exit())

    def bye(self, child: ChildHandle) -> None:
        child.said_bye = True

    def exited(self, child: ChildHandle, now: float, shutting_down: bool) -> None:
        """Its pidfd says it is gone: kill what its job left, settle what it held."""
        t0 = time.monotonic()
        code = self.pool.reap(child)  # (kills its job's leftovers first: Pool.reap)
        self.unwatch(child)
        if child.left_processes:
            log.warning("child.job_processes_killed", child=child.id,
                        took_ms=round((time.monotonic() - t0) * 1000, 3))  # fmt: skip
        held = self.inflight.of_child(child.id)
        for i, flight in enumerate(held):
            # What was found running belongs to the first job it held; one waiting behind
            # it had (most likely) not started.
            self.lifecycle.lost(flight, now, child.left_processes and i == 0, shutting_down)
        if child.stopping or child.said_bye or shutting_down:
            log.info("child.exited", child=child.id, pid=child.pid, status=code)
        else:
            log.error("child.lost", child=child.id, pid=child.pid, status=code, jobs=len(held))
            if not child.ready:
                # It died before saying hello (broken install, disk full...): back off.
                self.spawn_failures += 1
                self.respawn_at = time.monotonic() + min(2.0**self.spawn_failures, RESPAWN_BACKOFF_MAX)
        self.events.emit("workers.changed", workers=len(self.pool.active()))

    def exited_while_failing(self, children: list[ChildHandle]) -> None:
        """The turn that was to take these exits failed before it could (the database is
        away): forget the children now, or their pidfds would wake every poll until it is
        back; what they held is settled once a turn commits again (settle_orphans)."""
        for child in children:
            if child.id in self.pool.children:
                code = self.pool.reap(child)
                self.unwatch(child)
                log.error("child.lost", child=child.id, pid=child.pid, status=code,
                          jobs=len(self.inflight.of_child(child.id)))  # fmt: skip

    def settle_orphans(self, now: float, shutting_down: bool) -> None:
        """After a failed commit was undone: jobs still held by children that died in
        it are settled now."""
        orphaned = {f.child for f in self.inflight if f.child not in self.pool.children}
        for child_id in orphaned:
            dead = self.pool.departed.get(child_id)
            for i, flight in enumerate(self.inflight.of_child(child_id)):
                ran = dead is not None and dead.left_processes and i == 0
                self.lifecycle.lost(flight, now, ran, shutting_down)

    # --- health -----------------------------------------------------------------------------

    def kill_silent(self, mono: float) -> None:
        """A child that has said nothing for worker_silence_limit seconds (while we were
        awake to hear it) is wedged: kill it; its exit settles its job."""
        limit = self.config["worker_silence_limit"]
        for child in list(self.pool.children.values()):
            silent = mono - max(child.last_seen, self.listening_since)
            if silent > limit:
                log.error("child.unresponsive", child=child.id, pid=child.pid, silent_s=round(silent))
                self.pool.kill(child)

    def kill_all(self) -> None:
        for child in list(self.pool.children.values()):
            self.pool.kill(child)

    # --- views ------------------------------------------------------------------------------

    def busy(self) -> int:
        return sum(1 for c in self.pool.children.values()
                   if any(f.started for f in self.inflight.of_child(c.id)))  # fmt: skip

    def view(self, now: float) -> dict[str, Any]:
        """workers.status: the target and each child."""
        children = []
        for child in sorted(self.pool.children.values(), key=lambda c: c.id):
            running = None
            held = self.inflight.of_child(child.id)
            flight = next((f for f in held if f.started), None)
            if flight is not None:
                running = {
                    "job_id": flight.job.id,
                    "attempt": flight.attempt,
                    "started_at": J.format_time(flight.started_at),
                    "running_s": round(now - (flight.started_at or now), 3),
                }
            children.append({
                "child": child.id,
                "pid": child.pid,
                "state": "stopping" if child.stopping else ("busy" if running else "idle"),
                "ready": child.ready,
                "job": running,
                "queued": len(held),
            })  # fmt: skip
        return {
            "target": self.target,
            "running": len(self.pool.active()),
            "busy": sum(1 for c in children if c["job"]),
            "children": children,
        }
