"""`queuectl dashboard` (alias `web`): the optional web dashboard, a client of the daemon."""

from __future__ import annotations

import click

from queuectl.client import output as out
from queuectl.client.cli import Context
from queuectl.dashboard import INSTALL_HINT, TOKEN_ENV

HELP = f"""Serve the web dashboard (needs pip install 'queuectl[dashboard]').

Whoever uses the dashboard can run any command as you, so it asks for a token
on every address, loopback included. A fresh one is made at each start and
printed once on stderr as a URL to open (http://127.0.0.1:8080/?token=...); the
browser then keeps it in a cookie. Scripts send `Authorization: Bearer TOKEN`.
For a service, give a fixed token with --token-file FILE (mode 600) or
${TOKEN_ENV}.

Listen on TCP (--host/--port, or --bind HOST:PORT) or, behind a reverse
proxy, on a Unix socket: --bind unix:PATH, or --bind unix: for dashboard.sock
beside the daemon's control socket. The socket is 0600 (0660 when its
directory lets only its group in); an unsafe directory is refused.
--no-auth drops the token, and only on a Unix socket: the proxy in front must
authenticate.
"""


def _run(ctx: Context, bind_spec: str | None, host: str | None, port: int | None,
         token_file: str | None, no_auth: bool) -> None:  # fmt: skip
    try:  # the web framework is an optional extra: import it only here
        from queuectl.dashboard import listen, security
        from queuectl.dashboard.server import serve
    except ImportError as exc:
        out.fail(f"{INSTALL_HINT} ({exc.name} is missing)", out.FAILURE)
    socket_path = ctx.socket_path()
    default_socket = socket_path.parent / listen.DEFAULT_SOCKET_NAME
    if bind_spec is not None and (host is not None or port is not None):
        out.fail("--bind replaces --host and --port: give one or the other", out.USAGE)
    try:
        if bind_spec is not None:
            bind = listen.parse_bind(bind_spec, default_socket)
        else:
            bind = listen.Bind(host or "127.0.0.1", 8080 if port is None else port)
    except listen.BindError as exc:
        out.fail(str(exc), out.USAGE)

    token: str | None = None
    if no_auth:
        if token_file:
            out.fail("--no-auth and --token-file contradict each other: give one", out.USAGE)
        if not bind.is_unix:
            # On a TCP port every local user (and whoever reaches the address) could run
            # commands as us; only a socket file's permissions can stand in for the token.
            out.fail("--no-auth needs --bind unix:PATH: on a TCP address anyone who can connect "
                     "could run commands as you", out.USAGE)  # fmt: skip
    else:
        try:
            token = security.read_token_file(token_file) if token_file else security.token_from_env()
        except security.TokenError as exc:
            out.fail(str(exc), out.USAGE)
    shown_token = f"<the token in {token_file}>" if token_file else f"<${TOKEN_ENV}>"
    if token is None and not no_auth:
        token = shown_token = security.new_token()

    listener = None
    if bind.path is not None:
        try:
            listener = listen.unix_listener(bind.path, create_dir=bind.path == default_socket)
        except listen.BindError as exc:
            out.fail(str(exc), out.USAGE)
        except OSError as exc:  # e.g. a directory on the way we may not enter
            out.fail(f"cannot listen on {bind.path}: {exc.strerror or exc}", out.USAGE)
        mode = "0660, for the directory's group" if listener[1].st_mode & 0o060 else "0600"
        click.echo(f"queuectl dashboard on unix:{bind.path} (mode {mode}; daemon socket {socket_path})",
                   err=True)  # fmt: skip
        if token is None:
            click.echo(f"warning: --no-auth: whoever can connect to {bind.path} can run any command as "
                       "this user; the reverse proxy in front of it must authenticate", err=True)  # fmt: skip
        else:
            click.echo(f"open <the reverse proxy's URL>/?token={shown_token}", err=True)
    else:
        url = f"http://{bind}/"
        click.echo(f"queuectl dashboard on {url} (daemon socket {socket_path})", err=True)
        click.echo(f"open {url}?token={shown_token}", err=True)
    serve(socket_path, bind, token, listener)


def _command(name: str, help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @click.option("--bind", "bind_spec", metavar="ADDRESS",
                  help="HOST:PORT, [IPV6]:PORT, or unix:PATH (a Unix socket for a reverse proxy; "
                       "unix: alone puts dashboard.sock beside the daemon's control socket). "
                       "Replaces --host/--port.")  # fmt: skip
    @click.option("--host", default=None, help="Address to listen on.  [default: 127.0.0.1]")
    @click.option("--port", default=None, type=click.IntRange(0, 65535), help="TCP port.  [default: 8080]")
    @click.option("--token-file", type=click.Path(dir_okay=False), metavar="FILE",
                  help=f"Take the token from FILE's first line (mode 600, yours or root's) instead of "
                       f"making one. Env: {TOKEN_ENV}.")  # fmt: skip
    @click.option("--no-auth", is_flag=True,
                  help="No token: only with --bind unix:PATH, behind a proxy that authenticates.")
    @click.pass_obj
    def command(ctx: Context, bind_spec: str | None, host: str | None, port: int | None,
                token_file: str | None, no_auth: bool) -> None:  # fmt: skip
        _run(ctx, bind_spec, host, port, token_file, no_auth)

    return command


dashboard = _command("dashboard", HELP)
web = _command("web", "Alias of `dashboard`. " + HELP)

COMMANDS = [dashboard, web]
