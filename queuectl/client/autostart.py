"""Starting a daemon in the background: for `daemon --detach`, and for a user's CLI call
when no daemon answers (never for the system service). No click here: the Python client
library starts daemons too."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from queuectl.client.rpc import probe  # noqa: F401  (imported from here by the CLI)

START_TIMEOUT = 15.0


def daemon_answers(sock: Path) -> bool:
    """Is something listening on the socket? (A stale file from a killed daemon is not.)"""
    return probe(sock) == "up"


def spawn_daemon(paths: Any, home: str | None, extra: list[str] | None = None) -> subprocess.Popen[bytes]:
    """Raises fsguard.UnsafePath (exit 9) for a state directory or log we must not use."""
    from queuectl import fsguard

    fsguard.prepare_state_dirs(paths)  # checked and made as the daemon does, for daemon.log
    cmd = [sys.executable, "-m", "queuectl"]
    if home:
        cmd += ["--home", str(home)]
    cmd += ["daemon", "--log-format", "json", *(extra or [])]
    log = fsguard.open_private_log(paths.daemon_log)  # 0600 whatever the umask; never via a link
    try:
        return subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            close_fds=True,
        )  # fmt: skip
    finally:
        os.close(log)


def wait_until_up(proc: subprocess.Popen[bytes], sock: Path, paths: Any) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if daemon_answers(sock):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    tail = ""
    with contextlib.suppress(OSError, IndexError):
        tail = paths.daemon_log.read_text(errors="replace").strip().splitlines()[-1]
    from queuectl.errors import DaemonUnreachable

    raise DaemonUnreachable(sock, f"a daemon was started but did not come up; log: {paths.daemon_log}"
                            + (f": {tail}" if tail else ""))


def running_daemon_pid(paths: Any) -> str | None:
    """The pid of a daemon holding the state directory's lock (it runs, though its socket
    may not answer: it stopped accepting, or is starting), or None."""
    import fcntl

    try:
        fd = os.open(paths.lock, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None  # nobody holds it
    except BlockingIOError:
        return os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
    finally:
        os.close(fd)


def ensure_daemon(paths: Any, home: str | None) -> int | None:
    """Start a daemon for paths and wait until it answers; say so on stderr (a daemon left
    running behind someone's back should not go unnoticed). Returns its pid, or None when
    one was starting already and now answers."""
    pid = running_daemon_pid(paths)
    if pid is not None:  # starting (another command started it just now), or not accepting
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and running_daemon_pid(paths) is not None:
            if daemon_answers(paths.socket):
                return None
            time.sleep(0.02)
        from queuectl.errors import DaemonUnreachable

        raise DaemonUnreachable(paths.socket, f"the daemon (pid {pid}) is running but does not accept "
                                "connections now (too many clients?)")
    proc = spawn_daemon(paths, home)
    wait_until_up(proc, paths.socket, paths)
    sys.stderr.write(f"queuectl: started a daemon (pid {proc.pid}) for {paths.state_dir}; "
                     f"stop it with `queuectl shutdown`\n")  # fmt: skip
    sys.stderr.flush()
    return proc.pid


def detach(paths: Any, home: str | None, extra: list[str]) -> int:
    import click

    from queuectl import fsguard

    try:  # what the daemon would refuse (exit 9), before we even probe the socket
        fsguard.check_socket(paths.socket, fsguard.our_owners())
    except PermissionError:
        raise fsguard.UnsafePath(paths.socket, "permission denied") from None
    if daemon_answers(paths.socket):
        click.echo(f"queuectl: a daemon is already running at {paths.socket}", err=True)
        return 3
    proc = spawn_daemon(paths, home, extra)
    wait_until_up(proc, paths.socket, paths)
    click.echo(f"queuectl daemon started (pid {proc.pid}); log: {paths.daemon_log}; "
               f"pidfile: {paths.pidfile}")
    os._exit(0)  # leave the daemon running; do not wait for it
