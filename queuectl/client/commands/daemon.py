"""Commands over daemon.* and rpc.*: run, stop and inspect the daemon; raw calls; events."""

from __future__ import annotations

import json
import sys

import click

from queuectl.client import output as out
from queuectl.client.cli import Context, handle_errors, json_option


@click.command()
@click.option("--workers", "-w", type=int, help="Worker children to start with (default: config `workers`).")
@click.option("--detach", is_flag=True, help="Run in the background (log in the state dir, a pidfile in the runtime dir).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--log-format", type=click.Choice(["json", "console"]),
              help="Default: console on a terminal, JSON lines otherwise.")
@click.option("--name", metavar="NAME",
              help="This daemon's name, recorded on each attempt it runs (default: the host name).")
@click.option("--database", metavar="URL",
              help="postgresql://... to keep the queue in PostgreSQL, or `sqlite` (the default: queue.db in the "
                   "state directory). Also QUEUECTL_DATABASE, or `database` in the state directory's "
                   "queuectl.toml; this flag wins, then the variable, then the file (docs/postgres.md).")
@click.pass_obj
@handle_errors
def daemon(ctx: Context, workers: int | None, detach: bool, log_level: str, log_format: str | None,
           name: str | None, database: str | None) -> None:  # fmt: skip
    """Run the daemon in the foreground (what systemd runs).

    It owns the database and the worker children, and serves the control
    socket. SIGTERM or Ctrl+C stops it gracefully: running jobs get
    `shutdown_grace` seconds to finish, then are killed and re-queued.
    """
    import os

    from queuectl.database import ENV_VAR, DatabaseChoiceError, parse
    from queuectl.settings import MAX_WORKERS

    if workers is not None and not 0 <= workers <= MAX_WORKERS:
        out.fail(f"--workers must be from 0 to {MAX_WORKERS}", out.USAGE)
    if name is not None:
        from queuectl.identity import check_name
        from queuectl.validation import ValidationError

        try:
            check_name(name)
        except ValidationError as exc:
            out.fail(f"--name: {exc}", out.USAGE)
    if database is not None:
        try:
            parse(database, "--database")
        except DatabaseChoiceError as exc:
            out.fail(str(exc), out.USAGE)
        if detach:  # (to the detached daemon by its environment: argv shows in `ps`)
            os.environ[ENV_VAR] = database
            database = None
    if detach:
        from queuectl.client.autostart import daemon_answers
        from queuectl.client.autostart import detach as run_detached

        if daemon_answers(ctx.paths.socket):
            out.fail(f"a daemon is already running at {ctx.paths.socket}", out.ALREADY_RUNNING)

        extra = ["--log-level", log_level]
        if workers is not None:
            extra += ["--workers", str(workers)]
        if name is not None:
            extra += ["--name", name]
        sys.exit(run_detached(ctx.paths, ctx.home, extra))
    from queuectl.daemon.main import run

    sys.exit(run(ctx.paths, workers, log_level, log_format, database, name))


@click.command()
@json_option
@click.pass_obj
@handle_errors
def init(ctx: Context, as_json: bool) -> None:
    """Create the state directory and database (or check an existing one: a damaged
    database is refused, exit code 8), and print where things live."""
    from queuectl import fsguard
    from queuectl.daemon.store import Store, UnusableDatabase

    paths = ctx.paths
    fsguard.prepare_state_dirs(paths)  # the daemon's own checks (exit 9 when refused)
    db = str(paths.db)
    for path in (db, db + "-wal", db + "-shm"):
        fsguard.check_file(path)
    try:
        Store(paths.db).close()
    except UnusableDatabase as exc:
        out.fail(str(exc), out.BAD_DATABASE)
    info = {"state_dir": str(paths.state_dir), "database": str(paths.db),
            "logs": str(paths.logs_dir), "socket": str(paths.socket)}  # fmt: skip
    if as_json:
        out.print_json(info)
    else:
        for key, value in info.items():
            click.echo(f"{key}: {value}")


@click.command()
@click.option("--queue", "-q", metavar="NAME", help="Only this queue: its counts and its line.")
@json_option
@click.pass_obj
@handle_errors
def status(ctx: Context, queue: str | None, as_json: bool) -> None:
    """Counts of jobs per state, each queue, and the workers. Never starts a daemon."""
    result = ctx.client(autostart=False).status(queue=queue)
    if as_json:
        out.print_json(out.status_doc(result))
        return
    for line in out.status_lines(result, ctx.width(), ctx.colour()):
        click.echo(line)


@click.command()
@click.option("--wait/--no-wait", default=True, help="Wait until the daemon has exited.")
@json_option
@click.pass_obj
@handle_errors
def shutdown(ctx: Context, wait: bool, as_json: bool) -> None:
    """Stop the daemon gracefully (running jobs get shutdown_grace to finish)."""
    client = ctx.client(autostart=False)
    result = client.shutdown()
    if not as_json:
        click.echo(f"daemon (pid {result['pid']}) is stopping")
    if wait:
        client.wait_stopped()
    if as_json:
        out.print_json({**result, "stopped": wait})


@click.command()
@click.argument("method")
@click.argument("params", required=False)
@click.option("--json", "as_json", is_flag=True, help="Accepted for uniformity: the output is always JSON.")
@click.pass_obj
@handle_errors
def call(ctx: Context, method: str, params: str | None, as_json: bool) -> None:
    """Send one raw JSON-RPC request and print the result as JSON.

    PARAMS is a JSON object (by name) or array (by position). An error
    reply is printed on stderr and sets the exit code (see docs/cli.md).

    \b
    queuectl call daemon.status
    queuectl call job.get '{"id": "job1"}'
    queuectl call rpc.discover            # every method and its params
    """
    parsed = None
    if params is not None:
        try:
            parsed = json.loads(params)
        except ValueError as exc:
            out.fail(f"PARAMS is not valid JSON: {exc}", out.USAGE)
    out.print_json(ctx.client().call(method, parsed))


@click.command()
@click.option("--topic", "-t", multiple=True, help="Only events whose name starts with this (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Accepted for uniformity: the output is always NDJSON.")
@click.pass_obj
@handle_errors
def events(ctx: Context, topic: tuple[str, ...], as_json: bool) -> None:
    """Print the daemon's lifecycle events as NDJSON, as they happen."""
    # Without waiting for a daemon: one that starts later is connected to when it does.
    stream = ctx.client().events(topic or ("",), wait=False)
    try:
        for event in stream:
            click.echo(json.dumps(event, ensure_ascii=False))
    finally:
        stream.close()


COMMANDS = [daemon, init, status, shutdown, call, events]
