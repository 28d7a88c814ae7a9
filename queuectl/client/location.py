"""Where a client finds its daemon (the CLI's rules; docs/python.md, "Finding the daemon"),
and whether it may start one there."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from queuectl.client.rpc import probe, verify_socket

if TYPE_CHECKING:
    from queuectl.paths import Paths


def _lexists(path: Path) -> bool:
    try:
        os.lstat(path)
        return True
    except OSError:  # not there, or a directory we may not enter: not ours to use
        return False


class Location:
    """Where a client finds its daemon, and whether it may start one there.

    --socket / `socket=`, then $QUEUECTL_SOCKET; --home / `home=`, then $QUEUECTL_HOME; then
    the user's own daemon; then the system service's socket if only that one exists."""

    __slots__ = ("socket_path", "home", "explicit", "_paths")

    def __init__(self, socket: str | os.PathLike[str] | None = None, home: str | os.PathLike[str] | None = None):
        self.home = None if home is None else os.fspath(home)
        self._paths: Paths | None = None
        env_socket = os.environ.get("QUEUECTL_SOCKET")
        self.explicit = bool(socket is not None and os.fspath(socket) or env_socket)  # never autostarted
        if socket is not None and os.fspath(socket):
            self.socket_path = Path(socket)
        elif env_socket:
            self.socket_path = Path(env_socket)
        else:
            own = self.paths.socket
            if self.home or os.environ.get("QUEUECTL_HOME") or _lexists(own):
                self.socket_path = own
            else:
                from queuectl import paths

                system = paths.system_paths().socket
                self.socket_path = system if _lexists(system) else own

    @property
    def paths(self) -> Paths:
        """The directories of the daemon --home / $QUEUECTL_HOME / the user's own would use."""
        if self._paths is None:
            from queuectl import paths

            self._paths = paths.resolve(self.home)
        return self._paths

    def may_autostart(self) -> bool:
        """A user's own daemon (never the system service's, never at a socket given
        explicitly) that is not running, at a socket in directories that are ours."""
        if os.environ.get("QUEUECTL_NO_AUTOSTART") == "1" or self.explicit:
            return False
        if self.paths.is_system or self.socket_path != self.paths.socket:
            return False
        verify_socket(self.socket_path)  # never into a directory someone else controls
        # Not when it is someone else's daemon we may not reach: that is an error to show.
        return probe(self.socket_path) in ("absent", "stale")
