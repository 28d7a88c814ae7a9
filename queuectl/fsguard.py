"""Trust nothing on disk that another local user could have made.

Whoever can write a directory can replace what is in it, so every directory a path is
looked up in must be changeable only by someone we trust (`owners`: our own uid and
root), or be sticky like /tmp (others may add names but not replace ours) with the
entry we use in it owned by us. Our own directories (state, logs, runtime) must be
real directories (no symlink), owned by us or root, and writable by their owner only.
Files are opened with O_NOFOLLOW and checked on the open descriptor: a regular file,
ours, with no second hard link. docs/operations.md ("Threat model") is the user-facing
version of these rules.

Every refusal raises UnsafePath, whose message names the path and the reason. The
checks on stat results (`dir_problem`, `file_problem`, ...) are plain functions; the
rest is the file-system walking around them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat

from queuectl.errors import QueuectlError  # imports nothing itself

# Imported by the CLI's fast path (queuectl.client.fast) for check_socket: no typing,
# socket or collections.abc at import time.
TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from queuectl.paths import Paths

    GroupCheck = Callable[[int, int], bool]

MAX_SYMLINKS = 40  # as the kernel's own limit on one lookup
DIR_MODE = 0o700


class UnsafePath(QueuectlError):
    """A path queuectl refuses to use: unsafe (a symlink, someone else's, writable by others)
    or unusable (not a directory, cannot be created)."""

    def __init__(self, path: str | os.PathLike[str], reason: str):
        super().__init__(f"refusing {os.fspath(path)}: {reason}")
        self.path = os.fspath(path)
        self.reason = reason


def our_owners() -> frozenset[int]:
    """Who may own what we use: ourselves, and root (who can change anything anyway)."""
    return frozenset({os.geteuid(), 0})


# --- pure checks on stat results ------------------------------------------------------------


def describe_user(uid: int) -> str:
    import pwd

    try:
        return f"user {pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _describe_group(gid: int) -> str:
    import grp

    try:
        return f"group {grp.getgrgid(gid).gr_name} (gid {gid})"
    except KeyError:
        return f"gid {gid}"


def _owner_text(owners: Collection[int]) -> str:
    return " or ".join(describe_user(uid) for uid in sorted(owners, reverse=True))


def group_is_private(gid: int, uid: int) -> bool:
    """True when the group has exactly one member, the user: a "user private group" as
    Debian's and Fedora's useradd make, where a group-writable directory is writable by its
    owner alone. (Debian's OpenSSH accepts such a group for the same reason.)"""
    import grp
    import pwd

    try:
        group = grp.getgrgid(gid)
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        return False
    if any(member != name for member in group.gr_mem):
        return False
    primary = [entry.pw_uid for entry in pwd.getpwall() if entry.pw_gid == gid]
    return all(u == uid for u in primary) and (bool(primary) or bool(group.gr_mem))


def writers_problem(st: os.stat_result, private_group: GroupCheck = group_is_private) -> str | None:
    """Who besides the owner may write here (and so replace what is inside), or None."""
    mode = st.st_mode
    if mode & stat.S_IWOTH:
        return f"writable by everyone (mode {stat.S_IMODE(mode):04o})"
    if mode & stat.S_IWGRP and not private_group(st.st_gid, st.st_uid):
        return f"writable by {_describe_group(st.st_gid)} (mode {stat.S_IMODE(mode):04o})"
    return None


def dir_problem(st: os.stat_result, owners: Collection[int], *, own: bool,
                private_group: GroupCheck = group_is_private) -> str | None:  # fmt: skip
    """Why a directory with this lstat() result is not safe to use, or None.

    own: one of our own directories: only its owner may write to it. Otherwise a directory
    we only look a name up in: a sticky one that others may write (/tmp) is fine, and the
    caller then requires the entry it uses there to be owned by `owners`."""
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a directory"
    if st.st_uid not in owners:
        return f"it is owned by {describe_user(st.st_uid)}, not by {_owner_text(owners)}"
    writers = writers_problem(st, private_group)
    if writers is not None and (own or not st.st_mode & stat.S_ISVTX):
        return f"it is {writers}"
    return None


def shared_sticky(st: os.stat_result, private_group: GroupCheck = group_is_private) -> bool:
    """A sticky directory others may write to (/tmp): only the owner of an entry (or of the
    directory) can remove or rename it, so an entry owned by us stays ours."""
    return bool(st.st_mode & stat.S_ISVTX) and writers_problem(st, private_group) is not None


def file_problem(st: os.stat_result, owner: int) -> str | None:
    """Why a file we write (lock, pidfile, database, log) is not safe to use, or None."""
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file"
    if st.st_uid != owner:
        return f"it is owned by {describe_user(st.st_uid)}, not by {describe_user(owner)}"
    if st.st_nlink > 1:
        # Another name for the same file may sit in a directory someone else controls.
        return f"it has {st.st_nlink} hard links"
    return None


def socket_problem(st: os.stat_result, owners: Collection[int]) -> str | None:
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISSOCK(st.st_mode):
        return "it is not a socket"
    if st.st_uid not in owners:
        return f"it is owned by {describe_user(st.st_uid)}, not by {_owner_text(owners)}"
    if st.st_mode & stat.S_IWOTH:
        return f"everyone may connect to it (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


# --- walking a path -------------------------------------------------------------------------


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def walk(path: str | os.PathLike[str], owners: Collection[int] | None = None, *, create: bool = False,
         private_group: GroupCheck = group_is_private) -> os.stat_result | None:  # fmt: skip
    """Look `path` up one component at a time, as the kernel does, and check every directory
    a name is looked up in (from /, through symlinks). Returns the lstat() of the last
    component, or None when something on the way is missing (or not a directory) and
    create is false. With create, missing directories are made, mode 0700, so each is ours
    from the start. Raises UnsafePath; PermissionError when a directory cannot be searched.

    Only `owners` can change the directories checked here (or, in a sticky one, the entry
    we use), so what the caller does with the path next finds the same objects."""
    owners = our_owners() if owners is None else frozenset(owners)
    text = _absolute(path)
    pending = [part for part in reversed(text.split("/")) if part not in ("", ".")]
    current = "/"
    current_st = _checked_dir(current, owners, private_group)
    links = 0
    while pending:
        name = pending.pop()
        if name == "..":
            current = os.path.dirname(current)
            current_st = _checked_dir(current, owners, private_group)
            continue
        entry = os.path.join(current, name)
        try:
            st = os.lstat(entry)
        except FileNotFoundError:
            if not create:
                return None
            try:
                os.mkdir(entry, DIR_MODE)
            except FileExistsError:
                pass  # made in the meantime: judged below like any existing entry
            except OSError as exc:
                raise UnsafePath(entry, f"cannot create it ({_reason(exc)})") from None
            st = os.lstat(entry)
        if shared_sticky(current_st, private_group) and st.st_uid not in owners:
            raise UnsafePath(entry, f"it is owned by {describe_user(st.st_uid)} in {current}, a directory "
                                    "everyone may write to; someone else made it")  # fmt: skip
        if stat.S_ISLNK(st.st_mode) and pending:
            links += 1
            if links > MAX_SYMLINKS:
                raise UnsafePath(entry, "too many levels of symbolic links")
            target = os.readlink(entry)
            if target.startswith("/"):
                current = "/"
                current_st = _checked_dir(current, owners, private_group)
            pending.extend(part for part in reversed(target.split("/")) if part not in ("", "."))
            continue
        if not pending:
            return st
        if not stat.S_ISDIR(st.st_mode):
            if not create:
                return None
            raise UnsafePath(entry, "it is not a directory")
        problem = dir_problem(st, owners, own=False, private_group=private_group)
        if problem is not None:
            raise UnsafePath(entry, problem)
        current, current_st = entry, st
    return current_st  # the path was "/" (or only dots)


def _absolute(path: str | os.PathLike[str]) -> str:
    # Not os.path.abspath: it drops "x/.." by name, where the kernel resolves x first.
    text = os.fspath(path)
    return text if os.path.isabs(text) else os.path.join(os.getcwd(), text)


def _checked_dir(path: str, owners: frozenset[int], private_group: GroupCheck) -> os.stat_result:
    st = os.lstat(path)
    problem = dir_problem(st, owners, own=False, private_group=private_group)
    if problem is not None:
        raise UnsafePath(path, problem)
    return st


def ensure_dir(path: str | os.PathLike[str], owners: Collection[int] | None = None, *,
               private: bool = False, exact_private: bool = False,
               private_group: GroupCheck = group_is_private) -> os.stat_result:  # fmt: skip
    """Make sure `path` is one of our own directories: created (0700) if missing, with every
    missing parent, all checked as `walk` does; never a symlink; owned by `owners`;
    writable by its owner only.

    private: an existing directory that others may read or enter is set to 0700 (it is
    ours and nobody else can write to it, so nothing can have been planted in it).
    exact_private: such a directory is refused instead (a predictable name in /tmp that
    we always create 0700: someone changed it)."""
    owners = our_owners() if owners is None else frozenset(owners)
    try:
        st = walk(path, owners, create=True, private_group=private_group)
    except PermissionError as exc:
        where = f" (cannot look into {os.path.dirname(exc.filename)})" if exc.filename else ""
        raise UnsafePath(path, f"permission denied{where}") from None
    except OSError as exc:
        raise UnsafePath(path, _reason(exc)) from None
    assert st is not None
    problem = dir_problem(st, owners, own=True, private_group=private_group)
    if problem is not None:
        raise UnsafePath(path, problem)
    if stat.S_IMODE(st.st_mode) & 0o077 and (private or exact_private):
        if exact_private:
            raise UnsafePath(path, f"its mode is {stat.S_IMODE(st.st_mode):04o}, not 0700; queuectl "
                                   "creates it 0700, so remove it and let queuectl make it again")  # fmt: skip
        st = _chmod_dir(path, st, DIR_MODE)
    return st


def _chmod_dir(path: str | os.PathLike[str], checked: os.stat_result, mode: int) -> os.stat_result:
    """chmod the directory we checked, not whatever might be at its name by now."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise UnsafePath(path, _reason(exc)) from None
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (checked.st_dev, checked.st_ino):
            raise UnsafePath(path, "it was replaced while being checked")
        os.fchmod(fd, mode)
        return os.fstat(fd)
    finally:
        os.close(fd)


# --- files ---------------------------------------------------------------------------------


def check_file(path: str | os.PathLike[str], owner: int | None = None) -> os.stat_result | None:
    """lstat() check of a file we are about to use by name (SQLite cannot open with
    O_NOFOLLOW): None if it does not exist, else it must be a regular file of ours."""
    owner = os.geteuid() if owner is None else owner
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UnsafePath(path, _reason(exc)) from None
    problem = file_problem(st, owner)
    if problem is not None:
        raise UnsafePath(path, problem)
    return st


def open_nofollow(path: str | os.PathLike[str], flags: int, mode: int = 0o600,
                  owner: int | None = None) -> int:  # fmt: skip
    """os.open() that never follows a symlink at `path` and never writes into something
    planted there: the descriptor is a regular file owned by `owner` (default: us) with one
    link. O_TRUNC is not allowed: truncate the checked descriptor instead."""
    if flags & os.O_TRUNC:
        raise ValueError("open_nofollow: truncate the checked descriptor, not at open")
    owner = os.geteuid() if owner is None else owner
    try:
        # O_NONBLOCK: a FIFO planted here must not block the open.
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(path, "it is a symbolic link") from None
        if exc.errno == errno.ENXIO:
            raise UnsafePath(path, "it is not a regular file") from None
        raise UnsafePath(path, f"cannot open it ({_reason(exc)})") from None
    try:
        problem = file_problem(os.fstat(fd), owner)
        if problem is not None:
            raise UnsafePath(path, problem)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_file(path: str | os.PathLike[str], data: bytes, mode: int = 0o600) -> None:
    """Replace a small file's contents (the pidfile) without following or truncating a link."""
    fd = open_nofollow(path, os.O_WRONLY | os.O_CREAT, mode)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    finally:
        os.close(fd)


def open_private_log(path: str | os.PathLike[str]) -> int:
    """A log file for appending, 0600 whatever the umask and whatever mode it had."""
    fd = open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with contextlib.suppress(OSError):
        if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
            os.fchmod(fd, 0o600)  # ours (checked): made before by an older version or another umask
    return fd


# --- sockets -------------------------------------------------------------------------------


def check_socket(path: str | os.PathLike[str], owners: Collection[int]) -> os.stat_result | None:
    """Before connecting: the socket's directory (and every one above it, as `walk`) and the
    socket itself belong to `owners` and only they may write them. None when the socket or
    a directory on the way does not exist. Raises UnsafePath, PermissionError."""
    owners = frozenset(owners)
    directory = os.path.dirname(_absolute(path))
    st_dir = walk(directory, owners)
    if st_dir is None:
        return None
    problem = dir_problem(st_dir, owners, own=True)
    if problem is not None:
        raise UnsafePath(directory, problem)
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    problem = socket_problem(st, owners)
    if problem is not None:
        raise UnsafePath(path, problem)
    return st


def listener_credentials(path: str | os.PathLike[str], timeout: float = 5.0) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process that listens on a Unix stream socket: for the
    connecting side the kernel reports the credentials the listener had at listen()."""
    import socket
    import struct

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(os.fspath(path))
        raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


def check_listener(path: str | os.PathLike[str], pid: int) -> None:
    """A socket our parent (the daemon, `pid`) made for us: in a directory of ours that only
    we can write, owned by us, and listened on by that very process."""
    uid = os.geteuid()
    owners = our_owners()
    directory = os.path.dirname(_absolute(path))
    try:
        st_dir = os.lstat(directory)
        st = os.lstat(path)
    except OSError as exc:
        raise UnsafePath(path, _reason(exc)) from None
    problem = dir_problem(st_dir, owners, own=True)
    if problem is not None:
        raise UnsafePath(directory, problem)
    problem = socket_problem(st, {uid})
    if problem is not None:
        raise UnsafePath(path, problem)
    try:
        peer_pid, peer_uid, _ = listener_credentials(path)
    except OSError as exc:
        raise UnsafePath(path, f"cannot connect to it ({_reason(exc)})") from None
    if (peer_pid, peer_uid) != (pid, uid):
        raise UnsafePath(path, f"it is served by pid {peer_pid} ({describe_user(peer_uid)}), "
                               f"not by the daemon that started us (pid {pid})")  # fmt: skip


# --- queuectl's own directories -------------------------------------------------------------


def prepare_state_dirs(paths: Paths) -> None:
    """The state directory and its logs/ (the daemon; `init`; `daemon --detach`)."""
    ensure_dir(paths.state_dir)
    ensure_dir(paths.logs_dir)


def prepare_runtime_dir(paths: Paths, managed: bool) -> os.stat_result:
    """The runtime directory (sockets, pidfile). One made by systemd (`managed`) keeps its
    RuntimeDirectoryMode= (e.g. 0750 for the service's group); any other is made 0700.
    The /tmp/queuectl-UID fallback must be exactly ours and 0700 (see paths.py)."""
    from queuectl.paths import tmp_runtime_base

    runtime = paths.runtime_dir
    base = tmp_runtime_base()
    if not managed and (runtime == base or base in runtime.parents):
        ensure_dir(base, exact_private=True)
    return ensure_dir(runtime, private=not managed)


def check_state_files(paths: Paths) -> None:
    """What we open by name, or with O_CREAT, in the state and runtime directories."""
    db = str(paths.db)
    for path in (db, db + "-wal", db + "-shm", paths.lock, paths.children_lock, paths.pidfile):
        check_file(path)

