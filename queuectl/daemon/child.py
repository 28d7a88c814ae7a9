"""A worker child: runs one job at a time for the daemon. Never touches the database.

Started by the daemon as a fresh interpreter (`python -m queuectl.daemon.child`).
It receives assignments on its own PULL socket, runs each with `sh -c` in a new
session (so the whole process group can be killed), takes its stdout/stderr
through pipes into this child's append-only log segments, up to the attempt's
output limit (capture.py), and reports
started/finished/heartbeat on a PUSH socket. It holds at most one job waiting
behind the running one (the daemon hands it out ahead while every worker is busy,
and takes it back with Revoke if that would keep it waiting).

When the daemon dies, the kernel sends us SIGTERM (PR_SET_PDEATHSIG) and we
kill our job's process group and exit, so no job runs that nobody watches.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import os
import select
import signal
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, cast

import zmq

from queuectl import fsguard
from queuectl.daemon import wire
from queuectl.daemon.capture import Capture, stdin_fd
from queuectl.daemon.containment import JobProcesses
from queuectl.daemon.segments import LogSegments

START_HOLD = 0.002  # seconds a lone start report may wait for its job's end (hold_start)
HEARTBEAT_SECONDS = 2.0
REFUSED = 9  # exit status when a socket or file is not the daemon's (as the CLI's code 9)
PR_SET_PDEATHSIG = 1
ZMQ_POLLIN = int(zmq.POLLIN)  # (plain ints: the enums' & and | are Python code)
ZMQ_SNDMORE = int(zmq.SNDMORE)


@dataclass(slots=True)
class Running:
    job: wire.Run
    pid: int  # the job's shell; also its process group id (it leads a new session)
    pidfd: int
    started_at: float
    deadline: float | None  # monotonic time the timeout expires
    out_off: int
    err_off: int
    capture: Capture
    timed_out: bool = False
    aborted: str | None = None
    kill_at: float | None = None  # monotonic time to escalate to SIGKILL


def _set_parent_death_signal() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the heartbeat's parent check still catches the daemon's death


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class Child:
    def __init__(self, args: argparse.Namespace):
        self.id = args.id
        self.parent = args.parent
        self.ctx = zmq.Context()
        self.pull = self.ctx.socket(zmq.PULL)
        self.pull.setsockopt(zmq.LINGER, 0)
        self.pull.connect(args.assign)
        self.push = self.ctx.socket(zmq.PUSH)
        self.push.setsockopt(zmq.LINGER, 2000)
        self.push.connect(args.results)
        self.logs = LogSegments(args.logs, args.epoch, args.id, args.segment_size)
        self.procs = JobProcesses(args.cgroup)
        self.queue: deque[wire.Run] = deque()
        self.running: Running | None = None
        self.exiting = False
        self.terminated = False
        self.base_env = dict(os.environ)
        self.outbox: list[bytes] = []
        self.hold_until: float | None = None  # a lone start report waits until then (see hold_start)
        self.home_dir = os.path.expanduser("~")
        self.devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        # Signals wake the poll through this socketpair (the handler itself only sets a flag).
        self.wake_r, wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        wake_w.setblocking(False)
        signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        self._wake_w = wake_w
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def _on_term(self, signum: int, frame: Any) -> None:
        self.terminated = True

    def send(self, msg: wire.FromChild) -> None:
        # Reports of one loop turn (a job finished, the next started) travel as the frames
        # of one message: one wake-up of the daemon instead of two.
        self.outbox.append(wire.encode(msg))

    def flush(self) -> None:
        self.hold_until = None
        if self.outbox:
            for frame in self.outbox[:-1]:  # (send_multipart: the same, after Python type checks)
                self.push.send(frame, ZMQ_SNDMORE)
            self.push.send(self.outbox[-1])
            self.outbox = []

    def hold_start(self, just_started: bool) -> bool:
        """Hold the report of a job that just started, alone, for START_HOLD seconds: a
        short job ends by then, and its start and end go to the daemon as one message
        (one turn and one write there instead of two). Its start time is the spawn's
        either way; only the report waits. Nothing else is ever held."""
        if self.hold_until is not None:  # (its job ended: hold_start is not asked again)
            return time.monotonic() < self.hold_until
        if just_started and len(self.outbox) == 1 and self.running is not None:
            self.hold_until = time.monotonic() + START_HOLD
            return True
        return False

    # --- running a job ----------------------------------------------------------------

    def start_next(self) -> bool:
        """Start the next job if we are free; True if one started."""
        started = False
        while self.queue and self.running is None and not self.terminated:
            job = self.queue.popleft()
            out_off, err_off = self.logs.rotate_if_full(job.rotate_after)
            env = self.base_env.copy()
            if job.env:
                env.update(job.env)
            if job.hook is None:
                env["QUEUECTL_JOB_ID"] = job.job_id
            else:  # (QUEUECTL_JOB_ID, from its env, is the job it reports on)
                env["QUEUECTL_HOOK_ID"] = job.job_id
            env["QUEUECTL_ATTEMPT"] = str(job.attempt)
            env["QUEUECTL_QUEUE"] = job.queue
            env["QUEUECTL_SLOT"] = job.slot
            now = time.time()
            capture = None
            try:
                capture = Capture(self.logs.out_fd, self.logs.err_fd, job.max_output)
                pid = self.spawn(job, env, capture)
            except OSError as exc:
                if capture is not None:
                    capture.finish()
                # Could not even start (a missing cwd, say): a failed attempt, reported as such.
                self.send(wire.Started(self.id, job.seq, job.attempt, now, 0, self.logs.name,
                                       out_off, err_off))  # fmt: skip
                self.send(wire.Finished(self.id, job.seq, job.attempt, time.time(), None, None, False,
                                        None, 0, 0, f"could not start: {exc.strerror or exc}"))  # fmt: skip
                continue
            capture.spawned()
            pidfd = os.pidfd_open(pid)
            deadline = time.monotonic() + job.timeout if job.timeout else None
            self.running = Running(job, pid, pidfd, now, deadline, out_off, err_off, capture)
            self.poller.register(pidfd, select.POLLIN)
            for r in capture.readers():
                self.poller.register(r, select.POLLIN)
            self.send(wire.Started(self.id, job.seq, job.attempt, now, pid, self.logs.name,
                                   out_off, err_off))  # fmt: skip
            started = True
        return started

    def spawn(self, job: wire.Run, env: dict[str, str], capture: Capture) -> int:
        """`sh -c COMMAND` in a new session, stdout/stderr into the capture's pipes.

        posix_spawn (vfork + exec) costs less than subprocess.Popen; the working
        directory is set by changing ours first, which nothing else here depends on.
        """
        os.chdir(job.cwd or self.home_dir)
        stdin = self.devnull if job.stdin is None else stdin_fd(job.stdin)
        try:
            return os.posix_spawn(
                "/bin/sh", ["/bin/sh", "-c", job.command], env,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, stdin, 0),
                    (os.POSIX_SPAWN_DUP2, capture.stdout_w, 1),
                    (os.POSIX_SPAWN_DUP2, capture.stderr_w, 2),
                ],
                setsid=True,
                # Python ignores SIGPIPE (and we SIGHUP); a job must start with the defaults.
                setsigdef=(signal.SIGPIPE, signal.SIGHUP, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM),
            )  # fmt: skip
        finally:
            if stdin != self.devnull:
                os.close(stdin)

    def reap(self) -> None:
        run = self.running
        assert run is not None
        # Kill whatever the shell left in its process group before reaping the shell,
        # so its pid (the group id) cannot be reused in between.
        _killpg(run.pid, signal.SIGKILL)
        _, status = os.waitpid(run.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        self.poller.unregister(run.pidfd)
        os.close(run.pidfd)
        self.running = None
        # Then whatever left the group (setsid, double forks): nothing of this job may
        # run on, or write into the next job's range of our segments.
        self.procs.clear()
        for r in run.capture.readers():
            self.poller.unregister(r)
        capture = run.capture
        capture.finish()  # what is still in the pipes, then EOF or EPIPE for any straggler
        self.logs.grew(capture.out_len, capture.err_len)
        exit_code, sig = (code, None) if code >= 0 else (None, -code)
        msg = wire.Finished(
            self.id, run.job.seq, run.job.attempt, time.time(), exit_code, sig, run.timed_out,
            run.aborted, capture.out_len, capture.err_len, None, capture.dropped,
        )  # fmt: skip
        self.send(msg)

    def take_output(self, events: dict[int, int]) -> None:
        """Drain the job's pipes that have something (or are at EOF)."""
        assert self.running is not None
        capture = self.running.capture
        for r in capture.readers():
            if r in events and not capture.drain(r):
                self.poller.unregister(r)  # (drain closed it: EOF)

    def kill_running(self, reason: str | None, timed_out: bool = False) -> None:
        run = self.running
        if run is None or run.kill_at is not None:
            return
        run.timed_out = timed_out
        run.aborted = reason
        self.procs.signal_all(signal.SIGTERM, run.pid)
        # A fenced daemon (docs/postgres.md) must stop its jobs before its lease lapses:
        # no grace, SIGKILL at the next timer check.
        grace = 0.0 if reason == wire.FENCED else run.job.kill_grace
        run.kill_at = time.monotonic() + grace

    def check_timers(self) -> None:
        run = self.running
        if run is None:
            return
        now = time.monotonic()
        if run.kill_at is not None:
            if now >= run.kill_at:
                self.procs.signal_all(signal.SIGKILL, run.pid)
                run.kill_at = float("inf")  # sent; wait for the exit
        elif run.deadline is not None and now >= run.deadline:
            self.kill_running(None, timed_out=True)

    def next_timeout_ms(self) -> int:
        wait = HEARTBEAT_SECONDS
        if self.hold_until is not None:
            wait = min(wait, self.hold_until - time.monotonic())
        run = self.running
        if run is not None:
            now = time.monotonic()
            if run.kill_at is not None and run.kill_at != float("inf"):
                wait = min(wait, run.kill_at - now)
            elif run.kill_at is None and run.deadline is not None:
                wait = min(wait, run.deadline - now)
        return max(0, int(wait * 1000) + 1)

    # --- messages from the daemon --------------------------------------------------------

    def handle(self, msg: wire.Message) -> None:
        if isinstance(msg, wire.Run):
            self.queue.append(msg)
        elif isinstance(msg, wire.Abort):
            if self.running is not None and self.running.job.seq == msg.seq:
                self.kill_running(msg.reason)
            else:
                self.hand_back(msg.seq)
        elif isinstance(msg, wire.Revoke):
            self.hand_back(msg.seq)  # (started already: it runs on, reported as usual)
        elif isinstance(msg, wire.Exit):
            self.exiting = True

    def receive(self) -> None:
        """Everything the PULL socket holds (its EVENTS, asked last, re-arms its descriptor)."""
        pull = self.pull
        while cast(int, pull.getsockopt(zmq.EVENTS)) & ZMQ_POLLIN:
            raw = pull.recv(zmq.NOBLOCK)
            try:
                self.handle(wire.decode(raw))
            except wire.WireError:
                continue  # only the daemon can write this socket; never from it

    def hand_back(self, seq: int) -> None:
        """Give a job waiting behind the running one back to the daemon, unstarted."""
        for job in list(self.queue):
            if job.seq == seq:
                self.queue.remove(job)
                self.send(wire.Returned(self.id, job.seq, job.attempt))

    def return_queued(self) -> None:
        while self.queue:
            job = self.queue.popleft()
            self.send(wire.Returned(self.id, job.seq, job.attempt))

    def run(self) -> int:
        # A plain poll(2) on ZeroMQ's own descriptor for the PULL socket, not zmq.Poller:
        # that one builds its item list and asks each socket for its events before and
        # after every wait (about 40 µs a job). The descriptor only says that the socket
        # may have changed (edge-triggered): after it fires, read until EVENTS has no POLLIN.
        self.poller = select.poll()
        pull_fd = cast(int, self.pull.getsockopt(zmq.FD))
        wake_fd = self.wake_r.fileno()
        self.poller.register(pull_fd, select.POLLIN)
        self.poller.register(wake_fd, select.POLLIN)
        self.send(wire.Hello(self.id, os.getpid(), self.procs.mode))
        last_beat = time.monotonic()
        self.receive()  # (whatever came before the first wait)
        while True:
            if self.terminated:
                # The daemon is gone (or we were told to die): no job may outlive us.
                self.procs.signal_all(signal.SIGKILL, self.running.pid if self.running else None)
                self.procs.clear()
                self.flush()
                return 0
            if self.exiting and self.running is None:
                self.return_queued()
                self.send(wire.Bye(self.id))
                self.flush()
                return 0
            if not self.hold_start(self.start_next()):
                self.flush()
            events = dict(self.poller.poll(self.next_timeout_ms()))
            if wake_fd in events:
                with contextlib.suppress(BlockingIOError):
                    self.wake_r.recv(4096)
            if pull_fd in events:
                self.receive()
            if self.running is not None:
                self.take_output(events)
            if self.running is not None and self.running.pidfd in events:
                self.reap()
                self.flush()  # (with the start report, if held: one message)
            self.check_timers()
            now = time.monotonic()
            if now - last_beat >= HEARTBEAT_SECONDS:
                last_beat = now
                if os.getppid() != self.parent:
                    self.terminated = True
                    continue
                self.send(wire.Heartbeat(self.id))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="queuectl-child")
    parser.add_argument("--id", type=int, required=True)
    parser.add_argument("--assign", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("--logs", required=True)
    parser.add_argument("--epoch", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--lock", required=True)
    parser.add_argument("--segment-size", type=int, default=64 * 1024 * 1024)
    parser.add_argument("--umask", type=int, default=None, help="the umask jobs run with")
    parser.add_argument("--cgroup", default=None, help="our cgroup v2 group (jobs inherit it)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    _set_parent_death_signal()
    if args.umask is not None:
        os.umask(args.umask)  # the daemon's own is 077; jobs get the one it was started with
    if os.getppid() != args.parent:
        return 1  # the daemon died before we could ask to be told
    try:
        # Talk only to the daemon that started us: its sockets are in a directory only our
        # user can write, owned by us, and listened on by that very process (SO_PEERCRED).
        for endpoint in (args.assign, args.results):
            fsguard.check_listener(endpoint.removeprefix("ipc://"), args.parent)
        # A shared lock held for our whole life: a new daemon takes it exclusively before
        # dispatching, so it never runs a job while a previous daemon's child still runs one.
        lock_fd = fsguard.open_nofollow(args.lock, os.O_RDWR | os.O_CREAT)
        fcntl.flock(lock_fd, fcntl.LOCK_SH)
        child = Child(args)  # opens its first log segments, checked the same way
    except fsguard.UnsafePath as exc:
        print(f"queuectl child {args.id}: {exc}", file=sys.stderr, flush=True)
        return REFUSED
    try:
        return child.run()
    finally:
        child.logs.close()
        child.ctx.destroy(linger=2000)


if __name__ == "__main__":
    sys.exit(main())
