"""The loop: one thread, one zmq.Poller.

Each turn waits (until the next scheduled job is due, at most), takes in what
arrived (child reports, control requests, signals), applies it all in one
database transaction together with the dispatch it enables, commits, and only
then sends the replies, assignments and events (group commit). A turn whose
commit fails leaves nothing behind: the database rolls back, the journal undoes
every change in memory, and the turn's output is dropped; then the children's
reports are applied again on their own (and kept for later if that fails too)
and each request is run again alone, so reads are still answered.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog
import zmq

from queuectl.daemon import clients, wire
from queuectl.daemon.daemon import Daemon
from queuectl.daemon.dispatch import dispatch
from queuectl.daemon.logsetup import flush_logs
from queuectl.daemon.pool import ChildHandle
from queuectl.daemon.requests import frees_space
from queuectl.daemon.sockets import next_message

log = structlog.get_logger("queuectl")

HOUSEKEEPING_SECONDS = 5.0
SWEEP_SECONDS = 60.0  # unneeded log segments removed, the logs directory measured
STORAGE_RETRY_SECONDS = 1.0  # after a failed commit (disk full), try again this often
STALL_SLACK = 1.0  # the loop ran this much later than it asked to: the daemon itself stalled
MAX_REQUESTS_PER_TURN = 1000  # bounded, so children are never starved by a flood
KILL_MARGIN = 5.0  # after kill_grace, seconds before what still runs at shutdown is SIGKILLed


@dataclass(slots=True)
class TurnInput:
    """What arrived for one turn."""

    reports: list[bytes] = field(default_factory=list)  # children's reports, in order
    exited: list[ChildHandle] = field(default_factory=list)  # children whose process is gone
    requests: Iterable[list[bytes]] = ()  # request messages, read as the turn takes them


class Loop:
    def __init__(self, daemon: Daemon):
        self.d = daemon
        self.poller = zmq.Poller()
        self.turn_reports: list[bytes] = []  # applied this turn; again later if it fails
        self.replay_reports: list[bytes] = []
        self.turn_requests: list[list[bytes]] = []
        self.storage_retry_at = 0.0
        self.check_orphans = False  # after a failed commit: settle jobs of dead children
        self.windows_stale = False  # their reload after a failed turn failed too (database gone)
        self.abort_sent = False
        self.next_sweep = 0.0  # monotonic
        self.due = False  # the poll did not wait: something is due this turn

    def watch_child(self, child: ChildHandle) -> None:
        self.poller.register(child.pidfd, zmq.POLLIN)

    def unwatch_child(self, child: ChildHandle) -> None:
        self.poller.unregister(child.pidfd)

    # --- running ------------------------------------------------------------------------------

    def run(self) -> int:
        d = self.d
        d.start(self.watch_child, self.unwatch_child)
        s = d.sockets
        for sock in (s.control, s.results, s.events, *s.accept_watch):
            self.poller.register(sock, zmq.POLLIN)
        self.poller.register(d.signals.wake_r.fileno(), zmq.POLLIN)
        self.clock_offset = d.clock.wall() - d.clock.boot()
        d.workers.top_up(d.clock.mono())
        d.notifier.ready()
        d.notifier.status(d.status_line())
        flush_logs()
        watchdog = d.notifier.watchdog_interval()
        mono = d.clock.mono()
        next_watchdog, next_housekeeping = mono, mono + HOUSEKEEPING_SECONDS
        self.next_sweep = mono
        awake = mono  # the last moment we know we were running
        while True:
            timeout = self.poll_timeout(next_housekeeping, next_watchdog if watchdog else None)
            before = d.clock.mono()
            self.check_stall(awake, before, 0.0)  # the last turn itself
            self.due = timeout == 0  # a timer, schedule or deadline is due: a full turn
            events = dict(self.poller.poll(timeout))
            awake = d.clock.mono()
            if d.cluster is not None:
                d.cluster.woken(awake)
            self.check_stall(before, awake, timeout / 1000)  # the wait
            self.take_signals_and_watches(events)
            self.turn(events)
            mono = d.clock.mono()
            d.metrics.turn.observe(mono - awake)
            if not d.shutting_down and d.pruner.due(mono, idle=not events):
                self.prune()
            if d.cluster is not None:
                d.cluster.tick(mono, self.poller)
            if watchdog and mono >= next_watchdog:
                d.notifier.watchdog()
                next_watchdog = mono + watchdog
            if mono >= next_housekeeping:
                next_housekeeping = mono + HOUSEKEEPING_SECONDS
                self.check_stall(awake, mono, 0.0)
                self.housekeeping(mono)
                flush_logs()
            if d.shutting_down and not d.pool.children:
                break
        self.finish()
        return 0

    def poll_timeout(self, next_housekeeping: float, next_watchdog: float | None) -> int:
        d = self.d
        mono = d.clock.mono()
        wakes = [next_housekeeping, next_watchdog, d.waits.next_deadline(), d.workers.wants_respawn_at(mono)]
        if d.shutting_down and not self.abort_sent:
            wakes.append(d.shutdown_deadline)
        if not d.shutting_down:
            wakes.append(d.pruner.next_at)
        if self.replay_reports or self.check_orphans:
            wakes.append(mono + STORAGE_RETRY_SECONDS)
        if not d.shutting_down and (d.disk.low or not d.disk.next_check):  # under the floor: look again
            wakes.append(d.disk.next_check)
        wakes.append(d.cluster.wake_at() if d.cluster is not None else None)
        wait = min(w for w in wakes if w is not None) - mono
        if not d.shutting_down:
            # (while the database fails, what is due waits for the retry as reports do: a turn fails at once)
            soonest = STORAGE_RETRY_SECONDS if d.store_failing is not None else 0.0
            for due in (d.timers.next_due(), d.scheduler.next_due(), d.rates.wake_at):
                if due is not None:
                    wait = min(wait, max(due - d.clock.wall(), soonest))
        return 0 if wait <= 0 else int(wait * 1000) + 1  # round up: never wake a hair early and spin

    def check_stall(self, since: float, now: float, expected: float) -> None:
        """A stretch of the loop took far longer than it should have: we were stopped
        (SIGSTOP, a suspended VM, heavy swapping). The children's heartbeats of that
        time are still on their way in, so their silence is judged from now on only,
        not by a clock that ran while nobody listened."""
        if now - since > expected + STALL_SLACK:
            self.d.workers.listening_since = now
            log.warning("daemon.stalled", seconds=round(now - since - expected, 3))

    def take_signals_and_watches(self, events: dict[Any, int]) -> None:
        d = self.d
        if d.signals.wake_r.fileno() in events:
            d.signals.drain()
        if d.sockets.events in events:
            while True:
                try:
                    d.events.subscription_message(d.sockets.events.recv(zmq.NOBLOCK))
                except zmq.Again:
                    break
        if any(watch in events for watch in d.sockets.accept_watch):
            d.sockets.drain_accept_watch()
            d.sockets.guard_connections()

    # --- a turn -----------------------------------------------------------------------------

    def turn(self, events: dict[Any, int]) -> None:
        arrived = self.gather(events)
        if self.quiet(arrived):
            first = next(iter(arrived.requests), None)
            if first is not None and self.answer_from_memory(first):
                return
            arrived.requests = itertools.chain([first] if first else [], arrived.requests)
        self.apply(arrived)

    def quiet(self, arrived: TurnInput) -> bool:
        """Nothing but requests arrived, and nothing is left over from earlier turns."""
        d, signals = self.d, self.d.signals
        return not (arrived.reports or arrived.exited or self.due or self.replay_reports or self.check_orphans
                    or self.windows_stale or d.shutting_down or signals.stop_requested or signals.reload_requested
                    or (d.cluster is not None and d.cluster.busy))  # fmt: skip

    def answer_from_memory(self, frames: list[bytes]) -> bool:
        """A lone `daemon.status` in a quiet turn needs no transaction, dispatch or timers
        (nothing changed for them, and nothing is due: the poll waited): a quarter of its
        round trip. False, having done nothing, for any other message."""
        d = self.d
        found = d.requests.memory_request(frames)
        if found is None:
            return False
        d.now, d.mono = d.clock.wall(), d.clock.mono()
        d.journal.begin()
        try:
            d.requests.answer_alone(*found, d.now)
            d.journal.commit()
        except d.store.errors:  # (its reads failed: answered as after a failed turn)
            d.journal.abort()
            d.out.discard()
            self.run_request_alone(frames)
        self.flush()
        return True

    def gather(self, events: dict[Any, int]) -> TurnInput:
        """What arrived: reports and exits now, requests as the turn takes them."""
        d = self.d
        exited = [d.pool.by_pidfd[fd] for fd in events if fd in d.pool.by_pidfd]
        # (A child that died may have sent reports just before: read them first.)
        reports = self.read_reports() if d.sockets.results in events or exited else []
        requests = self.read_requests() if d.sockets.control in events else ()
        return TurnInput(reports, exited, requests)

    def read_reports(self) -> list[bytes]:
        reports: list[bytes] = []
        # a child sends the reports of one of its turns as the frames of one message
        while (frames := next_message(self.d.sockets.results)) is not None:
            reports.extend(frames)
        return reports

    def read_requests(self) -> Iterator[list[bytes]]:
        d = self.d
        for n in range(MAX_REQUESTS_PER_TURN):
            if d.out.reply_bytes > clients.TURN_REPLY_BYTES:
                return  # replies are held until the commit: the rest waits for the next turn
            frames = next_message(d.sockets.control, waiting=not n)  # (the poll saw the first)
            if frames is None:
                return
            yield frames

    def apply(self, arrived: TurnInput) -> None:
        """Apply everything that arrived, and the dispatch it enables, in one transaction;
        then send what it says."""
        d = self.d
        d.now, d.mono = d.clock.wall(), d.clock.mono()
        self.turn_reports, self.turn_requests = [], []
        self.replay_reports.extend(arrived.reports)  # (kept if the turn fails, even at BEGIN)
        requests = iter(arrived.requests)  # (what the turn does not get to is read below)
        d.journal.begin()
        try:
            with d.store.transaction():
                if d.cluster is not None and d.cluster.take_refresh():
                    self.windows_stale = True  # (other daemons changed the queue: windows again too)
                if self.windows_stale:
                    self.resync_windows(in_turn=True)
                clock_offset = d.follow_clock_steps(d.now, self.clock_offset)
                self.take_child_world(arrived.exited)
                for frames in requests:
                    self.turn_requests.append(frames)
                    d.requests.handle(frames, d.now)
                self.handle_signals()
                if not d.shutting_down:
                    d.scheduler.fire(d.now)
                    d.lifecycle.fire_timers(d.now)
                    if d.may_start_jobs(d.mono) and not dispatch(d.store, d.runnable, d.queues, d.workers,
                                                                 d.lifecycle, d.now):  # fmt: skip
                        d.cluster.claims_lost(d.mono)  # type: ignore[union-attr]  # (only a shared store loses)
            d.journal.commit()
            self.clock_offset = clock_offset  # (a failed turn's step is taken again next turn)
            if d.store_failing is not None and not self.replay_reports:
                log.warning("store.ok", failing_since=d.store_failing[0])
                d.store_failing = None
        except d.store.errors as exc:
            log.error("store.error", error=str(exc))
            d.store_failed(exc)
            d.journal.abort()
            d.out.discard()
            # What the turn did not get to (it failed before: a database gone at BEGIN) is
            # taken now: left, requests and exits would wake every poll (and never be answered).
            self.turn_requests.extend(requests)
            d.workers.exited_while_failing(arrived.exited)
            self.recover_turn()
        self.flush()

    def take_child_world(self, exited: list[ChildHandle]) -> None:
        """The children's reports (all waiting in replay_reports) and exits."""
        d = self.d
        if not (self.replay_reports and d.mono < self.storage_retry_at):  # (still failing: they wait)
            todo, self.replay_reports = self.replay_reports, []
            self.turn_reports.extend(todo)  # (all of them: a failure at one must keep the rest)
            for raw in todo:
                self.apply_report(raw)
        if self.check_orphans and not self.replay_reports:
            self.check_orphans = False
            d.workers.settle_orphans(d.now, d.shutting_down)
        for child in exited:
            d.workers.exited(child, d.now, d.shutting_down)
        d.store.write_starts()  # before anything reads jobs this turn

    def apply_report(self, raw: bytes) -> None:
        d = self.d
        try:
            msg = wire.decode(raw)
        except wire.WireError as exc:
            log.error("child.bad_message", size=len(raw), error=str(exc))
            return
        child = d.child_of(getattr(msg, "child", -1))  # a replayed report's child may be gone
        if child is None:
            return
        child.last_seen = d.clock.mono()
        if isinstance(msg, wire.Started):
            if d.lifecycle.started(msg):
                child.segment = msg.segment
        elif isinstance(msg, wire.Finished):
            d.lifecycle.finished(msg, d.now)
        elif isinstance(msg, wire.Returned):
            d.lifecycle.returned(msg, d.now)
        elif isinstance(msg, wire.Hello) and child.id in d.pool.children:
            d.workers.hello(child, msg, d.shutting_down)
        elif isinstance(msg, wire.Bye):
            d.workers.bye(child)

    def prune(self) -> None:
        """One step of pruning in a transaction of its own; it stops early as soon as
        anything waits on a socket (pruner.py)."""
        d = self.d
        d.now, d.mono = d.clock.wall(), d.clock.mono()
        d.journal.begin()
        try:
            with d.store.transaction():
                d.pruner.step(d.now, d.mono, lambda: bool(self.poller.poll(0)))
            d.journal.commit()
        except d.store.errors as exc:
            log.error("store.error", error=str(exc), during="prune")
            d.store_failed(exc)
            d.journal.abort()
            d.out.discard()
            d.pruner.failed(d.mono)
        self.flush()
        if d.held_segments:
            d.collect_held()

    # --- after a failed commit ------------------------------------------------------------------

    def recover_turn(self) -> None:
        d = self.d
        self.replay_reports = self.turn_reports + self.replay_reports
        self.turn_reports = []
        requests, self.turn_requests = self.turn_requests, []
        # The journal undid memory; the windows are caches of the database: reload them
        # from what committed, and settle what dead children held.
        self.check_orphans = any(f.child not in d.pool.children for f in d.inflight)
        self.resync_windows()
        d.journal.begin()
        try:
            with d.store.transaction():
                self.take_child_world([])
            d.journal.commit()
        except d.store.errors as exc:
            self.reports_failed(exc)
        for frames in requests:
            self.run_request_alone(frames)

    def resync_windows(self, in_turn: bool = False) -> None:
        """Reload the windows from what committed. When the database cannot be read (a
        server gone: PostgreSQL), the next turn reloads them first, before any dispatch;
        `in_turn`: that reload, whose failure fails the turn."""
        d = self.d
        was_open = d.journal.open
        d.journal.open = False  # (nothing to undo: this is what committed)
        try:
            d.runnable.reload()
            d.timers.reload()
            self.windows_stale = False
        except d.store.errors as exc:
            self.windows_stale = True
            if in_turn:
                raise
            log.error("store.error", error=str(exc), during="reloading the windows")
        finally:
            d.journal.open = was_open

    def reports_failed(self, exc: BaseException) -> None:
        """Recording the children's reports failed too: keep them to apply later."""
        d = self.d
        log.error("store.error", error=str(exc), during="child reports")
        d.store_failed(exc)
        d.journal.abort()
        d.out.discard()
        self.replay_reports = self.turn_reports + self.replay_reports
        self.turn_reports = []
        self.storage_retry_at = d.clock.mono() + STORAGE_RETRY_SECONDS
        self.check_orphans = any(f.child not in d.pool.children for f in d.inflight)
        self.resync_windows()

    def run_request_alone(self, frames: list[bytes]) -> None:
        """One request in a transaction of its own. A request that frees space may use
        the space held in reserve: on a full disk `delete` must still work, or queuectl
        could not free what it filled."""
        d = self.d
        for may_retry in (True, False):
            d.journal.begin()
            try:
                with d.store.transaction():
                    d.requests.handle(frames, d.now)
                d.journal.commit()
                return
            except d.store.errors as err:
                d.journal.abort()
                self.resync_windows()
                if may_retry and frees_space(frames) and d.reserve.release():
                    log.warning("store.reserve_released", error=str(err))
                    continue
                d.store_failed(err)
                d.requests.storage_error(frames, err, d.now)
                return

    # --- after a turn ---------------------------------------------------------------------------

    def flush(self) -> None:
        d = self.d
        d.waits.expire(d.clock.mono())
        d.out.flush(d.channels)
        if not d.shutting_down:
            d.workers.top_up(d.clock.mono())
        flush_logs()

    def handle_signals(self) -> None:
        d = self.d
        if d.signals.stop_requested and not d.shutting_down:
            d.begin_shutdown("signal")
        if d.signals.reload_requested:
            d.signals.reload_requested = False
            d.reload_config()
        if d.shutting_down and not self.abort_sent and d.shutdown_deadline is not None \
                and d.clock.mono() >= d.shutdown_deadline:  # fmt: skip
            self.abort_sent = True
            d.lifecycle.abort_all("shutdown")
            d.kill_deadline = d.clock.mono() + d.config["kill_grace"] + KILL_MARGIN

    def housekeeping(self, mono: float) -> None:
        self.d.housekeeping(mono)
        if mono >= self.next_sweep:
            self.next_sweep = mono + SWEEP_SECONDS
            self.d.sweep_logs()

    def finish(self) -> None:
        d = self.d
        # Every open wait gets its answer before the socket goes (a client must not be
        # left to find out by its own timeout).
        d.waits.abandon_all()
        d.pruner.abandon_all()
        last_replies = bool(d.out.replies)
        d.out.flush(d.channels)
        if last_replies:
            # A client socket with ZMQ_IMMEDIATE drops a reply still unread when the
            # connection closes: give clients a moment to read their last answers.
            time.sleep(0.2)
        d.close()
        flush_logs()

