"""The pool of worker children, as the daemon sees it: spawn, talk to, reap.

Each child gets its own PUSH socket (bound here, on a Unix socket in the
runtime dir) for assignments; all children report on the daemon's one PULL
socket. A child is a fresh interpreter, never a fork of this process (which
holds a ZeroMQ context), and runs in its own session so a terminal's Ctrl+C
reaches only the daemon, which then drains the children in order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import zmq

from queuectl.daemon import containment, wire
from queuectl.paths import Paths


@dataclass(slots=True)
class ChildHandle:
    id: int
    proc: subprocess.Popen[bytes]
    pidfd: int
    push: zmq.Socket[bytes]
    socket_path: str
    ready: bool = False  # said hello: its PULL is connected
    stopping: bool = False  # told to exit: no new work
    said_bye: bool = False  # exiting on its own terms (told to)
    last_seen: float = 0.0
    spawned_at: float = 0.0
    segment: str | None = None  # its current log segment
    cgroup: str | None = None  # its cgroup v2 group (None: containment by subreaper)
    containment: str | None = None  # as it reported in its hello
    left_processes: bool = False  # once dead: whether its job's processes were still running

    @property
    def pid(self) -> int:
        return self.proc.pid


class Pool:
    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], paths: Paths, epoch: int, segment_size: int, job_umask: int,
                 cgroup_base: Path | None = None):  # fmt: skip
        self.job_umask = job_umask
        self.cgroup_base = cgroup_base
        self.ctx = ctx
        self.paths = paths
        self.epoch = epoch
        self.segment_size = segment_size
        self.children: dict[int, ChildHandle] = {}
        self.by_pidfd: dict[int, ChildHandle] = {}
        # Recently exited children, so their last reports can still be applied.
        self.departed: dict[int, ChildHandle] = {}
        self._next_id = 1

    def spawn(self) -> ChildHandle:
        child_id = self._next_id
        self._next_id += 1
        sock_path = self.paths.child_socket(child_id)
        with contextlib.suppress(FileNotFoundError):
            sock_path.unlink()
        push = self.ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 0)
        push.setsockopt(zmq.SNDHWM, 16)
        push.bind(self.paths.endpoint(sock_path))
        cmd = [
            sys.executable, "-m", "queuectl.daemon.child",
            "--id", str(child_id),
            "--assign", self.paths.endpoint(sock_path),
            "--results", self.paths.endpoint(self.paths.results_socket),
            "--logs", str(self.paths.logs_dir),
            "--epoch", str(self.epoch),
            "--parent", str(os.getpid()),
            "--lock", str(self.paths.children_lock),
            "--segment-size", str(self.segment_size),
            "--umask", str(self.job_umask),
        ]  # fmt: skip
        cgroup = str(self.cgroup_base / f"child-{child_id}") if self.cgroup_base else None
        if cgroup:
            cmd += ["--cgroup", cgroup]
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True
        )
        pidfd = os.pidfd_open(proc.pid)
        now = time.monotonic()
        child = ChildHandle(child_id, proc, pidfd, push, str(sock_path), last_seen=now,
                            spawned_at=now, cgroup=cgroup)  # fmt: skip
        self.children[child_id] = child
        self.by_pidfd[pidfd] = child
        return child

    def send(self, child: ChildHandle, msg: wire.ToChild) -> bool:
        try:
            child.push.send(wire.encode(msg), zmq.NOBLOCK)
            return True
        except zmq.Again:
            return False  # its queue is full: it is wedged; the heartbeat check will see

    def reap(self, child: ChildHandle) -> int | None:
        """Forget a child that exited, and kill what its job left running (a child killed
        mid-job cannot); returns its exit status."""
        code = child.proc.wait()
        self.by_pidfd.pop(child.pidfd, None)
        self.children.pop(child.id, None)
        self.departed[child.id] = child
        while len(self.departed) > 64:
            self.departed.pop(next(iter(self.departed)))
        os.close(child.pidfd)
        child.push.close(linger=0)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(child.socket_path)
        if child.cgroup:
            child.left_processes = containment.kill_cgroup(Path(child.cgroup))
        else:
            known = {c.pid for c in self.children.values()}
            child.left_processes = containment.kill_adopted(known) > 0
        return code

    def kill(self, child: ChildHandle) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.proc.send_signal(signal.SIGKILL)

    def active(self) -> list[ChildHandle]:
        """Children that count toward the pool size (not on their way out)."""
        return [c for c in self.children.values() if not c.stopping]

    def ready(self) -> list[ChildHandle]:
        return [c for c in self.children.values() if c.ready and not c.stopping]
