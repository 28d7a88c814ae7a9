"""Real second local users for the security tests (root only).

`local_user()` creates an account with a random name (qctl-att-XXXXXX), its own home
directory (made here, mode 0700) and a user private group, and removes all of it
afterwards (`userdel -r`), also when the test fails. Accounts left by a run that was
killed are recognised by the pid in their comment field and removed on the next run.

Acting as the user:
- `run_as(user, *cmd)`: `runuser -u USER -- cmd` for shell tools and a stdlib-only
  Python (the attacker's side);
- `as_user(user, fn)`: fn in a forked child with the user's credentials, for running
  queuectl's own code as that user (our interpreter may live under /root, which other
  users cannot execute; the modules it needs must be imported before the fork).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import pwd
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

MARK = "queuectl test pid "

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not (shutil.which("useradd") and shutil.which("runuser")),
    reason="needs root, useradd and runuser to create and act as a second local user",
)


def admin(*cmd: str) -> None:
    """useradd & co., retried: another test run may hold /etc/passwd's lock for a moment."""
    for attempt in range(20):
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if result.returncode == 0:
            return
        if attempt == 19:
            raise AssertionError(f"{' '.join(cmd)} failed: {result.stderr}")
        time.sleep(0.5)


def remove_stale_users() -> None:
    for entry in pwd.getpwall():
        if entry.pw_name.startswith("qctl-att-") and entry.pw_gecos.startswith(MARK):
            pid = entry.pw_gecos[len(MARK) :]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                subprocess.run(["userdel", "-r", entry.pw_name], capture_output=True, timeout=60)


@contextlib.contextmanager
def local_user() -> Iterator[pwd.struct_passwd]:
    remove_stale_users()
    name = f"qctl-att-{secrets.token_hex(3)}"
    home = Path(tempfile.mkdtemp(prefix=f"{name}-home-", dir="/tmp"))
    try:
        admin("useradd", "--home-dir", str(home), "--no-create-home", "--user-group",
              "--shell", "/bin/sh", "--comment", f"{MARK}{os.getpid()}", name)  # fmt: skip
        try:
            user = pwd.getpwnam(name)
            os.chown(home, user.pw_uid, user.pw_gid)
            home.chmod(0o700)
            yield user
        finally:
            admin("userdel", "-r", name)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run_as(user: pwd.struct_passwd, *cmd: str, check: bool = True, timeout: float = 60,
           **kwargs: Any) -> subprocess.CompletedProcess[str]:  # fmt: skip
    result = subprocess.run(["runuser", "-u", user.pw_name, "--", *cmd], capture_output=True, text=True,
                            timeout=timeout, **kwargs)  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(f"as {user.pw_name}: {' '.join(cmd)} failed ({result.returncode}): {result.stderr}")
    return result


def popen_as(user: pwd.struct_passwd, *cmd: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(["runuser", "-u", user.pw_name, "--", *cmd], text=True, **kwargs)


def stop(proc: subprocess.Popen[Any]) -> None:
    """End a process we started (runuser passes the signal on to its command)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def stdlib_python(user: pwd.struct_passwd) -> str | None:
    """An interpreter the user can run (the attacker's tools need only the standard library)."""
    for candidate in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate) and run_as(user, candidate, "-c", "pass", check=False).returncode == 0:
            return candidate
    return None


def as_user(user: pwd.struct_passwd, fn: Callable[[], Any], timeout: float = 60.0) -> Any:
    """fn() in a forked child with the user's uid, gid and groups; returns its result
    (JSON-able), or raises AssertionError with the child's exception."""
    groups = os.getgrouplist(user.pw_name, user.pw_gid)
    gc.collect()  # zmq contexts must not be finalized in the child
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        try:
            gc.disable()
            os.close(r)
            os.setgroups(groups)
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            try:
                result: dict[str, Any] = {"ok": fn()}
            except BaseException as exc:
                result = {"error": repr(exc)}
            os.write(w, json.dumps(result, default=str).encode())
        finally:
            os._exit(0)
    os.close(w)
    try:
        chunks = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                raise AssertionError(f"the child running as {user.pw_name} did not finish in {timeout}s")
            chunk = os.read(r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # it has exited already unless it hung
        os.waitpid(pid, 0)
    result = json.loads(b"".join(chunks) or b"{}")
    if "ok" not in result:
        raise AssertionError(f"as {user.pw_name}: {result.get('error', 'no result')}")
    return result["ok"]


# An attacker's fake queuectl endpoint, stdlib only (run with `runuser`): it speaks just
# enough ZMTP 3.0 (NULL mechanism) to be connected to by a ZeroMQ socket, records every
# connection and frame it gets, and optionally sends one message (as a PUSH would).
FAKE_ENDPOINT = r'''
import os, socket, struct, sys, threading

path, socket_type, record = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
payload = bytes.fromhex(sys.argv[4]) if len(sys.argv) > 4 else None
lock = threading.Lock()


def note(line):
    with lock, open(record, "ab") as f:
        f.write(line + b"\n")


def exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def frame(conn):
    flags = exact(conn, 1)[0]
    size = struct.unpack(">Q", exact(conn, 8))[0] if flags & 2 else exact(conn, 1)[0]
    return flags, exact(conn, size)


def serve(conn):
    try:
        conn.sendall(b"\xff" + b"\0" * 8 + b"\x7f\x03\x00" + b"NULL".ljust(20, b"\0") + b"\x01" + b"\0" * 31)
        exact(conn, 64)
        body = b"\x05READY" + bytes([11]) + b"Socket-Type" + struct.pack(">I", len(socket_type)) + socket_type
        conn.sendall(bytes([4, len(body)]) + body)
        frame(conn)  # the peer's READY
        if payload is not None:
            conn.sendall(bytes([0, len(payload)]) + payload if len(payload) < 256
                         else bytes([2]) + struct.pack(">Q", len(payload)) + payload)
            note(b"sent")
        while True:
            _, data = frame(conn)
            note(b"frame " + data)
    except (EOFError, OSError):
        pass


server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
os.chmod(path, 0o777)
server.listen(16)
print("ready", flush=True)
while True:
    conn, _ = server.accept()
    note(b"connect")
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
'''


class FakeEndpoint:
    """The attacker's fake endpoint at `path`, run as `user`."""

    def __init__(self, user: pwd.struct_passwd, python: str, path: Path, socket_type: str,
                 payload: bytes | None = None):  # fmt: skip
        home = Path(user.pw_dir)
        self.script = home / "fake_endpoint.py"
        self.script.write_text(FAKE_ENDPOINT)
        self.record = home / f"record-{secrets.token_hex(4)}"
        for f in (self.script,):
            os.chown(f, user.pw_uid, user.pw_gid)
        args = [python, str(self.script), str(path), socket_type, str(self.record)]
        if payload is not None:
            args.append(payload.hex())
        self.proc = popen_as(user, *args, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            stop(self.proc)
            raise AssertionError(f"the fake endpoint did not start: {line!r}")

    def recorded(self) -> bytes:
        return self.record.read_bytes() if self.record.exists() else b""

    def stop(self) -> None:
        stop(self.proc)
