"""Keeping every process a job starts inside that job, so none outlives it.

A process group is not enough: `setsid cmd &` leaves it, and would then run on
after the job's timeout, cancel or the daemon's shutdown, writing into the log
range of the next job. Two modes, chosen at the daemon's start:

- ``cgroup``: each worker child lives in its own cgroup v2 group
  (``<the daemon's cgroup>/queuectl-<id>/child-N``) and its jobs inherit it. No
  process leaves a cgroup on its own, however it daemonizes, so "every process of
  this job" is the group's member list minus the child itself. Needs a cgroup v2
  tree the daemon may write: the system and user units set ``Delegate=yes``; a
  daemon started by hand as root works too.
- ``subreaper``: the worker child (and the daemon above it) is a child subreaper
  (PR_SET_CHILD_SUBREAPER): a process whose parent exits is re-parented to the
  nearest subreaper instead of init, so every descendant that outlives the job's
  shell comes back to the child, which kills it. The fallback wherever the cgroup
  tree is not ours.

In both, the child kills what its job left before it reports the job finished,
and the daemon kills what a dead child left before it gives the job to anyone
else: two attempts of one job never overlap.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import signal
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
CGROUP = "cgroup"
SUBREAPER = "subreaper"
CLEAR_TIMEOUT = 5.0  # seconds to wait for killed processes to be gone


def set_child_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def children_of_self() -> list[int]:
    """This process's children: re-parented orphans land on the thread group leader."""
    pid = os.getpid()
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _reread_pids(fd: int, limit: int = 65536) -> list[int] | None:
    """The pids in a kernel list kept open (cgroup.procs, /proc/.../children): a read from
    offset 0 lists them afresh (the kernel restarts its walk there), 0.8 µs against 21 for
    opening and reading the file each time. None when it cannot be read or is longer than
    `limit` (thousands of processes left: the caller reads the whole file)."""
    try:
        data = os.pread(fd, limit, 0)
    except OSError:
        return None
    return [int(p) for p in data.split()] if len(data) < limit else None


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


# --- the cgroup v2 tree ---------------------------------------------------------------


def cgroup2_mount() -> Path | None:
    """Where the unified (v2) hierarchy is mounted, if anywhere."""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if right.split(" ", 1)[0] == "cgroup2":
                    return Path(left.split()[4])
    except OSError:
        pass
    return None


def own_cgroup() -> str | None:
    """This process's cgroup v2 path ("0::/some/path" in /proc/self/cgroup)."""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        pass
    return None


def cgroup_members(group: Path) -> list[int]:
    try:
        with open(group / "cgroup.procs") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def kill_cgroup(group: Path, timeout: float = CLEAR_TIMEOUT) -> bool:
    """SIGKILL every process in `group` and wait until it is empty; then remove it.
    Returns whether anything was running in it."""
    members = cgroup_members(group)
    if members:
        try:
            (group / "cgroup.kill").write_text("1")
        except OSError:  # a kernel before 5.14: one by one
            for pid in members:
                _kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while (left := cgroup_members(group)) and time.monotonic() < deadline:
            for pid in left:
                _reap(pid)  # orphans re-parented to us are our zombies to collect
            time.sleep(0.002)
    with contextlib.suppress(OSError):
        group.rmdir()
    return bool(members)


def prepare_cgroup_base(state_dir: Path) -> Path | None:
    """The daemon's own group for its children's groups, made fresh; None when the
    cgroup v2 tree is not ours to write (then containment is by subreaper).

    Named after the state directory, so a daemon restarted after a crash finds (and
    kills) whatever its predecessor's jobs left."""
    mount, own = cgroup2_mount(), own_cgroup()
    if mount is None or own is None:
        return None
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:12]
    base = mount / own.lstrip("/") / f"queuectl-{digest}"
    try:
        base.mkdir(mode=0o755, exist_ok=True)
        probe = base / "probe"
        probe.mkdir(exist_ok=True)
        probe.rmdir()
    except OSError:
        return None
    for leftover in base.glob("child-*"):
        kill_cgroup(leftover)
    return base


def remove_cgroup_base(base: Path | None) -> None:
    if base is not None:
        for leftover in base.glob("child-*"):
            kill_cgroup(leftover)
        with contextlib.suppress(OSError):
            base.rmdir()


# --- in the worker child ----------------------------------------------------------------


class JobProcesses:
    """Every process of the child's current job, whichever mode contains them."""

    def __init__(self, cgroup: str | None):
        self.own_pid = os.getpid()
        set_child_subreaper()  # in both modes: orphans come to us to be reaped
        self.group: Path | None = None
        self.procs_fd = -1  # our group's cgroup.procs, kept open: read once per job
        self.children_fd = -1  # our children list, kept open the same way
        if cgroup:
            group = Path(cgroup)
            try:
                group.mkdir(mode=0o755, exist_ok=True)
                (group / "cgroup.procs").write_text("0")  # move ourselves in; jobs inherit it
                self.procs_fd = os.open(group / "cgroup.procs", os.O_RDONLY | os.O_CLOEXEC)
                self.group = group
            except OSError:
                self.group = None
        self.mode = CGROUP if self.group is not None else SUBREAPER
        with contextlib.suppress(OSError):
            path = f"/proc/{self.own_pid}/task/{self.own_pid}/children"
            self.children_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def others(self) -> list[int]:
        """Processes of the job still alive (never this child itself)."""
        if self.group is not None:
            return [p for p in self._members() if p != self.own_pid]
        return self._children()

    def _members(self) -> list[int]:
        assert self.group is not None
        listed = _reread_pids(self.procs_fd)
        return cgroup_members(self.group) if listed is None else listed

    def _children(self) -> list[int]:
        listed = _reread_pids(self.children_fd)
        return children_of_self() if listed is None else listed

    def signal_all(self, sig: int, pgid: int | None) -> None:
        """Signal the job's process group and every other process it left around."""
        if pgid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
        for pid in self.others():
            _kill(pid, sig)

    def clear(self, timeout: float = CLEAR_TIMEOUT) -> int:
        """Kill everything the job left and wait until it is gone (so nothing writes
        into the next job's log range). Returns how many processes were killed."""
        killed: set[int] = set()
        deadline = time.monotonic() + timeout
        while True:
            left = self.others()
            if not left:
                break
            for pid in left:
                _kill(pid, signal.SIGKILL)
                killed.add(pid)
            self.reap_zombies()
            if time.monotonic() > deadline:
                break
            time.sleep(0.001)
        # Zombies to collect? Our children list shows them (cgroup.procs does not), and a
        # read of it costs less than the exception of a waitpid that finds none.
        if killed or self.children_fd < 0 or (self.group is not None and self._children()):
            self.reap_zombies()
        return len(killed)

    @staticmethod
    def reap_zombies() -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return


# --- in the daemon ------------------------------------------------------------------------


def kill_adopted(known: set[int], timeout: float = CLEAR_TIMEOUT) -> int:
    """Subreaper mode: processes re-parented to the daemon (left by a worker child that
    died) are jobs nobody watches any more: kill and reap them. `known` are the
    daemon's own children (its workers). Returns how many were killed."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while True:
        adopted = [p for p in children_of_self() if p not in known]
        if not adopted:
            return len(killed)
        for pid in adopted:
            _kill(pid, signal.SIGKILL)
            killed.add(pid)
        for pid in adopted:
            _reap(pid)
        if time.monotonic() > deadline:
            return len(killed)
        time.sleep(0.001)
