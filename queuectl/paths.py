"""Where queuectl keeps its state (database, logs) and its sockets.

Resolution order for the daemon and the CLI alike:
1. `--home DIR` / `QUEUECTL_HOME`: everything under DIR (state in DIR, sockets
   in DIR/run; if that socket path would be too long for a Unix socket, in a
   per-user runtime dir under a name derived from DIR).
2. Under systemd: `$STATE_DIRECTORY` and `$RUNTIME_DIRECTORY`.
3. A user's own: `$XDG_STATE_HOME/queuectl` (default ~/.local/state/queuectl) and
   `$XDG_RUNTIME_DIR/queuectl` (default /tmp/queuectl-UID: a predictable name in a
   directory everyone can write, so the daemon and the client accept it only if it is
   exactly ours and 0700; see queuectl.fsguard).
The CLI additionally falls back to the system service's socket
(/run/queuectl/control.sock) when the user has no daemon of their own.
"""

from __future__ import annotations

import os
from pathlib import Path

from queuectl.errors import QueuectlError

# sun_path is 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107
SYSTEM_RUNTIME_DIR = Path("/run/queuectl")
SYSTEM_STATE_DIR = Path("/var/lib/queuectl")
SYSTEM_USER = "queuectl"  # the system unit's User=: clients trust its socket in SYSTEM_RUNTIME_DIR
SOCKET_NAME = "control.sock"
EVENTS_NAME = "events.sock"


class PathError(QueuectlError):
    """No usable place for queuectl's files (no home directory, a socket path too long)."""


class Paths:
    """The directories of one queuectl installation and the files in them."""

    __slots__ = ("state_dir", "runtime_dir", "is_system")

    def __init__(self, state_dir: Path, runtime_dir: Path, is_system: bool = False):
        self.state_dir = state_dir
        self.runtime_dir = runtime_dir
        self.is_system = is_system  # the system service's directories (never autostarted)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Paths) and (self.state_dir, self.runtime_dir, self.is_system) == (
            other.state_dir, other.runtime_dir, other.is_system)  # fmt: skip

    def __hash__(self) -> int:
        return hash((self.state_dir, self.runtime_dir, self.is_system))

    def __repr__(self) -> str:
        return f"Paths({self.state_dir!r}, {self.runtime_dir!r}, is_system={self.is_system})"

    @property
    def db(self) -> Path:
        return self.state_dir / "queue.db"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def lock(self) -> Path:
        return self.state_dir / "daemon.lock"

    @property
    def children_lock(self) -> Path:
        return self.state_dir / "children.lock"

    @property
    def daemon_log(self) -> Path:
        return self.state_dir / "daemon.log"

    @property
    def pidfile(self) -> Path:
        return self.runtime_dir / "daemon.pid"

    @property
    def socket(self) -> Path:
        return self.runtime_dir / SOCKET_NAME

    @property
    def events_socket(self) -> Path:
        return self.runtime_dir / EVENTS_NAME

    def child_socket(self, child_id: int) -> Path:
        return self.runtime_dir / f"child-{child_id}.sock"

    @property
    def results_socket(self) -> Path:
        return self.runtime_dir / "results.sock"

    def endpoint(self, path: Path) -> str:
        return "ipc://" + str(path)


def tmp_runtime_base() -> Path:
    """The runtime directory when there is no $XDG_RUNTIME_DIR (checked strictly: fsguard)."""
    return Path(f"/tmp/queuectl-{os.getuid()}")


def _user_runtime_base() -> Path:
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / "queuectl"
    return tmp_runtime_base()


def _fits(runtime_dir: Path) -> bool:
    # The longest socket name we bind is "child-NNNN.sock"; keep room for it.
    return len(str(runtime_dir / "child-99999.sock").encode()) <= MAX_SOCKET_PATH


def for_home(home: str | os.PathLike[str]) -> Paths:
    home_path = Path(home).expanduser().absolute()
    runtime = home_path / "run"
    if not _fits(runtime):
        import hashlib  # rare path; keeps the CLI's import cost down

        digest = hashlib.sha256(str(home_path).encode()).hexdigest()[:16]
        runtime = _user_runtime_base() / f"home-{digest}"
    return Paths(home_path, runtime)


def resolve(home: str | None = None) -> Paths:
    """The paths a daemon started here uses (and a CLI here talks to by default)."""
    home = home or os.environ.get("QUEUECTL_HOME")
    if home:
        return for_home(home)
    state_env = os.environ.get("STATE_DIRECTORY")
    runtime_env = os.environ.get("RUNTIME_DIRECTORY")
    if state_env and runtime_env:
        # systemd may pass several colon-separated dirs; the first is ours.
        state = Path(state_env.split(":")[0])
        runtime = Path(runtime_env.split(":")[0])
        return Paths(state, runtime, is_system=(runtime == SYSTEM_RUNTIME_DIR))
    xdg_state = os.environ.get("XDG_STATE_HOME")
    if not xdg_state:
        try:
            xdg_state = str(Path.home() / ".local" / "state")
        except RuntimeError:  # no $HOME and no passwd entry
            raise PathError("cannot find a home directory: set --home, QUEUECTL_HOME or XDG_STATE_HOME") from None
    return Paths(Path(xdg_state) / "queuectl", _user_runtime_base())


def system_paths() -> Paths:
    return Paths(SYSTEM_STATE_DIR, SYSTEM_RUNTIME_DIR, is_system=True)


def check_socket_path(path: Path) -> None:
    if len(str(path).encode()) > MAX_SOCKET_PATH:
        raise PathError(
            f"socket path {path} is longer than {MAX_SOCKET_PATH} bytes; use a shorter --home"
        )
