"""`queuectl metrics`: daemon.metrics in the Prometheus text format, printed once or served."""

from __future__ import annotations

from collections.abc import Callable

import click

from queuectl.client import output as out
from queuectl.client.cli import Context, handle_errors, json_option

HELP = """Print one Prometheus scrape of the daemon's metrics, or serve them.

Without --listen: the metrics in the Prometheus text format on stdout (--json:
the raw numbers of daemon.metrics instead). Counters count since the daemon
started; see docs/operations.md, "Metrics", for every name.

With --listen HOST:PORT (e.g. 127.0.0.1:9464; a port alone means loopback):
serve them at /metrics over HTTP for a host that runs no dashboard (the
dashboard serves /metrics itself). Every
request needs `Authorization: Bearer TOKEN`, on every address, loopback
included: other local users can reach loopback too. Give the token with
--token-file FILE (mode 600; Prometheus reads the same file as its
credentials_file), or a fresh one is made and printed once on stderr.
Runs until interrupted; a scrape never starts a daemon (one that is down
answers 503).
"""


@click.command(help=HELP)
@click.option("--listen", "listen_on", metavar="HOST:PORT",
              help="Serve /metrics over HTTP here instead of printing once (e.g. 127.0.0.1:9464; "
              "a port alone: 127.0.0.1).")
@click.option("--token-file", type=click.Path(dir_okay=False), metavar="FILE",
              help="With --listen: the token scrapers must send (its first line; mode 600).")
@json_option
@click.pass_obj
@handle_errors
def metrics(ctx: Context, listen_on: str | None, token_file: str | None, as_json: bool) -> None:
    client = ctx.client(autostart=False)
    if listen_on is None:
        if token_file is not None:
            out.fail("--token-file goes with --listen", out.USAGE)
        if as_json:
            out.print_json(client.metrics())
            return
        click.echo(client.metrics_text().decode(), nl=False)
        return
    if as_json:
        out.fail("--json prints one scrape: it does not go with --listen", out.USAGE)
    serve(client.metrics_text, listen_on, token_file)


def serve(scrape: Callable[[], bytes], listen_on: str, token_file: str | None) -> None:
    from pathlib import Path

    from queuectl import tokens
    from queuectl.client.metrics_server import MetricsServer
    from queuectl.dashboard.listen import BindError, parse_bind

    if listen_on.isdigit() or (listen_on.startswith(":") and listen_on[1:].isdigit()):
        listen_on = "127.0.0.1:" + listen_on.lstrip(":")  # a port alone: loopback
    try:
        bind = parse_bind(listen_on, Path("/"))
    except BindError as exc:
        out.fail(str(exc).replace("--bind", "--listen"), out.USAGE)
    if bind.is_unix:
        out.fail("--listen takes HOST:PORT (a Unix socket: put the dashboard behind your proxy)", out.USAGE)
    try:
        token = tokens.read_token_file(token_file) if token_file else tokens.new_token()
    except tokens.TokenError as exc:
        out.fail(str(exc), out.USAGE)
    try:
        server = MetricsServer(bind.host, bind.port, token, scrape)
    except OSError as exc:  # the port in use, an address not ours, a privileged port
        out.fail(f"cannot listen on {bind}: {exc.strerror or exc}", out.USAGE)
    host, port = str(server.server_address[0]), server.server_address[1]
    shown = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    click.echo(f"queuectl metrics on http://{shown}/metrics", err=True)
    if token_file is None:
        click.echo(f"token (send as Authorization: Bearer TOKEN): {token}", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


COMMANDS = [metrics]
