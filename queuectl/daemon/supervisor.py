"""The supervisor: one process, one thread, one event loop on a zmq.Poller.

Each loop turn: wait (until the next scheduled job is due, at most), take in
everything that arrived (child reports, control requests, signals), apply it
all in one SQLite transaction together with the dispatch decisions it
enables, commit, and only then send the replies, assignments and events.
So a client's "ok" means committed, and a child never runs a job the
database does not know is running.
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import json
import os
import signal
import socket
import sqlite3
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import structlog
import zmq

from queuectl import fsguard, settings
from queuectl import jobs as J
from queuectl import protocol as P
from queuectl.daemon import clients, containment, rpc
from queuectl.daemon import methods as _methods  # noqa: F401  (registers the handlers)
from queuectl.daemon.logsetup import flush_logs
from queuectl.daemon.notify import Notifier, scrub_environ
from queuectl.daemon.pool import ChildHandle, Pool
from queuectl.daemon.requests import PendingReply, Waiter, frees_space
from queuectl.daemon.reserve import SpaceReserve
from queuectl.daemon.store import Runnable, Store
from queuectl.daemon.throughput import Throughput
from queuectl.jobs import ValidationError
from queuectl.paths import Paths, check_socket_path

log = structlog.get_logger("queuectl")

WINDOW = 1000  # runnable jobs kept in memory, in dispatch order
TIMER_WINDOW = 1000  # timed jobs kept in memory, soonest first
STALL_SLACK = 1.0  # the loop ran this much later than it asked to: the daemon itself stalled
CLOCK_STEP = 1.0  # seconds the wall clock must jump (against CLOCK_BOOTTIME) to count as a step
HOUSEKEEPING_SECONDS = 5.0
STORAGE_RETRY_SECONDS = 1.0  # after a failed commit (disk full), try again this often
SEGMENT_SIZE = 64 * 1024 * 1024


class StartupError(Exception):
    """The daemon cannot start (already running, socket path too long, ...)."""


class AlreadyRunning(StartupError):
    """Another daemon holds the lock of this state directory."""


@dataclass(slots=True)
class InFlight:
    job: Runnable
    attempt: int
    child: int
    started: bool = False
    started_at: float | None = None
    pgid: int | None = None  # the job's process group (its shell's pid), once started
    abort: str | None = None  # "cancel" once a cancel was asked for


@dataclass(slots=True)
class TurnOutput:
    """What a loop turn sends once its transaction has committed."""

    replies: list[tuple[list[bytes], bytes]] = field(default_factory=list)
    reply_bytes: int = 0
    assignments: list[tuple[ChildHandle, list[Any]]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)


def split_envelope(frames: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """ROUTER frames -> (routing envelope, body). A REQ client's message is
    [identity, b"", payload]; a DEALER may send anything."""
    try:
        split = frames.index(b"", 1)
    except ValueError:
        return frames[:1], frames[1:]
    return frames[: split + 1], frames[split + 1 :]


class Supervisor:
    def __init__(self, paths: Paths, workers: int | None = None):
        self.paths = paths
        self.workers_override = workers
        self.notifier = Notifier()
        scrub_environ(os.environ)  # jobs must not talk to systemd in our name
        self.stop_requested = False
        self.reload_requested = False
        self.shutting_down = False
        self.shutdown_deadline: float | None = None
        self.abort_sent = False
        self.started_at = time.time()
        self.inflight: dict[int, InFlight] = {}
        self.waiters: dict[int, list[Waiter]] = {}  # by job seq
        # Runnable window: heap of (key, seq); window_jobs holds the live entries.
        self.window: list[tuple[tuple[int, int], int]] = []
        self.window_jobs: dict[int, Runnable] = {}
        self.window_complete = False
        self.window_bound: tuple[int, int] | None = None
        # Timer window: heap of (run_at, seq); timer_at holds the live entries.
        self.timers: list[tuple[float, int]] = []
        self.timer_at: dict[int, float] = {}
        self.timers_complete = False
        self.timers_bound: float | None = None
        self.out = TurnOutput()
        self.target_workers = 0
        self.throughput = Throughput()
        self.subscriptions = 0  # live subscriptions on the event socket
        self.event_seq = 0
        # job.wait timeouts: heap of (monotonic deadline, token, callback).
        self.wait_deadlines: list[tuple[float, int, Callable[[], None]]] = []
        self.current_now = time.time()
        self.current_mono = time.monotonic()
        # Child reports applied in this turn; if its commit fails they are applied again
        # in a later turn (they are facts about processes, not requests we may refuse).
        self.turn_reports: list[bytes] = []
        self.replay_reports: list[bytes] = []
        self.check_orphans = False  # after a failed commit: settle jobs of dead children
        self.storage_retry_at = 0.0
        self.turn_requests: list[list[bytes]] = []
        self.respawn_at = 0.0  # monotonic: no child spawns before (a crash-looping child)
        self.listening_since = 0.0  # monotonic: since when we have been awake to hear children
        self.clock_offset = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
        self.spawn_failures = 0

    # --- start-up ------------------------------------------------------------------------

    def _prepare_dirs(self) -> None:
        # Trust nothing on disk another user could have made (fsguard; docs/operations.md,
        # "Threat model"): a refusal raises fsguard.UnsafePath, exit code 9.
        fsguard.prepare_state_dirs(self.paths)
        runtime = self.paths.runtime_dir
        # Whoever reaches the control socket can run commands as us. A directory made by
        # systemd (RuntimeDirectory=) keeps its RuntimeDirectoryMode=: with group access
        # (the system unit's 0750) the sockets are for that group too; else only for us.
        given = os.environ.get("RUNTIME_DIRECTORY", "").split(":")
        managed = self.paths.is_system or str(runtime) in {os.path.normpath(p) for p in given if p}
        st = fsguard.prepare_runtime_dir(self.paths, managed)
        self.socket_group = st.st_gid if managed and st.st_mode & stat.S_IXGRP else None
        check_socket_path(self.paths.socket)
        fsguard.check_state_files(self.paths)

    def _lock(self) -> None:
        self.lock_fd = fsguard.open_nofollow(self.paths.lock, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                pid = os.read(self.lock_fd, 32).decode().strip() or "?"
            except OSError:
                pid = "?"
            raise AlreadyRunning(
                f"another queuectl daemon (pid {pid}) is already running on {self.paths.state_dir}"
            ) from None
        os.ftruncate(self.lock_fd, 0)
        os.pwrite(self.lock_fd, f"{os.getpid()}\n".encode(), 0)

    def _wait_for_old_children(self, timeout: float = 15.0) -> None:
        """Children of a killed daemon kill their jobs and exit on their own; wait for that
        (they hold a shared lock on children.lock) before running anything."""
        fd = fsguard.open_nofollow(self.paths.children_lock, os.O_RDWR | os.O_CREAT)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    return
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StartupError(
                            "children of a previous daemon are still running; "
                            f"see `fuser {self.paths.children_lock}`"
                        ) from None
                    time.sleep(0.02)
        finally:
            os.close(fd)

    def _bind(self) -> None:
        self.ctx = zmq.Context()
        self.ctx.set(zmq.MAX_SOCKETS, 65536)
        for path in (self.paths.socket, self.paths.events_socket, self.paths.results_socket):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # left by a crashed daemon; we hold the lock, so it is stale
        self.control = self.ctx.socket(zmq.ROUTER)
        self.control.setsockopt(zmq.LINGER, 0)
        self.control.setsockopt(zmq.MAXMSGSIZE, P.HARD_MAX_MESSAGE_BYTES)
        self.control.setsockopt(zmq.SNDHWM, clients.REPLY_HWM)
        self.control.setsockopt(zmq.RCVHWM, 10000)
        # A reply to a client whose queue is full raises instead of vanishing silently,
        # so ReplySender can say so.
        self.control.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.control.setsockopt(zmq.BACKLOG, self.guard.backlog)
        self.replies = clients.ReplySender(self.control)
        # XPUB, not PUB: it tells us about subscriptions, so events nobody listens to
        # are not even built.
        self.events = self.ctx.socket(zmq.XPUB)
        self.events.setsockopt(zmq.LINGER, 0)
        self.events.setsockopt(zmq.SNDHWM, clients.EVENTS_HWM)
        self.events.setsockopt(zmq.XPUB_VERBOSER, 1)
        self.events.setsockopt(zmq.BACKLOG, self.guard.backlog)
        # New connections are counted (ConnectionGuard): libzmq dies if accept() runs out
        # of file descriptors.
        self.accept_watch = [sock.get_monitor_socket(zmq.EVENT_ACCEPTED)
                             for sock in (self.control, self.events)]  # fmt: skip
        self._bind_client_sockets()
        # Children's sockets are for us and our children only (umask 077 since start()).
        self.results = self.ctx.socket(zmq.PULL)
        self.results.setsockopt(zmq.LINGER, 0)
        self.results.setsockopt(zmq.MAXMSGSIZE, 1024 * 1024)
        self.results.bind(self.paths.endpoint(self.paths.results_socket))

    def _client_endpoints(self) -> list[tuple[zmq.Socket, Path]]:
        return [(self.control, self.paths.socket), (self.events, self.paths.events_socket)]

    def _bind_client_sockets(self) -> None:
        old_umask = os.umask(0o077 if self.socket_group is None else 0o007)
        try:
            for sock, path in self._client_endpoints():
                sock.bind(self.paths.endpoint(path))
        finally:
            os.umask(old_umask)
        if self.socket_group is not None:  # group members may use the CLI and `events`
            for _, path in self._client_endpoints():
                os.chmod(path, 0o660)
                try:
                    if os.stat(path).st_gid != self.socket_group:
                        os.chown(path, -1, self.socket_group)
                except OSError as exc:
                    log.warning("socket.chown_failed", path=str(path), error=str(exc))

    def guard_connections(self) -> None:
        """Stop accepting clients while file descriptors run short; accept again once
        enough are free. (Unbinding drops the connections of that moment too: better
        than libzmq's abort at EMFILE.)"""
        decision = self.guard.check(clients.open_fds())
        if decision is True:
            for sock, path in self._client_endpoints():
                with contextlib.suppress(zmq.ZMQError):
                    sock.unbind(self.paths.endpoint(path))
        elif decision is False:
            self._bind_client_sockets()

    def _signals(self) -> None:
        self.wake_r, wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        wake_w.setblocking(False)
        self._wake_w = wake_w
        signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGHUP, self._on_reload_signal)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    def _on_stop_signal(self, signum: int, frame: Any) -> None:
        self.stop_requested = True

    def _on_reload_signal(self, signum: int, frame: Any) -> None:
        self.reload_requested = True

    def start(self) -> None:
        # Our own files (database, logs, sockets) are private whatever the directory's
        # mode; jobs get the umask we were started with (children restore it).
        self.job_umask = os.umask(0o077)
        self._prepare_dirs()
        self._lock()
        self.store = Store(self.paths.db)
        self.config = settings.defaults()
        self.config.update(
            {k: v for k, v in self.store.config_load().items() if k in settings.SETTINGS}
        )
        self.store.set_synchronous(self.config["synchronous"])
        self.store.start_checkpointer()
        self.reserve = SpaceReserve(self.paths.state_dir / "reserve")
        self.reserve.ensure()
        self.epoch = self.store.next_epoch()
        self._wait_for_old_children()
        # Contain jobs before any runs: a cgroup per child where we may write the cgroup
        # tree (this also kills what a crashed predecessor's jobs left), else by subreaper.
        containment.set_child_subreaper()
        wanted = os.environ.get("QUEUECTL_CONTAINMENT", "auto")
        if wanted not in ("auto", containment.CGROUP, containment.SUBREAPER):
            raise StartupError(f"QUEUECTL_CONTAINMENT must be auto, cgroup or subreaper, not {wanted!r}")
        self.cgroup_base = (
            containment.prepare_cgroup_base(self.paths.state_dir)
            if wanted != containment.SUBREAPER else None
        )  # fmt: skip
        if wanted == containment.CGROUP and self.cgroup_base is None:
            raise StartupError("QUEUECTL_CONTAINMENT=cgroup, but no cgroup v2 tree we may write "
                               "(under systemd: Delegate=yes)")  # fmt: skip
        self.containment = containment.CGROUP if self.cgroup_base else containment.SUBREAPER
        now = time.time()
        recovered = self.store.requeue_interrupted(now)
        for _seq, job_id, attempt in recovered:
            log.warning("job.recovered", job_id=job_id, attempt=attempt,
                        reason="the daemon stopped while it ran")  # fmt: skip
        self.guard = clients.ConnectionGuard(clients.raise_fd_limit())
        self._bind()
        self._signals()
        self.poller = zmq.Poller()
        self.poller.register(self.control, zmq.POLLIN)
        self.poller.register(self.results, zmq.POLLIN)
        self.poller.register(self.wake_r.fileno(), zmq.POLLIN)
        self.poller.register(self.events, zmq.POLLIN)
        for watch in self.accept_watch:
            self.poller.register(watch, zmq.POLLIN)
        self.pool = Pool(self.ctx, self.paths, self.epoch, SEGMENT_SIZE, self.job_umask, self.cgroup_base)
        self.refill_window()
        self.refill_timers()
        self.target_workers = (
            self.workers_override if self.workers_override is not None else self.config["workers"]
        )
        self.scale_to(self.target_workers)
        log.info(
            "daemon.started", pid=os.getpid(), home=str(self.paths.state_dir),
            socket=str(self.paths.socket), workers=self.target_workers, containment=self.containment,
            recovered=len(recovered), counts=self.store.counts,
        )  # fmt: skip
        fsguard.write_file(self.paths.pidfile, f"{os.getpid()}\n".encode())
        self.notifier.ready()
        self.update_status()
        flush_logs()

    # --- windows of runnable and timed jobs ----------------------------------------------

    def refill_window(self) -> None:
        rows = self.store.runnable_window(WINDOW)
        for job in rows:
            if job.seq not in self.window_jobs and job.seq not in self.inflight:
                self.window_jobs[job.seq] = job
                heapq.heappush(self.window, (job.key, job.seq))
        self.window_complete = len(rows) < WINDOW
        self.window_bound = rows[-1].key if rows else None

    def add_runnable(self, job: Runnable | None) -> None:
        if job is None or job.seq in self.window_jobs:
            return
        if self.window_complete or (self.window_bound is not None and job.key < self.window_bound):
            self.window_jobs[job.seq] = job
            heapq.heappush(self.window, (job.key, job.seq))
            if len(self.window_jobs) > 2 * WINDOW:
                # A backlog that outgrew the window: keep only its head in memory again
                # (the database, same transaction, has every one of them).
                self.window.clear()
                self.window_jobs.clear()
                self.refill_window()
        # else: it waits in the database, behind the window, for a later refill

    def pop_runnable(self) -> Runnable | None:
        while True:
            if not self.window:
                if self.window_complete or not self.store.counts[J.PENDING]:
                    return None
                self.refill_window()
                if not self.window:
                    return None
            _, seq = heapq.heappop(self.window)
            job = self.window_jobs.pop(seq, None)
            if job is not None:
                return job

    def drop_from_window(self, seq: int) -> None:
        self.window_jobs.pop(seq, None)  # its heap entry is skipped when popped

    def refill_timers(self) -> None:
        rows = self.store.timed_window(TIMER_WINDOW)
        for run_at, seq in rows:
            if self.timer_at.get(seq) != run_at:
                self.timer_at[seq] = run_at
                heapq.heappush(self.timers, (run_at, seq))
        self.timers_complete = len(rows) < TIMER_WINDOW
        self.timers_bound = rows[-1][0] if rows else None

    def add_timer(self, seq: int, run_at: float) -> None:
        if self.timers_complete or (self.timers_bound is not None and run_at < self.timers_bound):
            self.timer_at[seq] = run_at
            heapq.heappush(self.timers, (run_at, seq))

    def drop_timer(self, seq: int) -> None:
        self.timer_at.pop(seq, None)

    def next_timer(self) -> float | None:
        while self.timers:
            run_at, seq = self.timers[0]
            if self.timer_at.get(seq) == run_at:
                return run_at
            heapq.heappop(self.timers)  # stale
        if not self.timers_complete:
            self.refill_timers()
            return self.timers[0][0] if self.timers else None
        return None

    def fire_timers(self, now: float) -> None:
        while True:
            run_at = self.next_timer()
            if run_at is None or run_at > now:
                return
            _, seq = heapq.heappop(self.timers)
            del self.timer_at[seq]
            if self.store.make_runnable(seq, now):
                job = self.store.runnable(seq)
                self.add_runnable(job)
                if job is not None:  # scheduled or backed-off: it is pending now
                    self.emit("job.due", job_id=job.id)

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> int:
        self.start()
        poller = self.poller
        watchdog = self.notifier.watchdog_interval()
        next_watchdog = time.monotonic()
        next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
        awake = time.monotonic()  # the last moment we know we were running
        while True:
            timeout = self.poll_timeout(next_housekeeping, next_watchdog if watchdog else None)
            before = time.monotonic()
            self.check_stall(awake, before, 0.0)  # the last turn itself
            events = dict(poller.poll(timeout))
            awake = time.monotonic()
            self.check_stall(before, awake, timeout / 1000)  # the wait
            if self.wake_r.fileno() in events:
                with contextlib.suppress(BlockingIOError):
                    self.wake_r.recv(4096)
            if self.events in events:
                self.take_subscriptions()
            if any(watch in events for watch in self.accept_watch):
                for watch in self.accept_watch:
                    with contextlib.suppress(zmq.Again):
                        while True:
                            watch.recv_multipart(zmq.NOBLOCK)
                self.guard_connections()
            self.turn(events)
            mono = time.monotonic()
            if watchdog and mono >= next_watchdog:
                self.notifier.watchdog()
                next_watchdog = mono + watchdog
            if mono >= next_housekeeping:
                next_housekeeping = mono + HOUSEKEEPING_SECONDS
                self.check_stall(awake, mono, 0.0)
                self.housekeeping(mono)
                flush_logs()
            if self.shutting_down and not self.pool.children:
                break
        self.finish()
        return 0

    def follow_clock_steps(self, now: float) -> float:
        """Notice a step of the wall clock (an administrator's `date -s`, a VM restored
        from a snapshot, NTP correcting a large error): a job's run_at is a wall-clock
        time, right for a time of day the user gave, but a wait given as a duration (a
        delay, a backoff) must stay as long as it was. Those move with the step.
        CLOCK_BOOTTIME counts suspend too, so a laptop's sleep is not a step."""
        offset = now - time.clock_gettime(time.CLOCK_BOOTTIME)  # follows slewing too
        step = offset - self.clock_offset
        if abs(step) < CLOCK_STEP:
            return offset
        moved = self.store.shift_relative_waits(step)
        log.warning("clock.stepped", seconds=round(step, 3), waits_moved=moved)
        self.timers.clear()
        self.timer_at.clear()
        self.timers_complete = False
        self.refill_timers()
        return offset

    def check_stall(self, since: float, now: float, expected: float) -> None:
        """A stretch of the loop took far longer than it should have: we were stopped
        (SIGSTOP, a suspended VM, heavy swapping). The children's heartbeats of that
        time are still on their way in, so their silence is judged from now on only,
        not by a clock that ran while nobody listened."""
        if now - since > expected + STALL_SLACK:
            self.listening_since = now
            log.warning("daemon.stalled", seconds=round(now - since - expected, 3))

    def poll_timeout(self, next_housekeeping: float, next_watchdog: float | None) -> int:
        mono = time.monotonic()
        wait = next_housekeeping - mono
        if next_watchdog is not None:
            wait = min(wait, next_watchdog - mono)
        if self.shutting_down and self.shutdown_deadline is not None and not self.abort_sent:
            wait = min(wait, self.shutdown_deadline - mono)
        if not self.shutting_down:
            due = self.next_timer()
            if due is not None:
                wait = min(wait, due - time.time())
        if self.wait_deadlines:
            wait = min(wait, self.wait_deadlines[0][0] - mono)
        if self.replay_reports or self.check_orphans:
            wait = min(wait, STORAGE_RETRY_SECONDS)
        if self.respawn_at > mono and len(self.pool.active()) < self.target_workers:
            wait = min(wait, self.respawn_at - mono)
        if wait <= 0:
            return 0
        # Round up so we never wake a hair early and spin.
        return int(wait * 1000) + 1

    def turn(self, events: dict[Any, int]) -> None:
        """Apply everything that arrived, and the dispatch it enables, in one transaction.

        If that commit fails (disk full, I/O error), nothing of it happened: the
        children's reports are applied again on their own (and kept for later if that
        fails too), and each request is answered on its own, so reads still succeed."""
        now = time.time()
        self.current_now = now
        self.current_mono = time.monotonic()
        self.turn_reports = []
        self.turn_requests = []
        try:
            with self.store.transaction():
                clock_offset = self.follow_clock_steps(now)
                self.take_child_world(events, now)
                self.take_requests_and_dispatch(events, now)
            self.clock_offset = clock_offset  # (a failed turn's step is taken again next turn)
        except sqlite3.Error as exc:
            log.error("store.error", error=str(exc))
            self.recover_turn(events, now)
        self.expire_waits()
        self.flush()
        flush_logs()

    def take_requests_and_dispatch(self, events: dict[Any, int], now: float) -> None:
        if self.control in events:
            self.take_requests(now)
        self.handle_signals(now)
        if not self.shutting_down:
            self.fire_timers(now)
            self.dispatch(now)
            if len(self.pool.active()) < self.target_workers:
                self.scale_to(self.target_workers)

    def recover_turn(self, events: dict[Any, int], now: float) -> None:
        self.out = TurnOutput()
        reports, self.turn_reports = self.turn_reports, []
        self.replay_reports = reports + self.replay_reports
        requests = self.turn_requests
        self.resync_after_failure()
        try:
            with self.store.transaction():
                self.take_child_world({}, now)
        except sqlite3.Error as exc:
            self.reports_failed(exc)
        for frames in requests:
            self.run_request_alone(frames, now)

    def run_request_alone(self, frames: list[bytes], now: float) -> None:
        """One request in a transaction of its own (after its turn failed to commit). A
        request that frees space may use the space held in reserve: on a full disk,
        `delete` must still work, or queuectl could not free what it filled."""
        for may_retry in (True, False):
            out = self.out
            marks = (len(out.replies), len(out.assignments), len(out.events), len(out.after_commit))
            try:
                with self.store.transaction():
                    self.handle_frames(frames, now)
                return
            except sqlite3.Error as err:
                del out.replies[marks[0]:], out.assignments[marks[1]:]
                del out.events[marks[2]:], out.after_commit[marks[3]:]
                self.resync_after_failure()
                if may_retry and frees_space(frames) and self.reserve.release():
                    log.warning("store.reserve_released", error=str(err))
                    continue
                self.reply_storage_error(frames, err)
                return

    def take_child_world(self, events: dict[Any, int], now: float) -> None:
        if self.replay_reports and self.current_mono < self.storage_retry_at:
            # Still failing: queue new reports behind the ones waiting, in order.
            while True:
                try:
                    self.replay_reports.extend(self.results.recv_multipart(zmq.NOBLOCK))
                except zmq.Again:
                    break
        else:
            replay, self.replay_reports = self.replay_reports, []
            for raw in replay:
                self.apply_report(raw, now)
            if self.results in events:
                self.take_child_reports(now)
        if self.check_orphans and not self.replay_reports:
            self.settle_orphans(now)
        for fd in [fd for fd in events if fd in self.pool.by_pidfd]:
            self.child_exited(self.pool.by_pidfd[fd], now)

    def expire_waits(self) -> None:
        while self.wait_deadlines and self.wait_deadlines[0][0] <= self.current_mono:
            _, _, expired = heapq.heappop(self.wait_deadlines)
            expired()

    def flush(self) -> None:
        out = self.out
        # Callbacks run first: they may add replies (a job.wait answered) to this turn.
        for fn in out.after_commit:
            fn()
        self.out = TurnOutput()
        for child, msg in out.assignments:
            self.pool.send(child, msg)
        for routing, payload in out.replies:
            self.replies.send(routing, payload)
        for event in out.events:
            with contextlib.suppress(zmq.ZMQError):
                self.events.send_multipart(
                    [event["event"].encode(), json.dumps(event).encode()], zmq.NOBLOCK
                )

    def collect_segments(self, segments: set[str]) -> None:
        """Remove log segments no attempt points into any more (and no child writes)."""
        active = {c.segment for c in self.pool.children.values()}
        candidates = segments - active
        for seg in candidates - self.store.segments_in_use(candidates):
            for ext in ("out", "err"):
                with contextlib.suppress(FileNotFoundError):
                    (self.paths.logs_dir / f"{seg}.{ext}").unlink()

    def reports_failed(self, exc: sqlite3.Error) -> None:
        """Recording the children's reports failed: keep them to apply again later; the
        in-memory view is rebuilt from the database's last committed state."""
        log.error("store.error", error=str(exc), during="child reports")
        self.out = TurnOutput()
        self.replay_reports = self.turn_reports + self.replay_reports
        self.turn_reports = []
        self.storage_retry_at = time.monotonic() + STORAGE_RETRY_SECONDS
        self.resync_after_failure()

    def reply_storage_error(self, frames: list[bytes], exc: sqlite3.Error) -> None:
        routing, body = split_envelope(frames)
        req_id = None
        with contextlib.suppress(Exception):
            req_id = P.request_id_of(json.loads(body[0]))
        err = P.RpcError(P.STORAGE_ERROR, f"the daemon could not write its database: {exc}")
        self.reply(routing, P.error_response(req_id, err))

    def resync_after_failure(self) -> None:
        """Rebuild the in-memory view from the database's last committed state.

        Assignments of the failed turn were never sent, so the database is right about
        them; reports of the failed turn are replayed; jobs of children that died in it
        are settled as lost in the next turn."""
        self.inflight.clear()
        for child in self.pool.children.values():
            child.assigned.clear()
        for job, attempt, child_id, started_at, pid in self.store.in_flight():
            flight = InFlight(job, attempt, child_id or 0, started_at is not None, started_at, pid)
            self.inflight[job.seq] = flight
            child = self.pool.children.get(flight.child)
            if child is not None:
                child.assigned.append(job.seq)
            else:
                self.check_orphans = True
        self.window.clear()
        self.window_jobs.clear()
        self.window_complete = False
        self.refill_window()
        self.timers.clear()
        self.timer_at.clear()
        self.timers_complete = False
        self.refill_timers()

    # --- child reports --------------------------------------------------------------------

    def take_child_reports(self, now: float) -> None:
        while True:
            try:
                frames = self.results.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            for raw in frames:  # a child sends the reports of one of its turns together
                self.apply_report(raw, now)

    def settle_orphans(self, now: float) -> None:
        self.check_orphans = False
        for flight in list(self.inflight.values()):
            if flight.child not in self.pool.children:
                self.settle_loss(flight, now)

    def apply_report(self, raw: bytes, now: float) -> None:
        self.turn_reports.append(raw)
        try:
            msg = msgpack.unpackb(raw)
            kind, child_id = msg[0], msg[1]
        except (ValueError, TypeError, IndexError, msgpack.UnpackException):
            log.error("child.bad_message", size=len(raw))
            return
        # A replayed report may come from a child that has exited since.
        child = self.pool.children.get(child_id) or self.pool.departed.get(child_id)
        if child is None:
            return
        child.last_seen = time.monotonic()
        if kind == P.STARTED:
            self.on_started(child, msg, now)
        elif kind == P.FINISHED:
            self.on_finished(child, P.Finished.from_msg(msg), now)
        elif kind == P.RETURNED:
            self.on_returned(child, msg[2], msg[3], now)
        elif kind == P.HELLO and child_id in self.pool.children:
            child.ready = True
            child.containment = msg[3] if len(msg) > 3 else None
            self.spawn_failures = 0
            log.info("child.ready", child=child.id, pid=child.pid)
            if self.shutting_down or child.stopping:
                self.pool.send(child, [P.EXIT])

    def on_started(self, child: ChildHandle, msg: list[Any], now: float) -> None:
        _, _, seq, attempt, t, pid, segment, out_off, err_off = msg
        flight = self.inflight.get(seq)
        if flight is None or flight.attempt != attempt:
            return
        flight.started = True
        flight.started_at = t
        flight.pgid = pid or None
        child.segment = segment
        self.store.mark_started(seq, attempt, t, pid, segment, out_off, err_off)
        log.info("job.started", job_id=flight.job.id, attempt=attempt, child=child.id, pid=pid)
        self.emit("job.started", job_id=flight.job.id, attempt=attempt, child=child.id)

    def on_returned(self, child: ChildHandle, seq: int, attempt: int, now: float) -> None:
        flight = self.inflight.get(seq)
        if flight is None or flight.attempt != attempt:
            return
        self.unassign(child, seq)
        self.give_back(flight, now)

    def give_back(self, flight: InFlight, now: float, maybe_ran: bool = False) -> None:
        """An assigned job that never started: pending again as if never assigned (or
        cancelled, if that was asked for meanwhile).

        `maybe_ran`: its child died before confirming the start, and nothing of the job
        was found running. It most likely never started, but it may have run and exited:
        the attempt is kept, not counted, and says so."""
        seq = flight.job.seq
        cancel = flight.abort == "cancel"
        if maybe_ran:
            self.store.finish_attempt(
                seq, flight.attempt, now, exit_code=None, signal=None, timed_out=False,
                error=J.LOST_UNCONFIRMED, out_len=None, err_len=None, charged=False,
                new_state=J.CANCELLED if cancel else J.PENDING, run_at=None,
                last_error="cancelled" if cancel else J.LOST_UNCONFIRMED,
            )  # fmt: skip
            log.warning("job.lost_unconfirmed", job_id=flight.job.id, attempt=flight.attempt,
                        child=flight.child)  # fmt: skip
        else:
            self.store.return_unstarted(seq, flight.attempt, now)
            if cancel:
                self.store.cancel(seq, J.PENDING, now)
        if cancel:
            self.job_settled(seq, flight.job.id, J.CANCELLED)
        else:
            self.add_runnable(self.store.runnable(seq))

    def unassign(self, child: ChildHandle | None, seq: int) -> InFlight | None:
        flight = self.inflight.pop(seq, None)
        if child is not None and seq in child.assigned:
            child.assigned.remove(seq)
        return flight

    def on_finished(self, child: ChildHandle, fin: P.Finished, now: float) -> None:
        flight = self.inflight.get(fin.job_seq)
        if flight is None or flight.attempt != fin.attempt:
            return
        self.unassign(child, fin.job_seq)
        self.settle_attempt(flight, now, fin)

    def settle_attempt(self, flight: InFlight, now: float, fin: P.Finished) -> None:
        """Apply the outcome of an attempt: the retry policy lives here."""
        job = flight.job
        seq = job.seq
        duration_ms = round((fin.ended_at - flight.started_at) * 1000, 3) if flight.started_at else None
        common = dict(exit_code=fin.exit_code, signal=fin.signal, timed_out=fin.timed_out,
                      out_len=fin.out_len, err_len=fin.err_len)  # fmt: skip
        if flight.abort == "cancel" or fin.aborted == "cancel":
            self.store.finish_attempt(seq, flight.attempt, now, **common, error="cancelled",
                                      charged=False, new_state=J.CANCELLED, run_at=None,
                                      last_error="cancelled")  # fmt: skip
            log.info("job.cancelled", job_id=job.id, attempt=flight.attempt, child=flight.child)
            self.job_settled(seq, job.id, J.CANCELLED)
            return
        if fin.aborted == "shutdown":
            error = J.INTERRUPTED
            self.store.finish_attempt(seq, flight.attempt, now, **common, error=error,
                                      charged=False, new_state=J.PENDING, run_at=None,
                                      last_error=error)  # fmt: skip
            log.info("job.interrupted", job_id=job.id, attempt=flight.attempt, child=flight.child)
            self.emit("job.interrupted", job_id=job.id, attempt=flight.attempt)
            return
        success = fin.error is None and fin.exit_code == 0 and not fin.timed_out
        if success:
            self.store.finish_attempt(seq, flight.attempt, now, **common, error=None,
                                      charged=True, new_state=J.COMPLETED, run_at=None,
                                      last_error=None)  # fmt: skip
            self.throughput.record("completed", now)
            log.info("job.completed", job_id=job.id, attempt=flight.attempt, child=flight.child,
                     exit_code=0, duration_ms=duration_ms)  # fmt: skip
            self.job_settled(seq, job.id, J.COMPLETED, exit_code=0)
            return
        error = fin.error or J.describe_failure(fin.exit_code, fin.signal, fin.timed_out)
        charged = job.charged + 1
        outcome = J.after_failure(
            charged, job.max_retries, now, self.config["backoff_base"],
            self.config["backoff_max"], self.config["backoff_jitter"],
        )  # fmt: skip
        self.store.finish_attempt(seq, flight.attempt, now, **common, error=error, charged=True,
                                  new_state=outcome.state, run_at=outcome.run_at,
                                  last_error=error)  # fmt: skip
        job.charged = charged
        fields = dict(job_id=job.id, attempt=flight.attempt, child=flight.child,
                      exit_code=fin.exit_code, signal=fin.signal, error=error,
                      duration_ms=duration_ms)  # fmt: skip
        if outcome.state == J.DEAD:
            self.throughput.record("dead", now)
            log.warning("job.dead", **fields)
            self.job_settled(seq, job.id, J.DEAD, exit_code=fin.exit_code, error=error)
        else:
            assert outcome.run_at is not None
            self.throughput.record("failed", now)
            log.warning("job.failed", retry_in_s=round(outcome.run_at - now, 3), **fields)
            self.emit("job.failed", job_id=job.id, attempt=flight.attempt, error=error,
                      retry_at=J.format_time(outcome.run_at))  # fmt: skip
            self.add_timer(seq, outcome.run_at)

    def job_settled(self, seq: int, job_id: str, state: str, **fields: Any) -> None:
        """A job reached a final state: tell whoever waits for it (after commit)."""
        self.emit("job." + state, job_id=job_id, **fields)
        self.release_waiters(seq)

    def release_waiters(self, seq: int) -> None:
        """Answer everyone waiting for this job with its state after commit (None once
        it is deleted)."""
        waiters = self.waiters.pop(seq, None)
        if waiters:
            def notify() -> None:
                job = self.store.get_by_seq(seq)
                for waiter in waiters:
                    waiter.settled(job)

            self.out.after_commit.append(notify)

    def abandon_waiters(self) -> None:
        """The daemon stops: answer every wait that is still open."""
        waiters, self.waiters = self.waiters, {}
        for seq, pending in waiters.items():
            job = self.store.get_by_seq(seq)
            for waiter in pending:
                waiter.abandoned(job)

    def child_exited(self, child: ChildHandle, now: float) -> None:
        # Reports it sent before dying may still be queued: take them first.
        self.take_child_reports(now)
        t0 = time.monotonic()
        code = self.pool.reap(child)
        if child.left_processes:
            log.warning("child.job_processes_killed", child=child.id,
                        took_ms=round((time.monotonic() - t0) * 1000, 3))  # fmt: skip
        self.poller.unregister(child.pidfd)
        lost = [self.inflight[seq] for seq in child.assigned if seq in self.inflight]
        for flight in lost:
            self.settle_loss(flight, now)
        if child.stopping or self.shutting_down:
            log.info("child.exited", child=child.id, pid=child.pid, status=code)
        else:
            log.error("child.lost", child=child.id, pid=child.pid, status=code, jobs=len(lost))
            if not child.ready:
                # It died before saying hello (broken install, disk full...): back off.
                self.spawn_failures += 1
                self.respawn_at = time.monotonic() + min(2.0 ** self.spawn_failures, 60.0)
        self.emit("workers.changed", workers=len(self.pool.active()))
        if not self.shutting_down:
            self.scale_to(self.target_workers)

    def settle_loss(self, flight: InFlight, now: float) -> None:
        """The child holding this job is gone, and whatever its job left running has been
        killed (Pool.reap), so a retry never overlaps it."""
        seq = flight.job.seq
        self.inflight.pop(seq, None)
        dead = self.pool.departed.get(flight.child)
        if not flight.started and not (dead is not None and dead.left_processes):
            self.give_back(flight, now, maybe_ran=dead is not None)
            return
        if flight.pgid:
            # Its child can no longer kill the job's process group: we do, so nothing
            # runs unwatched and the retry never overlaps this attempt.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(flight.pgid, signal.SIGKILL)
        # The sizes of its output are unknown: the range stays open (`job.logs` reads to
        # the end of the segment, which no child writes any more).
        fin = P.Finished(flight.child, seq, flight.attempt, now, None, None, False,
                         "shutdown" if self.shutting_down else None, None, None,
                         J.WORKER_LOST)  # fmt: skip
        self.settle_attempt(flight, now, fin)

    # --- dispatch ---------------------------------------------------------------------------

    def dispatch(self, now: float) -> None:
        """Give each idle child the best runnable job. A child is never handed a job
        while it runs another: a job held behind a running one would wait while another
        worker sits idle, or run ahead of a higher-priority job that arrives meanwhile."""
        if not self.store.counts[J.PENDING]:
            return
        kill_grace = self.config["kill_grace"]
        for child in self.pool.ready():
            if child.assigned:
                continue
            job = self.pop_runnable()
            if job is None:
                return
            attempt = self.store.claim(job, child.id, now)
            self.inflight[job.seq] = InFlight(job, attempt, child.id)
            child.assigned.append(job.seq)
            self.out.assignments.append((child, [
                P.RUN, job.seq, attempt, job.id, job.command, job.timeout, job.cwd,
                job.env, kill_grace,
            ]))  # fmt: skip

    # --- workers ----------------------------------------------------------------------------

    def scale_to(self, n: int) -> None:
        self.target_workers = n
        active = self.pool.active()
        if len(active) < n:
            if time.monotonic() < self.respawn_at:
                return  # the loop comes back at respawn_at
            for _ in range(n - len(active)):
                child = self.pool.spawn()
                self.poller.register(child.pidfd, zmq.POLLIN)
                log.info("child.spawned", child=child.id, pid=child.pid)
        elif len(active) > n:
            # Idle children go first; busy ones finish their current job, then exit.
            victims = sorted(active, key=lambda c: len(c.assigned))[: len(active) - n]
            for child in victims:
                self.retire(child)
        self.emit("workers.changed", workers=n)

    def retire(self, child: ChildHandle) -> None:
        child.stopping = True
        # A job it was sent but has not started comes back to us (it answers RETURNED).
        self.out.after_commit.append(lambda: self.pool.send(child, [P.EXIT]))

    # --- requests ---------------------------------------------------------------------------

    def take_requests(self, now: float) -> None:
        for _ in range(1000):  # bounded, so children are never starved by a flood
            if self.out.reply_bytes > clients.TURN_REPLY_BYTES:
                return  # replies are held until the commit: the rest waits for the next turn
            try:
                frames = self.control.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.turn_requests.append(frames)
            self.handle_frames(frames, now)

    def handle_frames(self, frames: list[bytes], now: float) -> None:
        routing, body = split_envelope(frames)
        if len(body) != 1:
            err = P.RpcError(P.INVALID_REQUEST, "send one JSON-RPC request per ZeroMQ message (one frame)")
            self.reply(routing, P.error_response(None, err))
            return
        self.handle_payload(routing, body[0], now)

    def reply(self, routing: list[bytes], doc: Any) -> None:
        payload = b"" if doc is None else P.encode(doc)
        self.out.replies.append((routing, payload))
        self.out.reply_bytes += len(payload)

    def handle_payload(self, routing: list[bytes], payload: bytes, now: float) -> None:
        try:
            doc = P.decode_payload(payload)
        except P.RpcError as err:
            self.reply(routing, P.error_response(None, err))
            return
        if isinstance(doc, list):
            if not doc:
                self.reply(routing, P.error_response(None, P.RpcError(P.INVALID_REQUEST, "empty batch")))
                return
            if len(doc) > P.MAX_BATCH:
                err = P.RpcError(P.INVALID_REQUEST, f"a batch may hold at most {P.MAX_BATCH} requests")
                self.reply(routing, P.error_response(None, err))
                return
            pending = PendingReply(routing, self.reply, len(doc), batch=True)
            for index, item in enumerate(doc):
                self.call_one(item, pending, index, now)
            return
        self.call_one(doc, PendingReply(routing, self.reply, 1, batch=False), 0, now)

    def call_one(self, obj: Any, pending: PendingReply, index: int, now: float) -> None:
        """Run one request; its answer goes to `pending` now, or later if it is deferred."""
        try:
            req = P.parse_request(obj)
        except P.RpcError as err:
            pending.answer(index, P.error_response(P.request_id_of(obj), err))
            return
        if req.expires_at is not None and now > req.expires_at:
            # Its client has given up (or this daemon was paused): running it now would
            # do what the client was told had failed.
            err = P.RpcError(P.REQUEST_EXPIRED, "the request expired before the daemon read it",
                             {"expires_at": req.expires_at})  # fmt: skip
            pending.answer(index, None if req.is_notification else P.error_response(req.id, err))
            return

        def deferred_reply(result: Any = None, error: P.RpcError | None = None) -> None:
            if not req.is_notification:
                doc = P.error_response(req.id, error) if error else P.result_response(req.id, result)
                pending.answer(index, doc)

        self.current_now = now
        self.store.db.execute("SAVEPOINT request")
        try:
            result = rpc.call(self, req.method, req.params, deferred_reply)
        except P.RpcError as err:
            self.store.db.execute("RELEASE request")
            pending.answer(index, None if req.is_notification else P.error_response(req.id, err))
            return
        except sqlite3.Error:
            raise  # the whole turn fails: recover_turn answers each request on its own
        except Exception as exc:  # a bug: answer it, keep serving
            self.store.db.execute("ROLLBACK TO request")
            self.store.db.execute("RELEASE request")
            self.store.reload_counts()
            log.exception("rpc.internal_error", method=req.method)
            err = P.RpcError(P.INTERNAL_ERROR, f"internal error in {req.method}: {exc}")
            pending.answer(index, None if req.is_notification else P.error_response(req.id, err))
            return
        self.store.db.execute("RELEASE request")
        if req.is_notification:
            pending.answer(index, None)
        elif result is not rpc.Deferred:
            pending.answer(index, P.result_response(req.id, result))

    # --- signals, shutdown, housekeeping ---------------------------------------------------

    def handle_signals(self, now: float) -> None:
        if self.stop_requested and not self.shutting_down:
            self.begin_shutdown("signal")
        if self.reload_requested:
            self.reload_requested = False
            self.reload_config()
        deadline = self.shutdown_deadline
        if self.shutting_down and not self.abort_sent and deadline is not None and time.monotonic() >= deadline:
            self.abort_running("shutdown")

    def reload_config(self) -> None:
        self.notifier.reloading()
        stored = self.store.config_load()
        for key, value in stored.items():
            try:
                self.apply_setting(key, settings.check(key, value))
            except ValidationError as exc:  # edited by hand into something invalid
                log.warning("config.invalid", key=key, error=str(exc))
        log.info("daemon.reloaded", config=self.config)
        self.notifier.ready()

    def apply_setting(self, key: str, value: Any) -> None:
        self.config[key] = value
        if key == "workers":
            self.scale_to(value)
        elif key == "synchronous":
            self.out.after_commit.append(lambda: self.store.set_synchronous(value))

    def begin_shutdown(self, why: str) -> None:
        self.shutting_down = True
        self.stop_requested = True
        self.notifier.stopping()
        grace = self.config["shutdown_grace"]
        self.shutdown_deadline = time.monotonic() + grace
        log.info("daemon.stopping", reason=why, grace_s=grace, running=len(self.inflight))
        for child in list(self.pool.children.values()):
            self.retire(child)
        if not self.inflight:
            self.shutdown_deadline = time.monotonic()

    def abort_running(self, reason: str) -> None:
        self.abort_sent = True
        for flight in self.inflight.values():
            child = self.pool.children.get(flight.child)
            if child is not None:
                self.out.after_commit.append(
                    lambda c=child, s=flight.job.seq: self.pool.send(c, [P.ABORT, s, reason])
                )
        self.kill_deadline = time.monotonic() + self.config["kill_grace"] + 5.0

    def housekeeping(self, mono: float) -> None:
        self.reserve.ensure()
        self.replies.forget_idle()
        if self.guard.paused:
            self.guard_connections()
        limit = self.config["worker_silence_limit"]
        for child in list(self.pool.children.values()):
            silent = mono - max(child.last_seen, self.listening_since)
            if silent > limit:
                log.error("child.unresponsive", child=child.id, pid=child.pid, silent_s=round(silent))
                self.pool.kill(child)
        if self.abort_sent and mono > getattr(self, "kill_deadline", float("inf")):
            for child in list(self.pool.children.values()):
                self.pool.kill(child)
        self.update_status()

    def update_status(self) -> None:
        c = self.store.counts
        busy = sum(1 for ch in self.pool.children.values() if ch.assigned)
        self.notifier.status(
            f"{len(self.pool.active())} workers ({busy} busy), {c[J.PENDING]} pending, "
            f"{c[J.PROCESSING]} running, {c[J.SCHEDULED] + c[J.FAILED]} waiting, {c[J.DEAD]} dead"
        )

    def take_subscriptions(self) -> None:
        while True:
            try:
                msg = self.events.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if msg[:1] == b"\x01":
                self.subscriptions += 1
            elif msg[:1] == b"\x00":
                self.subscriptions = max(0, self.subscriptions - 1)

    @property
    def has_subscribers(self) -> bool:
        return self.subscriptions > 0

    def emit(self, event: str, **fields: Any) -> None:
        if not self.subscriptions:
            return
        self.event_seq += 1
        fields["event"] = event
        fields["time"] = J.format_time(time.time())
        fields["seq"] = self.event_seq  # consecutive: a gap tells a subscriber it lost events
        self.out.events.append(fields)

    def finish(self) -> None:
        # Every open wait gets its answer before the socket goes (a client must not be
        # left to find out by its own timeout); linger so those replies are delivered.
        self.abandon_waiters()
        last_replies = bool(self.out.replies)
        self.flush()
        if last_replies:
            # A client socket with ZMQ_IMMEDIATE drops a reply still unread when the
            # connection closes: give clients a moment to read their last answers.
            time.sleep(0.2)
        self.control.close(linger=2000)
        log.info("daemon.stopped", counts=self.store.counts)
        self.store.close()
        for path in (self.paths.socket, self.paths.events_socket, self.paths.results_socket,
                     self.paths.pidfile):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self.ctx.destroy(linger=0)
        containment.remove_cgroup_base(self.cgroup_base)
        os.close(self.lock_fd)
