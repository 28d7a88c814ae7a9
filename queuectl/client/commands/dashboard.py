"""`queuectl dashboard` (alias `web`): the optional web dashboard, a client of the daemon."""

from __future__ import annotations

import click

from queuectl.client import output as out
from queuectl.client.cli import Context
from queuectl.dashboard import INSTALL_HINT


def _run(ctx: Context, host: str, port: int, token_file: str | None) -> None:
    try:  # the web framework is an optional extra: import it only here
        from queuectl.dashboard import security
        from queuectl.dashboard.server import serve
    except ImportError as exc:
        out.fail(f"{INSTALL_HINT} ({exc.name} is missing)", out.FAILURE)
    socket_path = ctx.socket_path()
    token = None
    if token_file:
        try:
            token = security.read_token_file(token_file)
        except (OSError, ValueError) as exc:
            out.fail(f"cannot use the token file: {exc}", out.USAGE)
    elif not security.is_loopback(host):
        token = security.new_token()  # beyond loopback a token is not optional
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}/"
    click.echo(f"queuectl dashboard on {url} (daemon socket {socket_path})", err=True)
    if token and not token_file:
        click.echo(f"open {url}?token={token}", err=True)
    elif token:
        click.echo(f"open {url}?token=<the token in {token_file}>", err=True)
    serve(socket_path, host, port, token)


def _command(name: str, help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @click.option(
        "--host",
        default="127.0.0.1",
        show_default=True,
        help="Address to listen on. Anything but loopback requires a token.",
    )
    @click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
    @click.option(
        "--token-file",
        type=click.Path(dir_okay=False),
        metavar="FILE",
        help="Require the token in FILE (else one is generated when not on loopback).",
    )
    @click.pass_obj
    def command(ctx: Context, host: str, port: int, token_file: str | None) -> None:
        _run(ctx, host, port, token_file)

    return command


dashboard = _command("dashboard", "Serve the web dashboard (needs pip install 'queuectl[dashboard]').")
web = _command("web", "Alias of `dashboard`.")

COMMANDS = [dashboard, web]
