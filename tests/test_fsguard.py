"""queuectl.fsguard on its own: the pure checks on stat results, then the walking, creating
and opening on a real file system. Ownership by someone else needs root (chown to an
unused uid); those tests are skipped otherwise. End-to-end attacks with a real second
user are in test_untrusted_paths.py."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl import fsguard
from queuectl.fsguard import UnsafePath

STRANGER = 54321  # a uid nobody has (chown as root)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files to another uid")
ME = os.geteuid()
OWNERS = frozenset({ME, 0})


def fake_stat(mode: int, uid: int = ME, gid: int = 0, nlink: int = 1) -> os.stat_result:
    return os.stat_result((mode, 1, 1, nlink, uid, gid, 0, 0, 0, 0))


def never_private(gid: int, uid: int) -> bool:
    return False


def always_private(gid: int, uid: int) -> bool:
    return True


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# --- pure checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("st_mode", "own", "expected"),
    [
        (stat.S_IFDIR | 0o700, True, None),
        (stat.S_IFDIR | 0o755, True, None),  # others may read: files inside carry their own modes
        (stat.S_IFDIR | 0o750, True, None),  # the system service's group-readable layout
        (stat.S_IFDIR | 0o777, True, "writable by everyone (mode 0777)"),
        (stat.S_IFDIR | 0o1777, True, "writable by everyone (mode 1777)"),  # ours: never, sticky or not
        (stat.S_IFDIR | 0o1777, False, None),  # /tmp as a parent: fine (the entry is checked)
        (stat.S_IFDIR | 0o777, False, "writable by everyone (mode 0777)"),  # not sticky: anyone swaps
        (stat.S_IFDIR | 0o770, True, "writable by gid"),
        (stat.S_IFLNK | 0o777, True, "symbolic link"),
        (stat.S_IFREG | 0o600, True, "not a directory"),
    ],
)
def test_dir_problem(st_mode: int, own: bool, expected: str | None) -> None:
    problem = fsguard.dir_problem(fake_stat(st_mode, gid=60999), OWNERS, own=own, private_group=never_private)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


def test_dir_problem_owner_and_private_group() -> None:
    problem = fsguard.dir_problem(fake_stat(stat.S_IFDIR | 0o700, uid=STRANGER), OWNERS, own=True)
    assert problem is not None and f"owned by uid {STRANGER}" in problem and "not by" in problem
    # A group of one (a user private group, umask 002): group-writable is owner-writable.
    group_writable = fake_stat(stat.S_IFDIR | 0o775)
    assert fsguard.dir_problem(group_writable, OWNERS, own=True, private_group=always_private) is None
    assert fsguard.dir_problem(group_writable, OWNERS, own=True, private_group=never_private) is not None


def test_file_and_socket_problems() -> None:
    assert fsguard.file_problem(fake_stat(stat.S_IFREG | 0o600), ME) is None
    assert "symbolic link" in (fsguard.file_problem(fake_stat(stat.S_IFLNK | 0o777), ME) or "")
    assert "not a regular file" in (fsguard.file_problem(fake_stat(stat.S_IFIFO | 0o600), ME) or "")
    assert "owned by uid" in (fsguard.file_problem(fake_stat(stat.S_IFREG | 0o600, uid=STRANGER), ME) or "")
    assert "2 hard links" in (fsguard.file_problem(fake_stat(stat.S_IFREG | 0o600, nlink=2), ME) or "")
    assert fsguard.socket_problem(fake_stat(stat.S_IFSOCK | 0o660), OWNERS) is None  # the group's
    assert "everyone may connect" in (fsguard.socket_problem(fake_stat(stat.S_IFSOCK | 0o666), OWNERS) or "")
    assert "not a socket" in (fsguard.socket_problem(fake_stat(stat.S_IFREG | 0o600), OWNERS) or "")
    assert "owned by" in (fsguard.socket_problem(fake_stat(stat.S_IFSOCK | 0o600, uid=STRANGER), OWNERS) or "")


def test_unsafe_path_message_names_path_and_reason() -> None:
    exc = UnsafePath("/tmp/x", "it is a symbolic link")
    assert str(exc) == "refusing /tmp/x: it is a symbolic link"
    assert (exc.path, exc.reason) == ("/tmp/x", "it is a symbolic link")


# --- directories ----------------------------------------------------------------------------


def test_ensure_dir_creates_every_missing_parent_0700_whatever_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c"
    with umask(0):
        st = fsguard.ensure_dir(target)
    assert stat.S_ISDIR(st.st_mode)
    for d in (tmp_path / "a", tmp_path / "a" / "b", target):
        assert mode(d) == 0o700, d
    fsguard.ensure_dir(target)  # existing and fine: nothing to do


def test_ensure_dir_refuses_a_symlink_and_leaves_its_target_alone(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o755)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(UnsafePath) as info:
        fsguard.ensure_dir(tmp_path / "link", private=True)
    assert info.value.path == str(tmp_path / "link") and "symbolic link" in info.value.reason
    assert mode(real) == 0o755  # not chmod'ed through the link


def test_ensure_dir_refuses_directories_others_may_write(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(UnsafePath, match="writable by everyone"):
        fsguard.ensure_dir(shared)
    # ...also as a parent, unless it is sticky (like /tmp)
    with pytest.raises(UnsafePath, match=f"refusing {shared}: it is writable by everyone"):
        fsguard.ensure_dir(shared / "mine")
    assert not (shared / "mine").exists()
    shared.chmod(0o1777)
    fsguard.ensure_dir(shared / "mine")
    assert mode(shared / "mine") == 0o700
    group = tmp_path / "group"
    group.mkdir()
    group.chmod(0o770)
    with pytest.raises(UnsafePath, match="writable by"):
        fsguard.ensure_dir(group, private_group=never_private)
    fsguard.ensure_dir(group, private_group=always_private)


def test_private_tightens_our_own_directory_and_exact_private_refuses(tmp_path: Path) -> None:
    d = tmp_path / "run"
    d.mkdir()
    d.chmod(0o755)
    with pytest.raises(UnsafePath, match="mode is 0755, not 0700"):
        fsguard.ensure_dir(d, exact_private=True)
    assert mode(d) == 0o755
    fsguard.ensure_dir(d, private=True)
    assert mode(d) == 0o700


def test_walk_follows_symlinks_in_trusted_directories_and_stops_loops(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "alias").symlink_to("data")  # e.g. ~/.local/state pointing elsewhere
    fsguard.ensure_dir(tmp_path / "alias" / "queuectl")
    assert (tmp_path / "data" / "queuectl").is_dir()
    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(UnsafePath, match="too many levels of symbolic links"):
        fsguard.ensure_dir(tmp_path / "loop" / "x")
    assert fsguard.walk(tmp_path / "missing" / "x") is None  # nothing created without create


def test_ensure_dir_on_a_file_or_where_nothing_can_be_made(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(UnsafePath, match=f"refusing {f}: it is not a directory"):
        fsguard.ensure_dir(f / "state")
    with pytest.raises(UnsafePath, match=f"refusing {f}: it is not a directory"):
        fsguard.ensure_dir(f)
    with pytest.raises(UnsafePath, match="cannot create it"):
        fsguard.ensure_dir("/proc/queuectl-test/state")


@needs_root
def test_someone_elses_directory_is_refused_even_in_a_sticky_parent(tmp_path: Path) -> None:
    sticky = tmp_path / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)
    theirs = sticky / "queuectl-0"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, STRANGER, STRANGER)
    with pytest.raises(UnsafePath) as info:
        fsguard.ensure_dir(theirs / "run", private=True)
    assert info.value.path == str(theirs)
    assert f"owned by uid {STRANGER} in {sticky}, a directory everyone may write to" in info.value.reason
    assert mode(theirs) == 0o700 and os.lstat(theirs).st_uid == STRANGER and not (theirs / "run").exists()
    # A symlink someone else planted there is theirs too: never followed.
    os.symlink(tmp_path, sticky / "link")
    os.lchown(sticky / "link", STRANGER, STRANGER)
    with pytest.raises(UnsafePath, match="owned by uid"):
        fsguard.ensure_dir(sticky / "link" / "x")
    # And a directory of someone else's as a parent (they could swap what is inside).
    plain = tmp_path / "plain"
    plain.mkdir()
    os.chown(plain, STRANGER, STRANGER)
    with pytest.raises(UnsafePath, match=f"refusing {plain}: it is owned by uid {STRANGER}"):
        fsguard.ensure_dir(plain / "x")


# --- files ----------------------------------------------------------------------------------


def test_open_nofollow_creates_0600_and_never_truncates(tmp_path: Path) -> None:
    path = tmp_path / "f"
    with umask(0):
        fd = fsguard.open_nofollow(path, os.O_WRONLY | os.O_CREAT)
    os.write(fd, b"hello")
    os.close(fd)
    assert mode(path) == 0o600
    os.close(fsguard.open_nofollow(path, os.O_RDWR | os.O_CREAT))
    assert path.read_bytes() == b"hello"
    with pytest.raises(ValueError):
        fsguard.open_nofollow(path, os.O_WRONLY | os.O_TRUNC)
    fd = fsguard.open_nofollow(path, os.O_RDONLY)
    assert os.get_blocking(fd)  # O_NONBLOCK (against a planted FIFO) is cleared again
    os.close(fd)


def test_open_nofollow_refuses_links_fifos_and_hard_links(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("precious\n")
    link = tmp_path / "daemon.pid"
    link.symlink_to(target)
    with pytest.raises(UnsafePath, match=f"refusing {link}: it is a symbolic link"):
        fsguard.write_file(link, b"123\n")
    assert target.read_text() == "precious\n"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UnsafePath, match="not a regular file"):
        fsguard.open_nofollow(fifo, os.O_WRONLY | os.O_CREAT)  # no reader: must not hang
    with pytest.raises(UnsafePath, match="not a regular file"):
        fsguard.open_nofollow(fifo, os.O_RDONLY)
    hard = tmp_path / "hard"
    os.link(target, hard)
    with pytest.raises(UnsafePath, match="2 hard links"):
        fsguard.write_file(hard, b"123\n")
    assert target.read_text() == "precious\n"


def test_write_file_replaces_contents(tmp_path: Path) -> None:
    path = tmp_path / "daemon.pid"
    path.write_text("a much longer old content\n")
    fsguard.write_file(path, b"42\n")
    assert path.read_text() == "42\n"


def test_open_private_log_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    new = tmp_path / "new.log"
    with umask(0):
        os.close(fsguard.open_private_log(new))
    assert mode(new) == 0o600
    old = tmp_path / "old.log"
    old.write_text("line\n")
    old.chmod(0o666)
    fd = fsguard.open_private_log(old)
    os.write(fd, b"more\n")
    os.close(fd)
    assert mode(old) == 0o600 and old.read_text() == "line\nmore\n"


def test_check_file(tmp_path: Path) -> None:
    assert fsguard.check_file(tmp_path / "queue.db") is None
    (tmp_path / "queue.db").write_bytes(b"")
    assert fsguard.check_file(tmp_path / "queue.db") is not None
    (tmp_path / "queue.db-wal").symlink_to("/etc/passwd")
    with pytest.raises(UnsafePath, match="queue.db-wal: it is a symbolic link"):
        fsguard.check_file(tmp_path / "queue.db-wal")


@needs_root
def test_files_of_someone_else_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    path.write_bytes(b"theirs")
    os.chown(path, STRANGER, STRANGER)
    with pytest.raises(UnsafePath, match=f"owned by uid {STRANGER}, not by"):
        fsguard.check_file(path)
    with pytest.raises(UnsafePath, match=f"owned by uid {STRANGER}"):
        fsguard.write_file(path, b"1\n")
    assert path.read_bytes() == b"theirs"


# --- sockets --------------------------------------------------------------------------------


def listening(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(4)
    return s


def test_check_socket(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    sock = run / "control.sock"
    assert fsguard.check_socket(sock, OWNERS) is None  # not there
    assert fsguard.check_socket(tmp_path / "nodir" / "control.sock", OWNERS) is None
    with listening(sock):
        assert fsguard.check_socket(sock, OWNERS) is not None
        run.chmod(0o777)
        with pytest.raises(UnsafePath, match=f"refusing {run}: it is writable by everyone"):
            fsguard.check_socket(sock, OWNERS)
        run.chmod(0o700)
        with pytest.raises(UnsafePath, match="owned by"):
            fsguard.check_socket(sock, frozenset({STRANGER}))
    (run / "file.sock").write_text("")
    with pytest.raises(UnsafePath, match="not a socket"):
        fsguard.check_socket(run / "file.sock", OWNERS)


def test_listener_credentials_name_the_listening_process(tmp_path: Path) -> None:
    sock = tmp_path / "s.sock"
    with listening(sock):
        assert fsguard.listener_credentials(sock) == (os.getpid(), os.geteuid(), os.getegid())
        fsguard.check_listener(sock, os.getpid())
        with pytest.raises(UnsafePath, match=f"served by pid {os.getpid()}"):
            fsguard.check_listener(sock, os.getpid() + 1)


def test_check_listener_refuses_another_process_of_the_same_user(tmp_path: Path) -> None:
    sock = tmp_path / "child-1.sock"
    code = (
        "import socket, sys, time\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(sys.argv[1]); s.listen(4)\n"
        "print('ready', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(sock)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with pytest.raises(UnsafePath) as info:
            fsguard.check_listener(sock, os.getpid())
        assert f"served by pid {proc.pid}" in info.value.reason
        assert f"not by the daemon that started us (pid {os.getpid()})" in info.value.reason
    finally:
        proc.kill()
        proc.wait(10)
