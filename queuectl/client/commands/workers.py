"""Commands over workers.*: `queuectl worker start|stop|scale|status`."""

from __future__ import annotations

import json
import signal
import time
from typing import TYPE_CHECKING, Any

import click

from queuectl.client import output as out
from queuectl.client.cli import Context, handle_errors, json_option

if TYPE_CHECKING:
    from queuectl.client.models import WorkersStatus


def _print_workers(status: WorkersStatus) -> None:
    click.echo(f"workers: {status['running']} running (target {status['target']}), {status['busy']} busy")
    rows = []
    for child in status["children"]:
        job = child["job"]
        rows.append({**child, "job_id": job and job["job_id"], "running_s": job and job["running_s"]})
    if rows:
        click.echo(out.table(rows, [("child", "CHILD"), ("pid", "PID"), ("state", "STATE"),
                                    ("job_id", "JOB"), ("running_s", "FOR_S")]))  # fmt: skip


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
    anywhere); Ctrl+C here stops them gracefully: each finishes its
    current job first.
    """
    client = ctx.client()  # start a daemon first if needed, so the event socket exists
    stream = client.events(wait=False)
    time.sleep(0.05)  # let the subscription reach the daemon before anything happens
    client.workers.scale(count)
    click.echo(f"{count} workers started; Ctrl+C or `queuectl worker stop` stops them", err=as_json)
    stopping = False

    def on_int(signum: int, frame: Any) -> None:
        nonlocal stopping
        if stopping:
            raise KeyboardInterrupt
        stopping = True

    signal.signal(signal.SIGINT, on_int)
    asked_stop = False
    try:
        while True:
            if stopping and not asked_stop:
                asked_stop = True
                click.echo("stopping workers (they finish their current job)...", err=True)
                client.workers.stop()
            event = stream.next(1.0)
            if event is not None and event["event"].startswith("job.") and as_json:
                click.echo(json.dumps(event, ensure_ascii=False))
            elif event is not None and event["event"].startswith("job."):
                fields = " ".join(f"{k}={v}" for k, v in event.items() if k not in ("event", "time"))
                click.echo(f"{event['time']} {event['event']} {fields}")
            if event is None or event["event"] == "workers.changed":
                status = client.workers.status()
                if status["target"] == 0 and (not asked_stop or status["running"] == 0) and not status["children"]:
                    click.echo("workers stopped", err=as_json)
                    return
                if status["target"] == 0 and not asked_stop:
                    asked_stop = True  # stopped from elsewhere: wait for them to finish
    finally:
        stream.close()


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
        _print_workers(status)


COMMANDS = [worker]
