"""Starting the daemon: trusted directories, the single-daemon lock, waiting for a
crashed predecessor's children, choosing how jobs are contained, and signals.
Everything here runs once, before the loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import stat
import time
from pathlib import Path
from types import FrameType

from queuectl import fsguard
from queuectl.daemon import containment
from queuectl.paths import Paths, check_socket_path


class StartupError(Exception):
    """The daemon cannot start (socket path too long, children still running, ...)."""


class AlreadyRunning(StartupError):
    """Another daemon holds the state directory's lock."""


def prepare_dirs(paths: Paths) -> int | None:
    """Check and make the state and runtime directories; returns the group that may use
    the sockets (the system service's layout), if any.

    Trust nothing on disk another user could have made (fsguard; docs/operations.md,
    "Threat model"): a refusal raises fsguard.UnsafePath, exit code 9."""
    fsguard.prepare_state_dirs(paths)
    runtime = paths.runtime_dir
    # Whoever reaches the control socket can run commands as us. A directory made by
    # systemd (RuntimeDirectory=) keeps its RuntimeDirectoryMode=: with group access
    # (the system unit's 0750) the sockets are for that group too; else only for us.
    given = os.environ.get("RUNTIME_DIRECTORY", "").split(":")
    managed = paths.is_system or str(runtime) in {os.path.normpath(p) for p in given if p}
    st = fsguard.prepare_runtime_dir(paths, managed)
    check_socket_path(paths.socket)
    fsguard.check_state_files(paths)
    return st.st_gid if managed and st.st_mode & stat.S_IXGRP else None


def take_lock(paths: Paths) -> int:
    """The state directory's exclusive lock (held for the daemon's life); its fd."""
    fd = fsguard.open_nofollow(paths.lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            pid = os.read(fd, 32).decode().strip() or "?"
        except OSError:
            pid = "?"
        os.close(fd)
        raise AlreadyRunning(
            f"another queuectl daemon (pid {pid}) is already running on {paths.state_dir}"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def wait_for_old_children(paths: Paths, timeout: float = 15.0) -> None:
    """Children of a killed daemon kill their jobs and exit on their own; wait for that
    (they hold a shared lock on children.lock) before running anything."""
    fd = fsguard.open_nofollow(paths.children_lock, os.O_RDWR | os.O_CREAT)
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
                        f"see `fuser {paths.children_lock}`"
                    ) from None
                time.sleep(0.02)
    finally:
        os.close(fd)


def choose_containment(state_dir: Path) -> tuple[str, Path | None]:
    """How jobs are contained (containment.py): a cgroup per child where we may write
    the cgroup tree (this also kills what a crashed predecessor's jobs left), else by
    subreaper; QUEUECTL_CONTAINMENT=auto|cgroup|subreaper decides. Before any job runs."""
    containment.set_child_subreaper()
    wanted = os.environ.get("QUEUECTL_CONTAINMENT", "auto")
    if wanted not in ("auto", containment.CGROUP, containment.SUBREAPER):
        raise StartupError(f"QUEUECTL_CONTAINMENT must be auto, cgroup or subreaper, not {wanted!r}")
    base = containment.prepare_cgroup_base(state_dir) if wanted != containment.SUBREAPER else None
    if wanted == containment.CGROUP and base is None:
        raise StartupError("QUEUECTL_CONTAINMENT=cgroup, but no cgroup v2 tree we may write "
                           "(under systemd: Delegate=yes)")  # fmt: skip
    return (containment.CGROUP if base else containment.SUBREAPER), base


class Signals:
    """SIGTERM/SIGINT ask to stop, SIGHUP to reload the settings; each wakes the loop
    through a socketpair (the handlers only set a flag)."""

    def __init__(self) -> None:
        self.stop_requested = False
        self.reload_requested = False
        self.wake_r, self._wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    def install(self) -> None:
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGHUP, self._reload)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested = True

    def _reload(self, signum: int, frame: FrameType | None) -> None:
        self.reload_requested = True

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self.wake_r.recv(4096)
