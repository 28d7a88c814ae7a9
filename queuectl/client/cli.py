"""The `queuectl` command: a thin click layer over the Python client (queuectl.client.library).

Commands live in queuectl/client/commands/<namespace>.py, mirroring the RPC
namespaces of the daemon (job.*'s larger commands have modules of their own; see
commands/__init__.py), and do their work through one Client: finding the
daemon, starting one for a user's own home when none answers, and every request
are the library's. This module holds the global options and the mapping of
errors to exit codes.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from queuectl import __version__
from queuectl.client import output as out

if TYPE_CHECKING:
    from queuectl.client.library import Client


class Context:
    """What every command gets: the global options, and the daemon client made on demand."""

    def __init__(self, home: str | None, socket: str | None, timeout: float, no_color: bool = False):
        self.home = home
        self.socket = socket
        self.timeout = timeout
        self.no_color = no_color
        self._paths: Any = None
        self._client: Client | None = None

    def colour(self) -> bool:
        """Colour on: stdout a terminal, no NO_COLOR, no --no-color (queuectl.client.term)."""
        from queuectl.client import term

        return term.use_colour(self.no_color)

    def width(self) -> int | None:
        from queuectl.client import term

        return term.width()

    @property
    def paths(self) -> Any:
        if self._paths is None:
            from queuectl import paths

            self._paths = paths.resolve(self.home)
        return self._paths

    def socket_path(self) -> Path:
        """--socket, $QUEUECTL_SOCKET, --home/$QUEUECTL_HOME, then the user's own daemon,
        then the system service's socket if only that one exists (queuectl.client.library)."""
        return self.client(autostart=False).socket_path

    def client(self, autostart: bool = True) -> Client:
        """The Python client every command goes through. With autostart, a user's own daemon
        is started first if none runs; either way the client starts one for the methods
        that may (every one but status, shutdown, worker stop and worker status)."""
        if self._client is None:
            from queuectl.client.library import Client

            self._client = Client(self.socket, home=self.home, timeout=self.timeout, autostart=True)
        if autostart:
            self._client.ensure_daemon()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One line on stderr and a documented exit code instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from queuectl.client.rpc import DaemonUnreachable, RemoteError
        from queuectl.fsguard import UnsafePath
        from queuectl.paths import PathError

        try:
            return fn(*args, **kwargs)
        except DaemonUnreachable as exc:
            out.fail(str(exc), out.UNREACHABLE)
        except (UnsafePath, PathError) as exc:
            out.fail(str(exc), out.UNSAFE)
        except RemoteError as exc:
            out.fail(exc.message, out.ERROR_EXIT.get(exc.name, out.FAILURE))
        except KeyboardInterrupt:
            click.echo("", err=True)
            sys.exit(130)

    return wrapper


def duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """Click callback of every option that takes a time: seconds (`2.5`) or units (`10m`,
    `1h30m`, see queuectl.durations); a bad one is one line on stderr and exit code 2."""
    from queuectl.durations import DurationError, parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except DurationError as exc:
        out.fail(f"{param.opts[0]}: {exc}", out.USAGE)


def _client_timeout(ctx: click.Context, param: click.Parameter, value: str) -> float:
    seconds = duration(ctx, param, value)
    # NaN passes any range check; a ZeroMQ poll takes whole milliseconds up to about 24 days.
    if seconds is None or not 0 < seconds <= 86400 * 24:
        raise click.BadParameter("must be a number of seconds above 0 and at most 24 days")
    return seconds


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (one document) for scripts.")


class Group(click.Group):
    """Commands are loaded on first use (see queuectl.client.commands)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from queuectl.client.commands import COMMAND_MODULES

        return list(COMMAND_MODULES)  # most used first

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            from queuectl.client.commands import load

            command = load(cmd_name)
            if command is None:
                return None
            self.add_command(command)
        return self.commands[cmd_name]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", envvar="QUEUECTL_HOME", metavar="DIR",
              help="Keep everything (database, logs, sockets) under DIR. Env: QUEUECTL_HOME.")
@click.option("--socket", "socket_", envvar="QUEUECTL_SOCKET", metavar="PATH",
              help="Talk to the daemon at this control socket. Env: QUEUECTL_SOCKET.")
@click.option("--timeout", default="10", show_default=True, metavar="DURATION", callback=_client_timeout,
              help="Give up on a daemon that does not answer within this time (seconds, or 500ms, 1m...).")
@click.option("--no-color", is_flag=True,
              help="No colours in tables (they are only used on a terminal). Env: NO_COLOR.")
@click.version_option(__version__, prog_name="queuectl")
@click.pass_context
def cli(ctx: click.Context, home: str | None, socket_: str | None, timeout: float, no_color: bool) -> None:
    """queuectl: a background job queue for shell commands.

    A daemon owns the queue (a SQLite database; or PostgreSQL, which several
    daemons on several hosts can share) and a pool of worker processes; this
    command talks to it over a Unix socket. Commands that need
    the daemon start one for you in the background when none is running
    (not for the system service; set QUEUECTL_NO_AUTOSTART=1 to turn this off).

    \b
    Quick start:
      queuectl enqueue -- echo hello        # run a command in the background
      queuectl list                          # see jobs and their states
      queuectl logs <id>                     # its stdout
      queuectl status                        # counts and workers

    Exit codes: 0 ok, 1 failed, 2 invalid input, 3 daemon unreachable,
    4 not found, 5 invalid state, 6 duplicate id, 7 daemon already running,
    8 database damaged, 9 unsafe path (see docs/cli.md).
    """
    ctx.obj = Context(home, socket_, timeout, no_color)
    ctx.call_on_close(ctx.obj.close)


def main() -> None:
    cli(prog_name="queuectl")
