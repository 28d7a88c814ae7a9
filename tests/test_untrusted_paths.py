"""Issue 11, part 2: the daemon and the client trust no directory, file or socket that
another local user could have made.

Each attack is reproduced with a real second user (created with useradd, acting through
runuser, removed afterwards; see tests/users.py), against a real daemon, real CLI and real
worker child. Every refusal must name the path and the reason, exit with the documented
code (9 for the daemon and for paths the CLI prepares, 3 for a socket the client will not
talk to), and write nothing through a link. A world-writable sticky directory made here
stands in for /tmp, so no test touches the /tmp/queuectl-0 other test runs share; the
/tmp/queuectl-UID fallback itself is attacked for a second, created victim user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
from click.testing import CliRunner

from queuectl import fsguard
from queuectl import protocol as P
from queuectl.client.cli import cli
from tests.conftest import Daemon, process_alive, wait_for
from tests.users import FakeEndpoint, as_user, local_user, needs_root, run_as, stdlib_python

UNSAFE = 9
UNREACHABLE = 3


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("QUEUECTL_", "XDG_")) and k not in (
               "STATE_DIRECTORY", "RUNTIME_DIRECTORY", "NOTIFY_SOCKET", "JOURNAL_STREAM")}  # fmt: skip
    env.update(QUEUECTL_NO_AUTOSTART="1", **extra)
    return env


def queuectl(*args: str, env: dict[str, str], timeout: float = 60, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "queuectl", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, **kwargs)  # fmt: skip


def one_line(stderr: str) -> str:
    """The refusal: exactly one line on stderr besides the daemon's JSON log line, no traceback."""
    lines = [line for line in stderr.splitlines() if not line.startswith("{")]
    assert "Traceback" not in stderr and len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A stand-in for /tmp: root-owned, 1777, reachable by every user."""
    d = Path(tempfile.mkdtemp(prefix="qctl-sh-", dir="/tmp"))
    d.chmod(0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def private_tmp(tmp_path: Path) -> Path:
    return tmp_path  # pytest's: root's own, 0700 at the top


@pytest.fixture
def attacker() -> Iterator[pwd.struct_passwd]:
    with local_user() as user:
        yield user


@pytest.fixture
def victim() -> Iterator[pwd.struct_passwd]:
    with local_user() as user:
        fallback = Path(f"/tmp/queuectl-{user.pw_uid}")
        try:
            yield user
        finally:
            if fallback.is_symlink():
                fallback.unlink()
            else:
                shutil.rmtree(fallback, ignore_errors=True)


@pytest.fixture
def attacker_python(attacker: pwd.struct_passwd) -> str:
    python = stdlib_python(attacker)
    if python is None:
        pytest.skip("no Python interpreter that the second user may run (for the fake endpoint)")
    return python


def root_file(directory: Path, text: str = "precious\n") -> Path:
    """A root-owned file an attacker would like overwritten."""
    path = directory / "root-owned-target"
    path.write_text(text)
    path.chmod(0o644)
    return path


# --- the runtime directory made by someone else -------------------------------------------


@needs_root
def test_daemon_refuses_a_runtime_dir_another_user_made(
    attacker: pwd.struct_passwd, shared_tmp: Path, private_tmp: Path
) -> None:
    env = clean_env(XDG_RUNTIME_DIR=str(shared_tmp), XDG_STATE_HOME=str(private_tmp / "state"),
                    HOME=str(private_tmp))  # fmt: skip
    planted = shared_tmp / "queuectl"
    run_as(attacker, "mkdir", "-m", "0777", str(planted))
    result = queuectl("daemon", "--workers", "1", env=env)
    assert result.returncode == UNSAFE, result.stderr
    line = one_line(result.stderr)
    assert line == (f"queuectl daemon: refusing {planted}: it is owned by user {attacker.pw_name} "
                    f"(uid {attacker.pw_uid}) in {shared_tmp}, a directory everyone may write to; "
                    "someone else made it")  # fmt: skip
    # Not taken over: still theirs, mode untouched, nothing of ours inside.
    st = os.lstat(planted)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (attacker.pw_uid, 0o777)
    assert os.listdir(planted) == []
    # The client refuses it as well, before it sends anything (exit 3).
    status = queuectl("status", env=env)
    assert status.returncode == UNREACHABLE and "Traceback" not in status.stderr
    assert f"not talking to a daemon at {planted}/control.sock: {planted}: it is owned by user " \
           f"{attacker.pw_name}" in status.stderr  # fmt: skip


@needs_root
def test_daemon_refuses_a_symlink_in_place_of_its_runtime_dir(
    attacker: pwd.struct_passwd, shared_tmp: Path, private_tmp: Path
) -> None:
    env = clean_env(XDG_RUNTIME_DIR=str(shared_tmp), XDG_STATE_HOME=str(private_tmp / "state"),
                    HOME=str(private_tmp))  # fmt: skip
    theirs = shared_tmp / "theirs"
    run_as(attacker, "mkdir", "-m", "0700", str(theirs))
    run_as(attacker, "ln", "-s", str(theirs), str(shared_tmp / "queuectl"))
    result = queuectl("daemon", "--workers", "1", env=env)
    assert result.returncode == UNSAFE, result.stderr
    line = one_line(result.stderr)
    assert f"refusing {shared_tmp / 'queuectl'}: it is owned by user {attacker.pw_name}" in line
    assert os.listdir(theirs) == []  # nothing bound, no pidfile written in their directory
    # A symlink even of our own is refused for the runtime dir itself (we use only real dirs).
    (shared_tmp / "queuectl").unlink()
    mine = private_tmp / "mine"
    mine.mkdir(mode=0o700)
    (shared_tmp / "queuectl").symlink_to(mine)
    result = queuectl("daemon", "--workers", "1", env=env)
    assert result.returncode == UNSAFE
    assert f"refusing {shared_tmp / 'queuectl'}: it is a symbolic link" in one_line(result.stderr)


# --- a world-writable home: planted pidfile link, swapped database --------------------------


@needs_root
def test_planted_pidfile_link_in_a_world_writable_home_writes_nothing(
    attacker: pwd.struct_passwd, private_tmp: Path
) -> None:
    shared = Path(tempfile.mkdtemp(prefix="qctl-ww-", dir="/tmp"))
    try:
        shared.chmod(0o777)  # a "shared" home anyone may write (not sticky)
        target = root_file(private_tmp)
        run_as(attacker, "mkdir", "-m", "0777", str(shared / "run"))
        run_as(attacker, "ln", "-s", str(target), str(shared / "run" / "daemon.pid"))
        result = queuectl("--home", str(shared), "daemon", "--workers", "1", env=clean_env())
        assert result.returncode == UNSAFE, result.stderr
        assert one_line(result.stderr) == (
            f"queuectl daemon: refusing {shared}: it is writable by everyone (mode 0777)")
        assert target.read_text() == "precious\n"
        assert os.lstat(shared / "run").st_uid == attacker.pw_uid and mode(shared / "run") == 0o777
        assert sorted(os.listdir(shared)) == ["run"]  # no database, no lock, no logs made
    finally:
        shutil.rmtree(shared, ignore_errors=True)


@needs_root
def test_swapped_database_in_a_world_writable_home_never_runs(
    attacker: pwd.struct_passwd, private_tmp: Path
) -> None:
    marker = private_tmp / "pwned"
    # The attacker's database: a real queue with one pending job (made as root here, then
    # copied by the attacker, who owns the copy).
    scratch = Path(tempfile.mkdtemp(prefix="qctl-evil-", dir="/tmp"))
    shared = Path(tempfile.mkdtemp(prefix="qctl-ww-", dir="/tmp"))
    try:
        evil = Daemon(scratch / "h", workers=0).start()
        evil.enqueue(f"touch {marker}", id="evil")
        assert evil.stop() == 0
        scratch.chmod(0o755)
        (scratch / "h").chmod(0o755)
        (scratch / "h" / "queue.db").chmod(0o644)
        shared.chmod(0o777)
        run_as(attacker, "cp", str(scratch / "h" / "queue.db"), str(shared / "queue.db"))
        before = (shared / "queue.db").read_bytes()
        result = queuectl("--home", str(shared), "daemon", "--workers", "1", env=clean_env())
        assert result.returncode == UNSAFE, result.stderr
        assert f"refusing {shared}: it is writable by everyone (mode 0777)" in one_line(result.stderr)
        time.sleep(0.5)
        assert not marker.exists()
        assert (shared / "queue.db").read_bytes() == before
        # A database someone else owns is refused even in a directory of ours.
        home = private_tmp / "home"
        home.mkdir(mode=0o700)
        shutil.copy(shared / "queue.db", home / "queue.db")
        os.chown(home / "queue.db", attacker.pw_uid, attacker.pw_gid)
        result = queuectl("--home", str(home), "daemon", "--workers", "1", env=clean_env())
        assert result.returncode == UNSAFE
        assert one_line(result.stderr) == (
            f"queuectl daemon: refusing {home / 'queue.db'}: it is owned by user {attacker.pw_name} "
            f"(uid {attacker.pw_uid}), not by user root (uid 0)")  # fmt: skip
        assert not marker.exists()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(shared, ignore_errors=True)


@needs_root
@pytest.mark.parametrize("name", ["daemon.pid", "daemon.lock", "children.lock", "queue.db", "queue.db-wal"])
def test_a_link_at_any_file_the_daemon_writes_is_refused(name: str, private_tmp: Path) -> None:
    """Defence in depth behind the directory checks: O_NOFOLLOW / lstat on every file."""
    home = private_tmp / "home"
    home.mkdir(mode=0o700)
    (home / "run").mkdir(mode=0o700)
    target = root_file(private_tmp)
    link = (home / "run" / name) if name == "daemon.pid" else (home / name)
    link.symlink_to(target)
    result = queuectl("--home", str(home), "daemon", "--workers", "1", env=clean_env())
    assert result.returncode == UNSAFE, result.stderr
    assert one_line(result.stderr) == f"queuectl daemon: refusing {link}: it is a symbolic link"
    assert target.read_text() == "precious\n"


# --- worker children talk only to the daemon that started them ------------------------------


def run_message(marker: Path) -> bytes:
    return msgpack.packb([P.RUN, 1, 1, "evil", f"touch {marker}", None, None, None, 1.0])


def start_child(sock: Path, results: Path, logs: Path, lock: Path) -> subprocess.Popen[str]:
    logs.mkdir(mode=0o700, exist_ok=True)
    cmd = [sys.executable, "-m", "queuectl.daemon.child", "--id", "1",
           "--assign", f"ipc://{sock}", "--results", f"ipc://{results}", "--logs", str(logs),
           "--epoch", "1", "--parent", str(os.getpid()), "--lock", str(lock)]  # fmt: skip
    return subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, start_new_session=True)


def refused(child: subprocess.Popen[str], marker: Path) -> str:
    try:
        code = child.wait(15)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(10)
    assert child.stderr is not None
    stderr = child.stderr.read()
    time.sleep(0.3)
    assert not marker.exists(), "the child ran a command from a socket that is not the daemon's"
    assert code == UNSAFE, stderr
    assert "Traceback" not in stderr and len(stderr.splitlines()) == 1, stderr
    return stderr.strip()


@needs_root
def test_child_refuses_sockets_in_a_directory_another_user_made(
    attacker: pwd.struct_passwd, attacker_python: str, shared_tmp: Path, private_tmp: Path
) -> None:
    marker = private_tmp / "pwned"
    rt = shared_tmp / "queuectl"
    run_as(attacker, "mkdir", "-m", "0755", str(rt))
    push = FakeEndpoint(attacker, attacker_python, rt / "child-1.sock", "PUSH", run_message(marker))
    pull = FakeEndpoint(attacker, attacker_python, rt / "results.sock", "PULL")
    try:
        line = refused(start_child(rt / "child-1.sock", rt / "results.sock", private_tmp / "logs",
                                   private_tmp / "children.lock"), marker)  # fmt: skip
        assert line == (f"queuectl child 1: refusing {rt}: it is owned by user {attacker.pw_name} "
                        f"(uid {attacker.pw_uid}), not by user root (uid 0)")  # fmt: skip
        assert b"frame" not in push.recorded() + pull.recorded()
    finally:
        push.stop()
        pull.stop()


@needs_root
def test_child_refuses_a_planted_socket_in_its_own_private_dir(
    attacker: pwd.struct_passwd, attacker_python: str, shared_tmp: Path, private_tmp: Path
) -> None:
    marker = private_tmp / "pwned"
    theirs = shared_tmp / "theirs"
    run_as(attacker, "mkdir", "-m", "0755", str(theirs))
    push = FakeEndpoint(attacker, attacker_python, theirs / "child-1.sock", "PUSH", run_message(marker))
    try:
        rt = private_tmp / "run"
        rt.mkdir(mode=0o700)
        os.rename(theirs / "child-1.sock", rt / "child-1.sock")  # planted: still theirs, still served
        line = refused(start_child(rt / "child-1.sock", rt / "results.sock", private_tmp / "logs",
                                   private_tmp / "children.lock"), marker)  # fmt: skip
        assert line == (f"queuectl child 1: refusing {rt / 'child-1.sock'}: it is owned by user "
                        f"{attacker.pw_name} (uid {attacker.pw_uid}), not by user root (uid 0)")  # fmt: skip
        assert b"frame" not in push.recorded()
    finally:
        push.stop()


def test_child_refuses_a_socket_not_served_by_its_parent(private_tmp: Path) -> None:
    """Same user, right directory, right owner: still not the daemon that started it."""
    marker = private_tmp / "pwned"
    rt = private_tmp / "run"
    rt.mkdir(mode=0o700)
    code = (
        "import sys, time, zmq\n"
        "ctx = zmq.Context(); s = ctx.socket(zmq.PUSH); s.bind('ipc://' + sys.argv[1])\n"
        "r = ctx.socket(zmq.PULL); r.bind('ipc://' + sys.argv[2])\n"
        "print('ready', flush=True); s.send(bytes.fromhex(sys.argv[3])); time.sleep(60)\n"
    )
    impostor = subprocess.Popen([sys.executable, "-c", code, str(rt / "child-1.sock"), str(rt / "results.sock"),
                                 run_message(marker).hex()], stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert impostor.stdout is not None and impostor.stdout.readline().strip() == "ready"
        line = refused(start_child(rt / "child-1.sock", rt / "results.sock", private_tmp / "logs",
                                   private_tmp / "children.lock"), marker)  # fmt: skip
        assert line == (f"queuectl child 1: refusing {rt / 'child-1.sock'}: it is served by pid "
                        f"{impostor.pid} (user {pwd.getpwuid(os.geteuid()).pw_name} (uid {os.geteuid()})), "
                        f"not by the daemon that started us (pid {os.getpid()})")  # fmt: skip
    finally:
        impostor.kill()
        impostor.wait(10)


def test_children_of_a_real_daemon_still_run_jobs(daemon: Daemon) -> None:
    """The checks above pass for the daemon's own sockets (a child exits 9 otherwise)."""
    job = daemon.enqueue("echo ok", id="ok")
    assert daemon.wait_state(job["id"])["state"] == "completed"
    assert not [e for e in daemon.log_events() if e.get("event") == "child.lost"]


# --- the /tmp/queuectl-UID fallback and the victim's client ----------------------------------


def warm_up() -> None:
    """Import, as root, what the forked CLI imports lazily (the interpreter's own library may
    be unreadable for the other user). Nothing here may talk to a daemon."""
    import grp  # noqa: F401

    import queuectl.client.autostart  # noqa: F401
    import queuectl.client.commands.daemon  # noqa: F401
    import queuectl.client.commands.job  # noqa: F401
    import queuectl.client.library  # noqa: F401
    import queuectl.client.rpc  # noqa: F401
    import queuectl.daemon.loop  # noqa: F401
    import queuectl.daemon.main  # noqa: F401

    for args in (["enqueue", "--help"], ["status", "--help"], ["daemon", "--help"]):
        CliRunner().invoke(cli, args)


def cli_as(user: pwd.struct_passwd, *args: str, env: dict[str, str]) -> tuple[int, str]:
    def fn() -> tuple[int, str]:
        os.chdir("/")
        result = CliRunner().invoke(cli, list(args), env=env)
        text = result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            text += "".join(__import__("traceback").format_exception(result.exception))
        return result.exit_code, text

    code, text = as_user(user, fn)
    return code, text


def fallback_env(user: pwd.struct_passwd, **extra: str) -> dict[str, Any]:
    # No XDG_RUNTIME_DIR: the socket is /tmp/queuectl-UID/control.sock. Keys set to None
    # are removed from the environment for the CLI run.
    env: dict[str, Any] = {k: None for k in os.environ if k.startswith(("QUEUECTL_", "XDG_"))}
    env.update({"HOME": user.pw_dir, "USER": user.pw_name, **extra})
    return env


@needs_root
def test_victims_enqueue_never_reaches_a_fake_daemon_in_tmp(
    victim: pwd.struct_passwd, attacker: pwd.struct_passwd, attacker_python: str
) -> None:
    fallback = Path(f"/tmp/queuectl-{victim.pw_uid}")
    run_as(attacker, "mkdir", "-m", "0755", str(fallback))
    fake = FakeEndpoint(attacker, attacker_python, fallback / "control.sock", "ROUTER")
    try:
        warm_up()
        for args in (("enqueue", "--", "deploy", "--password=hunter2"), ("status",)):
            code, text = cli_as(victim, *args, env=fallback_env(victim))
            assert code == UNREACHABLE, text
            assert text == (f"queuectl: not talking to a daemon at {fallback}/control.sock: {fallback}: it is owned "
                            f"by user {attacker.pw_name} (uid {attacker.pw_uid}) in /tmp, a directory everyone "
                            "may write to; someone else made it\n")  # fmt: skip
        assert fake.recorded() == b""  # not even a connection
        # Never autostarted into it: no state, no daemon.log for the victim.
        assert not (Path(victim.pw_dir) / ".local").exists()
        assert os.listdir(fallback) == ["control.sock"]
        # The daemon, run as the victim, refuses it too (its start-up check, in-process).
        refusal = as_user(victim, lambda: _prepare_fallback_as_user(victim))
        assert refusal == f"refusing {fallback}: it is owned by user {attacker.pw_name} (uid " \
                          f"{attacker.pw_uid}) in /tmp, a directory everyone may write to; someone else made it"  # fmt: skip
    finally:
        fake.stop()


def _prepare_fallback_as_user(user: pwd.struct_passwd) -> str:
    os.environ.pop("XDG_RUNTIME_DIR", None)
    os.environ["HOME"] = user.pw_dir
    from queuectl import paths

    try:
        fsguard.prepare_runtime_dir(paths.resolve(), managed=False)
    except fsguard.UnsafePath as exc:
        return str(exc)
    return "accepted"


@needs_root
def test_fallback_dir_that_is_a_link_or_not_0700_is_refused(
    victim: pwd.struct_passwd, attacker: pwd.struct_passwd, attacker_python: str
) -> None:
    fallback = Path(f"/tmp/queuectl-{victim.pw_uid}")
    theirs = Path(attacker.pw_dir) / "rt"
    run_as(attacker, "mkdir", "-m", "0755", str(theirs))
    Path(attacker.pw_dir).chmod(0o755)
    run_as(attacker, "ln", "-s", str(theirs), str(fallback))
    fake = FakeEndpoint(attacker, attacker_python, theirs / "control.sock", "ROUTER")
    try:
        warm_up()
        code, text = cli_as(victim, "enqueue", "--", "echo", "secret", env=fallback_env(victim))
        assert code == UNREACHABLE and f"{fallback}: it is owned by user {attacker.pw_name}" in text, text
        assert fake.recorded() == b""
    finally:
        fake.stop()
    fallback.unlink()
    # The victim's own fallback, but someone (the victim, root) made it 0755: the daemon
    # wants it exactly 0700 and says so; it does not fix a shared name silently.
    as_user(victim, lambda: os.mkdir(fallback, 0o755) or os.chmod(fallback, 0o755))
    refusal = as_user(victim, lambda: _prepare_fallback_as_user(victim))
    assert refusal == (f"refusing {fallback}: its mode is 0755, not 0700; queuectl creates it 0700, "
                       "so remove it and let queuectl make it again")  # fmt: skip
    os.rmdir(fallback)
    assert as_user(victim, lambda: _prepare_fallback_as_user(victim)) == "accepted"
    assert mode(fallback) == 0o700 and os.lstat(fallback).st_uid == victim.pw_uid


# --- one line and a documented exit code, never a traceback ----------------------------------


@needs_root
def test_unusable_homes_get_one_line_and_a_documented_code(
    attacker: pwd.struct_passwd, victim: pwd.struct_passwd, private_tmp: Path
) -> None:
    warm_up()
    # A service account with HOME=/nonexistent and no XDG variables.
    env = fallback_env(victim, HOME="/nonexistent")
    code, text = cli_as(victim, "enqueue", "--", "true", env=env)  # autostart: must make the state dir
    assert (code, text) == (UNSAFE, "queuectl: refusing /nonexistent: cannot create it (Permission denied)\n")
    code, text = cli_as(victim, "daemon", env=env)
    assert code == UNSAFE and "queuectl daemon: refusing /nonexistent: cannot create it (Permission denied)" in text
    assert "Traceback" not in text
    code, text = cli_as(victim, "status", env=env)
    assert (code, text) == (UNREACHABLE, f"queuectl: no queuectl daemon answers at /tmp/queuectl-{victim.pw_uid}"
                                         "/control.sock (no socket file)\n")  # fmt: skip
    # Someone else's home (root's): as another user.
    for args, expected in (
        (("status",), (UNREACHABLE, "queuectl: no queuectl daemon answers at /root/x/run/control.sock "
                                    "(permission denied)\n")),
        (("enqueue", "--", "true"), (UNREACHABLE, "queuectl: no queuectl daemon answers at "
                                                  "/root/x/run/control.sock (permission denied)\n")),
        (("init",), (UNSAFE, "queuectl: refusing /root/x: permission denied (cannot look into /root)\n")),
    ):  # fmt: skip
        assert cli_as(attacker, "--home", "/root/x", *args, env=fallback_env(attacker)) == expected
    code, text = cli_as(attacker, "--home", "/root/x", "daemon", env=fallback_env(attacker))
    assert code == UNSAFE and "Traceback" not in text, text
    assert "queuectl daemon: refusing /root/x: permission denied (cannot look into /root)\n" in text
    # A home that is a regular file.
    afile = private_tmp / "afile"
    afile.write_text("")
    env2 = clean_env()
    for args, code_expected in ((("daemon",), UNSAFE), (("init",), UNSAFE), (("status",), UNREACHABLE)):
        result = queuectl("--home", str(afile), *args, env=env2)
        assert result.returncode == code_expected, result.stderr
        line = one_line(result.stderr)
        if code_expected == UNSAFE:
            assert line.endswith(f"refusing {afile}: it is not a directory"), line
    autostart = queuectl("--home", str(afile), "enqueue", "--", "true", env={**env2, "QUEUECTL_NO_AUTOSTART": "0"})
    assert (autostart.returncode, autostart.stderr) == (UNSAFE, f"queuectl: refusing {afile}: it is not a directory\n")
    as_home = queuectl("init", env=clean_env(HOME=str(afile)))
    assert (as_home.returncode, as_home.stderr) == (UNSAFE, f"queuectl: refusing {afile}: it is not a directory\n")


# --- daemon.log of `daemon --detach` ----------------------------------------------------------


def test_detach_log_is_private_whatever_the_umask(tmp_path: Path) -> None:
    xrt = tmp_path / "xrt"
    xrt.mkdir(mode=0o700)
    state = tmp_path / "xstate"
    env = clean_env(XDG_RUNTIME_DIR=str(xrt), XDG_STATE_HOME=str(state), HOME=str(tmp_path))
    log = state / "queuectl" / "daemon.log"
    log.parent.mkdir(parents=True)
    log.write_text("")
    log.chmod(0o666)  # as an older version left it under umask 000
    started = queuectl("daemon", "--detach", "--workers", "0", env=env, umask=0)
    pid = None
    try:
        assert started.returncode == 0, started.stderr
        pidfile = xrt / "queuectl" / "daemon.pid"
        pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text(), what="the pidfile"))
        assert mode(log) == 0o600
        assert mode(xrt / "queuectl") == 0o700
        for f in (pidfile, state / "queuectl" / "queue.db", state / "queuectl" / "daemon.lock"):
            assert mode(f) == 0o600, f
        assert queuectl("shutdown", env=env).returncode == 0
        wait_for(lambda: not process_alive(pid), 30, what="the daemon to exit")
        log.unlink()
        started = queuectl("daemon", "--detach", "--workers", "0", env=env, umask=0)
        assert started.returncode == 0, started.stderr
        pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text(), what="the pidfile"))
        assert mode(log) == 0o600
        assert queuectl("shutdown", env=env).returncode == 0
        wait_for(lambda: not process_alive(pid), 30, what="the daemon to exit")
        # A link in its place: refused, nothing written through it, no daemon started.
        target = root_file(tmp_path)
        log.unlink()
        log.symlink_to(target)
        refused = queuectl("daemon", "--detach", "--workers", "0", env=env, umask=0)
        assert (refused.returncode, refused.stderr) == (UNSAFE, f"queuectl: refusing {log}: it is a symbolic link\n")
        assert target.read_text() == "precious\n"
        assert not pidfile.exists()
    finally:
        if pid is not None and process_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_events_client_checks_its_socket_too(tmp_path: Path) -> None:
    from queuectl.client.events import EventStream
    from queuectl.client.rpc import UntrustedSocket

    run = tmp_path / "run"
    run.mkdir()
    run.chmod(0o777)
    with pytest.raises(UntrustedSocket, match=f"not talking to a daemon at {run}/events.sock: {run}: it is "
                                              "writable by everyone"):  # fmt: skip
        EventStream(run / "control.sock")


def test_the_refusal_code_is_one_number_everywhere() -> None:
    from queuectl.client import output
    from queuectl.daemon import child

    assert output.UNSAFE == child.REFUSED == UNSAFE == 9
