"""The CLI's fast path (queuectl.client.fast, queuectl.client.zmtp): the same output, errors
and exit codes as the full click CLI, the same checks before it sends, and none of the
imports it exists to avoid."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

from queuectl import jobs as J
from queuectl import paths as qpaths
from queuectl.client import fast, fast_json, rpc
from queuectl.client.cli import Context
from tests.conftest import Daemon

# What `queuectl enqueue -- CMD` and `queuectl status` must not import (checked on the
# modules a real run loaded, with PYTHONPROFILEIMPORTTIME).
HEAVY = ("click", "zmq", "json", "pathlib", "typing", "dataclasses", "structlog", "msgpack", "shlex",
         "socket", "queuectl.jobs", "queuectl.paths", "queuectl.client.rpc", "queuectl.client.cli")  # fmt: skip


def run(d: Daemon, args: list[str], fast_path: bool, env: dict[str, str] | None = None,
        cwd: str | None = None) -> tuple[int, str, str, set[str]]:  # fmt: skip
    """(exit code, stdout, stderr, modules imported) of `python -m queuectl --home H ARGS`."""
    extra = {"PYTHONPROFILEIMPORTTIME": "1", **(env or {})}
    if not fast_path:
        extra["QUEUECTL_FAST_PATH"] = "0"
    proc = d.cli(*args, env=extra, cwd=cwd)
    err, imported = split_importtime(proc.stderr)
    return proc.returncode, proc.stdout, err, imported


def split_importtime(stderr: str) -> tuple[str, set[str]]:
    """(stderr without -X importtime's lines, the modules imported once the `queuectl`
    package was: not what site-packages' own start-up imports, e.g. an editable install's
    finder)."""
    err, order = [], []
    for line in stderr.splitlines(keepends=True):
        if line.startswith("import time:"):
            order.append(line.rsplit("|", 1)[1].strip())
        else:
            err.append(line)
    return "".join(err), set(order[order.index("queuectl") + 1 :] if "queuectl" in order else order)


def normalise(text: str) -> str:
    """What differs between two enqueues or two status calls made a moment apart."""
    text = re.sub(r"\benqueued \S+ ", "enqueued <id> ", text)
    text = re.sub(r"up [0-9.]+m?s,|up \d+[mhd]\d\d[smh],", "up <n>,", text)
    text = re.sub(r"oldest pending (-|[0-9.]+m?s|\d+[mhd]\d\d[smh])", "oldest pending <age>", text)
    text = re.sub(r'"oldest_pending_age_s": [0-9.]+', '"oldest_pending_age_s": <x>', text)
    # (the disk's free space and the WAL's size move with anything else writing meanwhile)
    text = re.sub(r'"(free_bytes|wal_bytes|db_bytes)": [0-9]+', r'"\1": <n>', text)
    text = re.sub(r"(database|WAL) [0-9.]+ [kMGT]?i?B", r"\1 <size>", text)  # (status's disk line)
    text = re.sub(r'"(uptime_s|created_at|updated_at|id|run_at|started_at)": ("[^"]*"|[0-9.]+|null)',
                  r'"\1": <x>', text)  # fmt: skip
    return text


# Forms the fast path carries out itself ({id}: a fresh id per run).
FAST = [
    ["enqueue", "--", "true"],
    ["enqueue", "--", "echo", "a b", "c'd", "", "$HOME", "x*"],
    ["enqueue", "--", "echo hi && true"],
    ["enqueue", "--json", "--", "true"],
    ["enqueue", "--priority", "5", "-p", "7", "--json", "--", "true"],
    ["enqueue", "--priority=-3", "--json", "--", "true"],
    ["enqueue", "-p", "-3", "--", "true"],
    ["enqueue", "--timeout", "1.5", "--max-retries", "0", "--delay", "60", "--json", "--", "true"],
    ["enqueue", "--timeout", " 2e1 ", "--delay=0", "--json", "--", "true"],
    ["enqueue", "--run-at", "2099-01-01T00:00:00Z", "--json", "--", "true"],
    ["enqueue", "--delay", "10m", "--timeout", "1h30m", "--json", "--", "true"],
    ["enqueue", "--delay=90s", "--timeout=500ms", "--", "true"],
    ["enqueue", "--timeout", "2d", "--delay", "1h 30m", "--json", "--", "true"],
    ["enqueue", "--delay", "1.5h", "--timeout", "2m30s", "--json", "--", "true"],
    ["enqueue", "--cwd", "/tmp", "--env", "A=1", "--env", "B=x=y", "--env=C=", "--json", "--", "env"],
    ["enqueue", "--id", "{id}", "--", "true"],
    ["enqueue", "--id={id}", "--json", "--", "true"],
    ["enqueue", "--id", "--{id}", "--", "true"],
    ["enqueue", "--", "--", "-p", "5"],
    ["enqueue", "--on-failure", "cat > /dev/null", "--on-finish=echo done", "--json", "--", "true"],
    ["enqueue", "--on-success", " ", "--", "true"],  # the daemon refuses it: exit 2
    ["enqueue", "--on", "{name}", "--json", "--", "true"],  # pinned to the daemon's own name
    ["enqueue", "--on=no such", "--", "true"],  # not a name: exit 2 from the daemon
    ["enqueue", "--on", "other", "--", "true"],  # another daemon's, on SQLite: exit 2
    ["enqueue", "--id", "dup", "--", "true"],  # exists: exit 6 from the daemon
    ["enqueue", "--id", "", "--", "true"],  # the daemon refuses it: exit 2
    ["enqueue", "--id", " ", "--", "true"],
    ["enqueue", "--run-at", "not a time", "--", "true"],
    ["enqueue", "--priority", "99999999999999999999999", "--", "true"],
    ["enqueue", "--max-retries", "-1", "--", "true"],
    ["--timeout", "5", "enqueue", "--", "true"],
    ["--timeout=0.5", "--timeout", "7", "enqueue", "--", "true"],
    ["status"],
    ["status", "--json"],
    ["status", "--json", "--json"],
    ["--timeout", "5s", "status"],
    ["--no-color", "status"],
    ["--timeout=2s", "enqueue", "--", "true"],
    ["--timeout", "3", "status"],
]
# Forms it hands to click (nothing sent first), with or without an error.
FULL = [
    ["enqueue"],
    ["enqueue", "--"],
    ["enqueue", "true"],
    ["enqueue", "--json", "true"],
    ["enqueue", "--bogus", "--", "true"],
    ["enqueue", "-p5", "--", "true"],
    ["enqueue", "--json=1", "--", "true"],
    ["enqueue", "--priority", "x", "--", "true"],
    ["enqueue", "--priority", "1.5", "--", "true"],
    ["enqueue", "--timeout", "nan", "--", "true"],
    ["enqueue", "--timeout", "inf", "--", "true"],
    ["enqueue", "--delay", "-1", "--", "true"],
    ["enqueue", "--delay", "1e12", "--", "true"],
    ["enqueue", "--delay", "10x", "--", "true"],
    ["enqueue", "--timeout", "1h30", "--", "true"],
    ["enqueue", "--delay", "2y", "--", "true"],
    ["enqueue", "--timeout", "400d", "--", "true"],
    ["enqueue", "--delay", "-5m", "--", "true"],
    ["--timeout", "25d", "status"],
    ["--timeout", "soon", "enqueue", "--", "true"],
    ["enqueue", "--env", "NOEQUALS", "--", "true"],
    ["enqueue", "--env", "=v", "--", "true"],
    ["enqueue", "--", '{"command": "true"}'],
    ["enqueue", "--", "  [1, 2]"],
    ["enqueue", "--", " {not json"],
    ["enqueue", "--", '{"command": "true"}', "x"],
    ["enqueue", "--priority"],
    ["enqueue", "--output", "--", "true"],
    ["enqueue", "--skip-invalid", "--", "true"],
    ["enqueue", "-h"],
    ["enqueue", "--help", "--", "true"],
    ["status", "-h"],
    ["status", "extra"],
    ["status", "--home", "x"],
    ["--help"],
    ["--version"],
    [],
    ["--timeout", "0", "status"],
    ["--timeout", "abc", "status"],
    ["--timeout", "nan", "enqueue", "--", "true"],
    ["--timeout"],
    ["--bogus", "status"],
    ["list", "--limit", "1"],
    ["statuss"],
]


def _expand(args: list[str], tag: str) -> list[str]:
    from queuectl.identity import default_name

    return [a.replace("{id}", f"fp-{tag}").replace("{name}", default_name()) for a in args]


def test_fast_and_full_paths_agree_on_every_form(make_daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    d = make_daemon(workers=0)  # jobs stay pending: every run sees the same queue
    d.enqueue("true", id="dup")
    checked = 0
    for n, args in enumerate(FAST + FULL):
        full = run(d, _expand(args, f"{n}-full"), fast_path=False, cwd=str(tmp_path))
        quick = run(d, _expand(args, f"{n}-fast"), fast_path=True, cwd=str(tmp_path))
        form = f"{args!r}: full {full[:3]!r}, fast {quick[:3]!r}"
        assert full[0] == quick[0], form
        if "--json" in args and full[0] == 0 and args[0] != "status":
            assert volatile_removed(json.loads(full[1])) == volatile_removed(json.loads(quick[1])), form
        else:
            assert normalise(full[1]) == normalise(quick[1]), form
        assert normalise(full[2].replace("-full", "-<path>")) == normalise(quick[2].replace("-fast", "-<path>")), form
        if "enqueue" in args and full[0] == 0 and full[1].startswith(("enqueued ", "{")):
            # What both sent is the same job, field by field.
            a, b = (d.job(enqueued_id(out)) for out in (full[1], quick[1]))
            assert volatile_removed(a) == volatile_removed(b), form
            assert abs(delay_of(a) - delay_of(b)) < 1, form  # --delay 10m: the same run_at
            checked += 1
        # The full path is click's; the fast one only for the forms listed as fast.
        assert "click" in full[3], form
        if args in FAST:
            heavy = set(HEAVY) - ({"json"} if "--json" in args else set())  # --json output: json.dumps
            assert not heavy & quick[3], (form, heavy & quick[3])
        else:
            assert "click" in quick[3], form
    assert checked >= 15


def enqueued_id(stdout: str) -> str:
    return json.loads(stdout)["id"] if stdout.startswith("{") else stdout.split()[1]


def delay_of(job: dict[str, Any]) -> float:
    from datetime import datetime

    if not job["run_at"]:
        return 0.0
    return (datetime.fromisoformat(job["run_at"]) - datetime.fromisoformat(job["created_at"])).total_seconds()


def volatile_removed(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k not in ("id", "created_at", "updated_at", "run_at")}


def test_the_words_after_dashdash_make_the_same_command(make_daemon: Callable[..., Daemon]) -> None:
    d = make_daemon(workers=0)
    words = ["echo", "a b", "c'd", "", "$HOME", "x*", "ü", "--", "-p", "é'\"", "tab\there"]
    ids = []
    for fast_path in (False, True):
        code, out, err, _ = run(d, ["enqueue", "--json", "--", *words], fast_path)
        assert code == 0, err
        ids.append(json.loads(out)["id"])
    a, b = (d.job(i) for i in ids)
    assert a["command"] == b["command"] == " ".join(__import__("shlex").quote(w) for w in words)


def test_non_ascii_and_ansi_output_goes_through_click(make_daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    """click strips ANSI codes off a pipe and may re-encode: the fast path leaves such
    lines to click.echo, so they come out the same."""
    home = tmp_path / "h\x1b[31mé"
    d = make_daemon(workers=0, home_dir=home)
    for args in (["status"], ["enqueue", "--id", "ünï-{id}", "--", "true"]):
        full = run(d, _expand(args, "full"), fast_path=False)
        quick = run(d, _expand(args, "fast"), fast_path=True)
        assert full[0] == quick[0] == 0, (full, quick)
        assert normalise(full[1]).replace("full", "X") == normalise(quick[1]).replace("fast", "X")
    assert "\x1b" not in quick[1] and "é" in run(d, ["status"], fast_path=True)[1]


def test_a_reader_that_has_gone_is_exit_1_quietly(make_daemon: Callable[..., Daemon]) -> None:
    """`queuectl status | head -0`: EPIPE on stdout is exit 1 and no traceback, as click does it."""
    d = make_daemon(workers=0)
    results = []
    for fast_path in (False, True):
        read_end, write_end = os.pipe()
        os.close(read_end)  # any write to stdout now fails with EPIPE
        env = {**d.env, "QUEUECTL_FAST_PATH": "1" if fast_path else "0"}
        proc = subprocess.run([sys.executable, "-m", "queuectl", "--home", str(d.home), "status"],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, env=env, timeout=60)  # fmt: skip
        os.close(write_end)
        results.append((proc.returncode, proc.stderr))
    assert results[0] == results[1] == (1, ""), results


def test_no_daemon_is_the_full_clis_error(tmp_path: Path) -> None:
    d = Daemon(tmp_path / "none")  # never started
    for args in (["status"], ["enqueue", "--", "true"], ["status", "--json"]):
        full = run(d, args, fast_path=False)
        quick = run(d, args, fast_path=True)
        assert full[:3] == quick[:3] and quick[0] == 3, (full, quick)
        assert "no queuectl daemon answers at" in quick[2]


def test_enqueue_starts_a_daemon_then_goes_fast(tmp_path: Path) -> None:
    """Autostart stays the full CLI's: the fast path hands over when no daemon listens."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUEUECTL_")}
    env["PYTHONPROFILEIMPORTTIME"] = "1"

    def enqueue() -> tuple[subprocess.CompletedProcess[str], set[str]]:
        proc = subprocess.run([sys.executable, "-m", "queuectl", "--home", str(home), "enqueue", "--", "true"],
                              capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
        return proc, split_importtime(proc.stderr)[1]

    try:
        first, imported = enqueue()
        assert first.returncode == 0 and "started a daemon (pid" in first.stderr, first.stderr
        assert "click" in imported and first.stdout.startswith("enqueued ")
        second, imported = enqueue()
        assert second.returncode == 0 and "started a daemon" not in second.stderr
        assert "click" not in imported and "zmq" not in imported and second.stdout.startswith("enqueued ")
    finally:
        subprocess.run([sys.executable, "-m", "queuectl", "--home", str(home), "shutdown"],
                       env={**env, "QUEUECTL_NO_AUTOSTART": "1"}, capture_output=True, timeout=60)  # fmt: skip


def test_imports_stay_cheap() -> None:
    code = ("import sys; before = set(sys.modules); import queuectl, queuectl.client.fast, queuectl.client.zmtp, "
            "queuectl.client.output, queuectl.fsguard; print(' '.join(sorted(set(sys.modules) - before)))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(Path(__file__).resolve().parent.parent)).stdout.split()  # fmt: skip
    assert "queuectl.client.fast" in out
    assert not set(HEAVY) & set(out), set(HEAVY) & set(out)


# --- a fake daemon: a ROUTER that misbehaves ------------------------------------------------


class FakeRouter:
    """A pyzmq ROUTER at the socket of `home`, answering each request with `answer(body)`
    (None: no answer; "close": close the socket without answering)."""

    def __init__(self, home: Path, answer: Callable[[bytes], Any]):
        self.paths = qpaths.for_home(home)
        self.paths.runtime_dir.mkdir(parents=True, mode=0o700)
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(self.paths.endpoint(self.paths.socket))
        self.answer = answer
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        """The socket is used and closed in this thread only (zmq sockets are not thread-safe)."""
        try:
            while True:
                try:
                    frames = self.sock.recv_multipart()
                except zmq.ContextTerminated:  # stop()
                    return
                self.received.append(frames[-1])
                reply = self.answer(frames[-1])
                if reply == "close":
                    return
                if reply is not None:
                    self.sock.send_multipart([*frames[:-1], reply])
        finally:
            self.sock.close(linger=0)

    def stop(self) -> None:
        self.ctx.term()  # the blocked recv raises ContextTerminated; term() waits for the close
        self.thread.join(5)


def cli(home: Path, *args: str, fast_path: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QUEUECTL_NO_AUTOSTART": "1", "QUEUECTL_FAST_PATH": "1" if fast_path else "0"}
    return subprocess.run([sys.executable, "-m", "queuectl", "--home", str(home), *args],
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip


def test_a_daemon_that_never_answers_gives_the_timeout_message(tmp_path: Path) -> None:
    fake = FakeRouter(tmp_path / "home", lambda body: None)
    try:
        results = []
        for fast_path in (True, False):
            t0 = time.monotonic()
            results.append(cli(tmp_path / "home", "--timeout", "1", "enqueue", "--", "true", fast_path=fast_path))
            assert time.monotonic() - t0 < 8
        assert results[0].returncode == results[1].returncode == 3
        assert results[0].stderr == results[1].stderr == \
            f"queuectl: no queuectl daemon answers at {fake.paths.socket} (no reply within 1s)\n"  # fmt: skip
        request = json.loads(fake.received[0])
        assert request["method"] == "job.enqueue" and request["params"]["command"] == "true"
        assert request["expires_at"] > time.time() - 30
    finally:
        fake.stop()


def test_a_daemon_that_hangs_up_is_reported_at_once(tmp_path: Path) -> None:
    fake = FakeRouter(tmp_path / "home", lambda body: "close")
    try:
        t0 = time.monotonic()
        r = cli(tmp_path / "home", "--timeout", "20", "status")
        assert time.monotonic() - t0 < 10  # not the 20 s timeout
        assert r.returncode == 3
        assert r.stderr == (f"queuectl: no queuectl daemon answers at {fake.paths.socket} "
                            "(it closed the connection without a reply)\n")  # fmt: skip
        assert json.loads(fake.received[0])["method"] == "daemon.status"
    finally:
        fake.stop()


def test_errors_and_odd_replies_from_the_daemon(tmp_path: Path) -> None:
    big = "x" * 100_000  # a long frame each way
    replies = {
        "job.enqueue": {"jsonrpc": "2.0", "id": 1, "error": {"code": -32003, "message": "nope " + big,
                                                             "data": {"name": "invalid_state"}}},  # fmt: skip
        "daemon.status": {"jsonrpc": "2.0", "id": 1, "error": {"code": -1, "message": "odd", "data": [1]}},
    }
    fake = FakeRouter(tmp_path / "home", lambda body: json.dumps(replies[json.loads(body)["method"]]).encode())
    try:
        for args, code, message in ((["enqueue", "--", "echo", big], 5, "nope " + big), (["status"], 1, "odd")):
            fast_r, full_r = cli(tmp_path / "home", *args), cli(tmp_path / "home", *args, fast_path=False)
            assert (fast_r.returncode, fast_r.stderr) == (full_r.returncode, full_r.stderr) == \
                (code, f"queuectl: {message}\n")  # fmt: skip
        assert json.loads(fake.received[0])["params"]["command"] == "echo " + big
    finally:
        fake.stop()


def test_a_listener_that_is_not_zeromq_goes_to_the_full_client(tmp_path: Path) -> None:
    import socket

    paths = qpaths.for_home(tmp_path / "home")
    paths.runtime_dir.mkdir(parents=True, mode=0o700)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(paths.socket))
    server.listen(8)
    accepted: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)
            with contextlib.suppress(OSError):  # the client may have gone already
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n" + b"\0" * 64)

    threading.Thread(target=serve, daemon=True).start()
    try:
        env = {**os.environ, "QUEUECTL_NO_AUTOSTART": "1", "PYTHONPROFILEIMPORTTIME": "1"}
        r = subprocess.run([sys.executable, "-m", "queuectl", "--home", str(tmp_path / "home"), "--timeout", "1",
                            "status"], capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
        assert r.returncode == 3
        assert "click" in split_importtime(r.stderr)[1]
        assert f"no queuectl daemon answers at {paths.socket}" in r.stderr
    finally:
        server.close()
        for conn in accepted:
            conn.close()


def test_an_untrusted_socket_directory_is_never_connected_to(tmp_path: Path) -> None:
    """Group- and world-writable runtime directory: the fast path refuses it as the full
    client does (and leaves the message to it); the fake daemon never hears a word."""
    fake = FakeRouter(tmp_path / "home", lambda body: b'{"jsonrpc":"2.0","id":1,"result":{}}')
    try:
        fake.paths.runtime_dir.chmod(0o777)
        r = cli(tmp_path / "home", "enqueue", "--", "echo", "secret")
        assert r.returncode == 3 and "not talking to a daemon at" in r.stderr and "writable by everyone" in r.stderr
        time.sleep(0.2)
        assert fake.received == []
    finally:
        fake.stop()


# --- the pure parts, against what they copy -------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="/.a~-", max_size=12))
def test_norm_is_pathlibs(path: str) -> None:
    assert fast._norm(path) == str(PurePosixPath(path))


HOMES = ["h", "./h/", "a//b/./c/", "/abs/h", "//net/h", "~", "~/q", "/", "." + "/x" * 60, "/" + "y" * 90]


@pytest.mark.parametrize("home", HOMES)
@pytest.mark.parametrize("xdg", [None, "/run/user/1234", "/run/user//77/"])
def test_socket_path_is_the_full_clis(home: str, xdg: str | None, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    for key in ("QUEUECTL_HOME", "QUEUECTL_SOCKET", "STATE_DIRECTORY", "RUNTIME_DIRECTORY", "XDG_STATE_HOME"):
        monkeypatch.delenv(key, raising=False)
    if xdg is None:
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    else:
        monkeypatch.setenv("XDG_RUNTIME_DIR", xdg)
    cases: list[tuple[str | None, str | None, dict[str, str]]] = [
        (home, None, {}), (None, None, {"QUEUECTL_HOME": home}), (home, "s//ock/", {}),
        (None, None, {"QUEUECTL_SOCKET": "/x/./y.sock"}), (None, None, {}),
        (None, None, {"STATE_DIRECTORY": "/var/lib/q:/other", "RUNTIME_DIRECTORY": "/run/queuectl/:/x"}),
        (None, None, {"STATE_DIRECTORY": "/s", "RUNTIME_DIRECTORY": "/r"}), (None, None, {"XDG_STATE_HOME": "/st"}),
    ]  # fmt: skip
    for h, sock, env in cases:
        with monkeypatch.context() as m:
            for key, value in env.items():
                m.setenv(key, value)
            ctx = Context(h, sock or os.environ.get("QUEUECTL_SOCKET"), 10.0)
            assert fast.socket_path(h, sock) == str(ctx.socket_path()), (h, sock, env)
            if not sock and "QUEUECTL_SOCKET" not in env:
                resolved = qpaths.resolve(h)
                assert fast._own_socket(h) == (str(resolved.socket), resolved.is_system), (h, env)


def test_constants_are_the_ones_they_copy() -> None:
    assert fast.MAX_SECONDS == J.MAX_TIMEOUT
    assert str(qpaths.SYSTEM_RUNTIME_DIR) == fast.SYSTEM_RUNTIME_DIR
    assert fast.SYSTEM_USER == qpaths.SYSTEM_USER and fast.SOCKET_NAME == qpaths.SOCKET_NAME
    assert fast.MAX_SOCKET_PATH == qpaths.MAX_SOCKET_PATH
    for path in ("/run/queuectl/control.sock", "/tmp/q/control.sock", "rel/control.sock"):
        assert fast.expected_owners(path) == rpc.expected_owners(path)


json_scalars = st.one_of(st.text(), st.integers(), st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), st.one_of(json_scalars, st.dictionaries(st.text(), st.text()))))
def test_request_json_is_json_dumps(params: dict[str, Any]) -> None:
    assert fast_json.dumps(params) == json.dumps(params)


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.one_of(st.none(), st.booleans(), json_scalars),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20))  # fmt: skip
def test_reply_json_is_json_loads(doc: Any) -> None:
    text = json.dumps(doc, ensure_ascii=False)
    assert fast_json.loads(text) == json.loads(text)
    assert fast_json.loads(" \n" + text + "\n") == json.loads(text)
    with pytest.raises(ValueError):
        fast_json.loads(text + " x")
