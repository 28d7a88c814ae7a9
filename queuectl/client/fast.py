"""The `queuectl` entry point, with a fast path for the two commands scripts call in loops.

    queuectl [--home DIR] [--socket PATH] [--timeout S] enqueue [FLAGS] -- COMMAND [ARGS...]
    queuectl [--home DIR] [--socket PATH] [--timeout S] [--no-color] status [--json]

(FLAGS: --id, --priority/-p, --timeout, --max-retries, --delay, --run-at, --cwd, --env,
--queue/-q, --slots, --tag, --on-success, --on-failure, --on-finish, --json; `--opt VALUE` or `--opt=VALUE`; times as
queuectl.durations reads them.) These run without click and without pyzmq: the
request goes over the control socket with queuectl.client.zmtp, after the same checks the
full client makes (the socket and every directory above it are the expected user's, we
may write it, a daemon listens on it). Start-up is what a shell loop pays per job; see
docs/cli.md, "Enqueueing in a loop", and benchmarks/ (the `cli` figures).

Anything else goes to the full click CLI (queuectl.client.cli), so help, errors and exit
codes are the same. The fast path hands over to it whenever, before it has sent anything,
it meets something it does not handle itself: another command or flag, a value click
would refuse, a JSON job, an unset current directory, a socket that is missing, refused,
untrusted or stale (so starting a daemon, `QUEUECTL_NO_AUTOSTART`, and every error
message stay the full CLI's), a peer that does not complete the ZeroMQ handshake. Once
the request is sent it finishes the job itself, with the full CLI's messages and exit
codes. One difference: a daemon that closes the connection without answering is
reported at once ("closed the connection without a reply"), where the full client waits
for its --timeout.

`QUEUECTL_FAST_PATH=0` in the environment turns the fast path off.

Imports here stay cheap (checked by tests/test_cli_fast.py): no click, zmq, json (until
--json output; requests and replies go through queuectl.client.fast_json), pathlib, typing,
dataclasses, structlog or msgpack.
"""

from __future__ import annotations

import os
import sys
import time

from queuectl.client import fast_json

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

# As queuectl.paths (a test checks they agree; pathlib is too dear to import here).
SYSTEM_RUNTIME_DIR = "/run/queuectl"
SYSTEM_USER = "queuectl"
SOCKET_NAME = "control.sock"
MAX_SOCKET_PATH = 107
# As queuectl.jobs.MAX_TIMEOUT: --timeout/--delay outside [0, this] go to the full CLI,
# which prints the error.
MAX_SECONDS = 365 * 24 * 3600.0
DEFAULT_TIMEOUT = 10.0
MAX_CLIENT_TIMEOUT = 86400 * 24

ENQUEUE_OPTIONS = {
    "--id": "id", "--priority": "priority", "-p": "priority", "--timeout": "timeout",
    "--max-retries": "max_retries", "--delay": "delay", "--run-at": "run_at", "--cwd": "cwd",
    "--env": "env", "--queue": "queue", "-q": "queue", "--slots": "slots", "--tag": "tag",
    "--on-success": "on_success", "--on-failure": "on_failure", "--on-finish": "on_finish", "--on": "on",
}  # fmt: skip
GLOBAL_OPTIONS = {"--home": "home", "--socket": "socket", "--timeout": "timeout"}
# The order the full CLI puts them in the job.
JOB_FIELDS = ("id", "priority", "timeout", "max_retries", "delay", "run_at", "cwd", "queue", "slots",
              "on_success", "on_failure", "on_finish", "on")


class Fallback(Exception):
    """Not for the fast path: hand the command to the full CLI (nothing was sent)."""


def main() -> None:
    """The console script `queuectl` (and `python -m queuectl`)."""
    code = None
    if os.environ.get("QUEUECTL_FAST_PATH") != "0":
        code = run(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from queuectl.client.cli import main as full_main

    full_main()


def run(argv: list[str]) -> int | None:
    """The exit code of a command the fast path carried out, or None when it did not
    (and printed and sent nothing): the full CLI is to run it."""
    if "_QUEUECTL_COMPLETE" in os.environ or sys.stdout is None or sys.stderr is None:
        return None  # shell completion; no streams to print to
    try:
        command = parse(argv)
        if command is None:
            return None
        return command.run()
    except Fallback:
        return None
    except KeyboardInterrupt:
        _echo("", err=True)
        return 130
    except BrokenPipeError:  # as click: whoever read our output has gone; exit 1, quietly
        import contextlib

        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                os.dup2(devnull, stream.fileno())  # nothing left to flush at exit
        return 1


# --- arguments ------------------------------------------------------------------------------


def _take(args: list[str], i: int, table: dict[str, str]) -> tuple[str, str, int] | None:
    """The option at args[i] as (key, value, next index), or None when it is not one of
    `table` (which all take a value) in a form the fast path takes."""
    word = args[i]
    name, eq, value = word.partition("=") if word.startswith("--") else (word, "", "")
    key = table.get(name)
    if key is None:
        return None
    if eq:
        return key, value, i + 1
    if i + 1 >= len(args):
        return None
    return key, args[i + 1], i + 2


def _seconds(text: str, low_open: bool = False, high: float = MAX_SECONDS) -> float:
    """A duration as the full CLI reads it (queuectl.durations): `2.5`, `10m`, `1h30m`."""
    from queuectl.durations import parse_duration

    try:
        value = parse_duration(text)
    except ValueError:
        raise Fallback from None
    low_ok = value > 0 if low_open else value >= 0
    if not (low_ok and value <= high):  # NaN fails both
        raise Fallback
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise Fallback from None


def parse(argv: list[str]) -> Command | None:
    glob: dict[str, str] = {}
    i = 0
    no_color = False
    while i < len(argv) and argv[i] not in ("enqueue", "status"):
        if argv[i] == "--no-color":
            no_color = True
            i += 1
            continue
        taken = _take(argv, i, GLOBAL_OPTIONS)
        if taken is None:
            return None
        glob[taken[0]] = taken[1]
        i = taken[2]
    if i >= len(argv):
        return None
    home = glob.get("home", os.environ.get("QUEUECTL_HOME") or None)
    socket = glob.get("socket", os.environ.get("QUEUECTL_SOCKET") or None)
    timeout = _seconds(glob["timeout"], low_open=True, high=MAX_CLIENT_TIMEOUT) if "timeout" in glob \
        else DEFAULT_TIMEOUT  # fmt: skip
    rest = argv[i + 1 :]
    if argv[i] == "status":
        if any(word != "--json" for word in rest):
            return None
        command = Command(home, socket, timeout, "daemon.status", None, bool(rest))
        command.no_color = no_color
        return command
    return _enqueue(home, socket, timeout, rest)


def _enqueue(home: str | None, socket: str | None, timeout: float, args: list[str]) -> Command | None:
    flags: dict[str, Any] = {}
    env: dict[str, str] = {}
    tags: dict[str, str] = {}  # (checked by the daemon: a bad one is invalid_params, exit 2)
    as_json = False
    i = 0
    while True:
        if i >= len(args):
            return None  # no `--`: JSON, or words click has to sort out
        if args[i] == "--":
            words = args[i + 1 :]
            break
        if args[i] == "--json":
            as_json = True
            i += 1
            continue
        taken = _take(args, i, ENQUEUE_OPTIONS)
        if taken is None:
            return None
        key, value, i = taken
        if key in ("priority", "max_retries", "slots"):
            flags[key] = _int(value)
        elif key in ("timeout", "delay"):
            flags[key] = _seconds(value)
        elif key in ("env", "tag"):
            name, sep, val = value.partition("=")
            if not sep or not name:
                return None
            (env if key == "env" else tags)[name] = val
        else:
            flags[key] = value
    if not words or words[0].lstrip()[:1] in ("{", "["):
        return None  # nothing to run, or a JSON document: the full CLI decides
    job: dict[str, Any] = {"command": words[0] if len(words) == 1 else _shell_join(words)}
    job.update((key, flags[key]) for key in JOB_FIELDS if key in flags)
    if env:
        job["env"] = env
    if tags:
        job["tags"] = tags
    if "cwd" not in job:
        try:
            job["cwd"] = os.getcwd()
        except OSError:
            return None
    return Command(home, socket, timeout, "job.enqueue", job, as_json)


def _shell_join(words: list[str]) -> str:
    """shlex.join, whose quote() is this (shlex itself costs an import of its own)."""
    import re

    unsafe = re.compile(r"[^\w@%+=:,./-]", re.ASCII).search
    quoted = []
    for word in words:
        if not word:
            quoted.append("''")
        elif unsafe(word) is None:
            quoted.append(word)
        else:
            quoted.append("'" + word.replace("'", "'\"'\"'") + "'")
    return " ".join(quoted)


# --- where the daemon is (queuectl.paths and cli.Context.socket_path, on strings) ---------


def _norm(path: str) -> str:
    """str(pathlib.PurePosixPath(path))."""
    root = ""
    if path.startswith("/"):
        root = "//" if path.startswith("//") and not path.startswith("///") else "/"
    parts = [part for part in path.split("/") if part and part != "."]
    return (root + "/".join(parts)) or "."


def _join(base: str, name: str) -> str:
    return base + name if base.endswith("/") else base + "/" + name


def _for_home_socket(home: str) -> str:
    """paths.for_home(home).socket."""
    path = _norm(home)
    if path.startswith("~"):
        first, sep, others = path.partition("/")
        expanded = os.path.expanduser(first)
        if expanded.startswith("~"):
            raise Fallback  # pathlib raises: let the full CLI say so
        path = _norm(expanded + sep + others)
    if not path.startswith("/"):
        path = _norm(_join(os.getcwd(), path)) if path != "." else _norm(os.getcwd())
    runtime = _join(path, "run")
    if len(_join(runtime, "child-99999.sock").encode()) > MAX_SOCKET_PATH:
        import hashlib

        digest = hashlib.sha256(path.encode()).hexdigest()[:16]
        runtime = _join(_user_runtime_base(), f"home-{digest}")
    return _join(runtime, SOCKET_NAME)


def _user_runtime_base() -> str:
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    return _join(_norm(xdg), "queuectl") if xdg else f"/tmp/queuectl-{os.getuid()}"


def _own_socket(home: str | None) -> tuple[str, bool]:
    """(paths.resolve(home).socket, paths.resolve(home).is_system)."""
    home = home or os.environ.get("QUEUECTL_HOME")
    if home:
        return _for_home_socket(home), False
    state_env = os.environ.get("STATE_DIRECTORY")
    runtime_env = os.environ.get("RUNTIME_DIRECTORY")
    if state_env and runtime_env:
        runtime = _norm(runtime_env.split(":")[0])
        return _join(runtime, SOCKET_NAME), runtime == SYSTEM_RUNTIME_DIR
    if not os.environ.get("XDG_STATE_HOME") and os.path.expanduser("~").startswith("~"):
        raise Fallback  # no home directory: the full CLI's PathError
    return _join(_user_runtime_base(), SOCKET_NAME), False


def _lexists(path: str) -> bool:
    try:
        os.lstat(path)
        return True
    except OSError:
        return False


def socket_path(home: str | None, socket: str | None) -> str:
    """cli.Context.socket_path: --socket, $QUEUECTL_SOCKET, --home/$QUEUECTL_HOME, the
    user's own daemon, then the system service's socket if only that one exists."""
    if socket:
        return _norm(socket)
    env = os.environ.get("QUEUECTL_SOCKET")
    if env:
        return _norm(env)
    own, _is_system = _own_socket(home)
    if home or os.environ.get("QUEUECTL_HOME") or _lexists(own):
        return own
    system = _join(SYSTEM_RUNTIME_DIR, SOCKET_NAME)
    return system if _lexists(system) else own


def expected_owners(path: str) -> frozenset[int]:
    """As queuectl.client.rpc.expected_owners."""
    owners = {os.geteuid(), 0}
    if os.path.dirname(path) == SYSTEM_RUNTIME_DIR:
        import contextlib
        import pwd

        with contextlib.suppress(KeyError):
            owners.add(pwd.getpwnam(SYSTEM_USER).pw_uid)
    return frozenset(owners)


# --- the exchange ---------------------------------------------------------------------------


class Command:
    def __init__(self, home: str | None, socket: str | None, timeout: float, method: str,
                 params: dict[str, Any] | None, as_json: bool):  # fmt: skip
        self.home = home
        self.socket = socket
        self.timeout = timeout
        self.method = method
        self.params = params
        self.as_json = as_json
        self.no_color = False

    def connect(self) -> tuple[str, Any]:
        """The trusted, listening socket, handshaken; Fallback for anything else."""
        from queuectl import fsguard
        from queuectl.client.zmtp import HandshakeFailed, ReqConnection

        path = socket_path(self.home, self.socket)
        try:
            if fsguard.check_socket(path, expected_owners(path)) is None:
                raise Fallback  # none there: the full CLI starts a daemon or says so
            if not os.access(path, os.W_OK):
                raise Fallback
        except (OSError, ValueError, fsguard.UnsafePath):
            raise Fallback from None  # the full CLI names the problem (exit 3)
        try:
            return path, ReqConnection(path, time.monotonic() + self.timeout)
        except TimeoutError:
            self.unreachable(path, self._no_reply())
        except (OSError, HandshakeFailed):
            raise Fallback from None  # refused (stale), denied, not a ZeroMQ ROUTER
        raise AssertionError("not reached")

    def run(self) -> int:
        from queuectl.client import output as out
        from queuectl.client.zmtp import Closed

        path, conn = self.connect()
        try:
            sent = time.time()
            payload = fast_json.request(self.method, self.params, round(sent + self.timeout, 3))
            try:
                raw = conn.request(payload, time.monotonic() + self.timeout)
            except TimeoutError:
                self.unreachable(path, self._no_reply())
            except (Closed, OSError):
                self.unreachable(path, "it closed the connection without a reply")
        finally:
            conn.close()
        reply = fast_json.loads(raw.decode())
        if "error" in reply:
            err = reply["error"]
            data = err.get("data") or {}
            name = data.get("name", "error") if isinstance(data, dict) else "error"
            _echo(f"queuectl: {err.get('message', 'error')}", err=True)
            return out.ERROR_EXIT.get(name, out.FAILURE)
        result = reply.get("result")
        if self.method == "daemon.status":
            if self.as_json:
                lines = [out.json_text(out.status_doc(result))]
            else:
                from queuectl.client import term

                lines = out.status_lines(result, term.width(), term.use_colour(self.no_color))
        else:
            lines = [out.json_text(result) if self.as_json else out.enqueued_line(result)]
        for line in lines:
            _echo(line)
        return out.OK

    def _no_reply(self) -> str:
        return f"no reply within {int(self.timeout * 1000) / 1000:g}s"

    def unreachable(self, path: str, why: str) -> None:
        from queuectl.client import output as out

        _echo(f"queuectl: no queuectl daemon answers at {path} ({why})", err=True)
        raise SystemExit(out.UNREACHABLE)


def _echo(text: str, err: bool = False) -> None:
    """click.echo: text and a newline, flushed. click is imported only for what it would
    change: ANSI codes (it strips them when not on a terminal) and text that is not ASCII
    (it may re-wrap a stream whose encoding is ASCII)."""
    stream = sys.stderr if err else sys.stdout
    # (Colour codes are only ever made for a terminal, where click leaves them as they are.)
    if ("\x1b" in text and not stream.isatty()) or not text.isascii():
        import click

        click.echo(text, err=err)
        return
    stream.write(text + "\n")
    stream.flush()
