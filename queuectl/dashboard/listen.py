"""Where the dashboard listens: `--bind HOST:PORT` or `--bind unix:PATH`.

A Unix socket is for a reverse proxy on the same machine. Whoever can connect to it
reaches the dashboard, so it gets the control socket's rules: its directory must be
ours, a real directory (not a symlink), and not writable by anyone else, and so must
be every directory above it unless it is sticky (/tmp); the socket is created 0600,
or 0660 for the directory's group when the directory lets its group in and nobody
else (the system service's 0750 layout, e.g. with the proxy's group). uvicorn's own
`uds=` would chmod the socket 0666, so we bind it here and hand it over.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

# sun_path is 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107
DEFAULT_SOCKET_NAME = "dashboard.sock"


class BindError(ValueError):
    """An address we will not listen on; the message is one line for the user."""


@dataclass(frozen=True)
class Bind:
    host: str = "127.0.0.1"
    port: int = 8080
    path: Path | None = None  # a Unix socket instead of host:port

    @property
    def is_unix(self) -> bool:
        return self.path is not None

    def __str__(self) -> str:
        if self.path is not None:
            return f"unix:{self.path}"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_bind(spec: str, default_socket: Path) -> Bind:
    """`unix:PATH`, `unix:` (default_socket), `HOST:PORT`, `[IPv6]:PORT`."""
    if spec.startswith("unix:"):
        raw = spec[len("unix:") :]
        return Bind(path=Path(os.path.abspath(os.path.expanduser(raw))) if raw else default_socket)
    host, sep, port = spec.rpartition(":")
    if not sep or not host:
        raise BindError(f"--bind {spec!r}: expected HOST:PORT, [IPV6]:PORT or unix:PATH")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise BindError(f"--bind {spec!r}: put an IPv6 address in brackets, e.g. [::1]:8080")
    if not port.isdigit() or int(port) > 65535:
        raise BindError(f"--bind {spec!r}: the port must be a number from 0 to 65535")
    return Bind(host=host, port=int(port))


def _describe(st: os.stat_result) -> str:
    return f"owner uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o}"


def check_socket_dir(directory: Path, create: bool = False) -> os.stat_result:
    """lstat the socket's directory and everything above it; refuse what another user could
    have made or could change. Returns the directory's stat."""
    me = os.geteuid()
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        if not create:
            raise BindError(f"cannot listen on a socket in {directory}: no such directory") from None
        try:
            os.mkdir(directory, 0o700)  # the mode from the start, no chmod window
        except OSError as exc:
            raise BindError(f"cannot create {directory}: {exc.strerror}") from None
        st = os.lstat(directory)
    if stat.S_ISLNK(st.st_mode):
        raise BindError(f"refusing the socket directory {directory}: it is a symlink")
    if not stat.S_ISDIR(st.st_mode):
        raise BindError(f"refusing the socket directory {directory}: not a directory")
    if st.st_uid != me:
        raise BindError(f"refusing the socket directory {directory}: it belongs to uid {st.st_uid}, not to you (uid {me})")
    if st.st_mode & 0o022:
        raise BindError(f"refusing the socket directory {directory}: writable by group or others ({_describe(st)})")
    # Whoever may rename entries in an ancestor could swap our directory for theirs.
    parent = Path(os.path.realpath(directory.parent))
    for d in (parent, *parent.parents):
        pst = os.lstat(d)
        if pst.st_uid not in (me, 0):
            raise BindError(f"refusing the socket directory {directory}: {d} belongs to uid {pst.st_uid}")
        if pst.st_mode & 0o022 and not pst.st_mode & stat.S_ISVTX:
            raise BindError(f"refusing the socket directory {directory}: {d} is writable by others ({_describe(pst)})")
    return st


def _in_use(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError as exc:
            if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                return False
            raise BindError(f"cannot listen on {path}: {exc.strerror}") from None
        return True


def unix_listener(path: Path, create_dir: bool = False) -> tuple[socket.socket, os.stat_result]:
    """A listening Unix socket at path with the mode its directory calls for.
    Returns the socket and the socket file's stat (to remove only our own file later)."""
    if len(str(path).encode()) > MAX_SOCKET_PATH:
        raise BindError(f"socket path {path} is longer than {MAX_SOCKET_PATH} bytes; choose a shorter one")
    dir_st = check_socket_dir(path.parent, create=create_dir)
    with contextlib.suppress(FileNotFoundError):
        st = os.lstat(path)
        if not stat.S_ISSOCK(st.st_mode):
            raise BindError(f"{path} exists and is not a socket; not replacing it")
        if _in_use(path):
            raise BindError(f"{path} is in use: another server listens on it")
        os.unlink(path)  # a stale socket of a server that is gone (the directory is ours)
    group_only = dir_st.st_mode & stat.S_IXGRP and not dir_st.st_mode & 0o007
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # 0600 from the moment the file exists
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot listen on {path}: {exc.strerror}") from None
    finally:
        os.umask(old_umask)
    try:
        if group_only:
            # The directory's group (e.g. the proxy's) may connect; set the group while the
            # mode is still 0600, then open it to the group.
            if os.lstat(path).st_gid != dir_st.st_gid:
                try:
                    os.chown(path, -1, dir_st.st_gid)
                except OSError as exc:
                    raise BindError(f"cannot give {path} to the group of its directory (gid {dir_st.st_gid}): "
                                    f"{exc.strerror}") from None  # fmt: skip
            os.chmod(path, 0o660)
        sock.listen(128)
    except BindError:
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    except OSError as exc:
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise BindError(f"cannot listen on {path}: {exc.strerror}") from None
    return sock, os.lstat(path)


def remove_socket(path: Path, ours: os.stat_result) -> None:
    """Remove the socket file on exit, unless someone replaced it meanwhile."""
    with contextlib.suppress(OSError):
        st = os.lstat(path)
        if (st.st_dev, st.st_ino) == (ours.st_dev, ours.st_ino):
            os.unlink(path)
