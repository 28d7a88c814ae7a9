"""Commands over workers.*: `queuectl worker start|stop|scale|status` (alias `workers`)."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from queuectl.client import output as out
from queuectl.client.cli import Context, handle_errors, json_option
from queuectl.client.views import echo_lines, worker_lines

if TYPE_CHECKING:
    from queuectl.client.events import EventStream
    from queuectl.client.library import Client


@click.group("worker")
def worker() -> None:
    """Start, stop and size the pool of worker processes."""


@worker.command()
@click.option("--count", "-c", default=1, show_default=True, help="How many workers.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the job events as NDJSON (messages go to stderr).")
@click.pass_obj
@handle_errors
def start(ctx: Context, count: int, as_json: bool) -> None:
    """Run COUNT workers and stay in the foreground, printing what they do.

    Returns when the workers are stopped (`queuectl worker stop` from
    anywhere). Ctrl+C here stops the workers it started and puts the pool back
    to the size it had before (each worker finishes its current job first).
    """
    client = ctx.client()  # start a daemon first if needed, so the event socket exists
    before = client.workers.status()["target"]
    stream = client.events(wait=False)
    time.sleep(0.05)  # let the subscription reach the daemon before anything happens
    client.workers.scale(count)
    click.echo(f"{count} workers started; Ctrl+C puts the pool back to {before}, "
               "`queuectl worker stop` stops every worker", err=as_json)  # fmt: skip
    stopping = False

    def on_int(signum: int, frame: Any) -> None:
        nonlocal stopping
        if stopping:
            raise KeyboardInterrupt
        stopping = True

    signal.signal(signal.SIGINT, on_int)
    try:
        _run_until_stopped(ctx, client, stream, before, as_json, lambda: stopping)
    finally:
        stream.close()


def _run_until_stopped(ctx: Context, client: Client, stream: EventStream, before: int, as_json: bool,
                       interrupted: Any) -> None:  # fmt: skip
    """Print job events until the pool is back to `before` after Ctrl+C, or stopped from
    elsewhere (`worker stop`: target 0)."""
    colour = ctx.colour() and not as_json
    restoring = stopped = False
    while True:
        if interrupted() and not restoring:
            restoring = True
            click.echo(f"stopping the workers started here (they finish their current job); "
                       f"pool back to {before}...", err=True)  # fmt: skip
            client.workers.scale(before)
        event = stream.next(1.0)
        if event is not None and event["event"].startswith("job."):
            click.echo(json.dumps(event, ensure_ascii=False) if as_json
                       else event_line(event, ctx.width(), colour))  # fmt: skip
        if event is None or event["event"] == "workers.changed":
            status = client.workers.status()
            if restoring and status["target"] == before and len(status["children"]) <= before:
                click.echo(f"workers stopped (pool back to {before})", err=as_json)
                return
            if status["target"] == 0 and (not stopped or status["running"] == 0) and not status["children"]:
                click.echo("workers stopped", err=as_json)
                return
            if status["target"] == 0 and not restoring:
                stopped = True  # stopped from elsewhere: wait for them to finish


EVENT_STATES = {"job.enqueued": "pending", "job.due": "pending", "job.assigned": "assigned",
                "job.started": "processing", "job.returned": "pending", "job.completed": "completed",
                "job.failed": "failed", "job.dead": "dead", "job.cancelled": "cancelled",
                "job.interrupted": "pending", "job.retried": "pending"}  # fmt: skip


def event_line(event: Mapping[str, Any], width: int | None, colour: bool) -> str:
    """A job event for people: `14:03:05 job.completed   ID  exit 0`."""
    from queuectl.client import human, term

    name = event["event"]
    details = []
    if event.get("attempt") is not None:
        details.append(f"attempt {event['attempt']}")
    if event.get("child") is not None:
        details.append(f"child {event['child']}")
    if "exit_code" in event:
        details.append("no exit code" if event["exit_code"] is None else f"exit {event['exit_code']}")
    if event.get("error") and not str(event["error"]).startswith("exit code"):
        details.append(term.one_line(str(event["error"])))
    if event.get("retry_at"):
        details.append(f"retry {human.age(event['retry_at'])}")
    head = f"{human.short_time(event.get('time'))} {term.pad(name, 15)} "
    tail = ("  " + ", ".join(details)) if details else ""
    room = None if width is None else max(width - len(head) - term.cell_width(tail), 8)
    line = term.clip(head + term.clip(term.one_line(str(event.get("job_id", ""))), room) + tail, width)
    if colour and line.startswith(head):
        line = line.replace(name, term.paint(name, EVENT_STATES.get(name), True), 1)
    return line


@worker.command()
@json_option
@click.pass_obj
@handle_errors
def stop(ctx: Context, as_json: bool) -> None:
    """Stop all workers gracefully (each finishes its current job). The daemon keeps running."""
    status = ctx.client(autostart=False).workers.stop()
    if as_json:
        out.print_json(status)
    else:
        click.echo(f"stopping {len(status['children'])} workers; they finish their current job first")


@worker.command()
@click.argument("count", type=int)
@json_option
@click.pass_obj
@handle_errors
def scale(ctx: Context, count: int, as_json: bool) -> None:
    """Set the number of workers and return at once."""
    status = ctx.client().workers.scale(count)
    if as_json:
        out.print_json(status)
    else:
        click.echo(f"workers: target {status['target']}")


@worker.command("status")
@json_option
@click.pass_obj
@handle_errors
def status_(ctx: Context, as_json: bool) -> None:
    """Show each worker and the job it runs."""
    status = ctx.client(autostart=False).workers.status()
    if as_json:
        out.print_json(status)
    else:
        echo_lines(worker_lines(status, ctx.width(), ctx.colour()))


# `workers status` reads as naturally (and the RPC namespace is workers.*): the same
# subcommands under the plural, left out of --help's list (docs/cli.md).
workers = click.Group("workers", commands=worker.commands, hidden=True,
                      help="Alias of `worker`: start, stop and size the pool of worker processes.")

COMMANDS = [worker, workers]
