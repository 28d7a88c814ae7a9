"""Commands over queue.*: `queuectl queue add|list|show|set|pause|resume|remove`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click

from queuectl.client import human
from queuectl.client import output as out
from queuectl.client.cli import Context, handle_errors, json_option
from queuectl.client.table import Col, render
from queuectl.client.views import echo_lines


def queue_lines(ctx: Context, queues: Sequence[Mapping[str, Any]]) -> list[str]:
    """A row per queue, fitted to the terminal like every table."""
    rows = [{**q, "load": f"{q['slots_in_use']}/{q['concurrency']}", "state": _state(q)} for q in queues]
    rate = [Col("rate", "RATE", lambda r: r or "-")] if any(q.get("rate") for q in queues) else []
    return render(rows, [
        Col("name", "QUEUE", shrink=1, min_width=8, soft=24), Col("pending", "PENDING"),
        Col("load", "RUNNING/LIMIT"), *rate, Col("weight", "WEIGHT"), Col("state", "STATE"),
        Col("oldest_pending_age_s", "OLDEST PENDING", human.span),
    ], ctx.width(), ctx.colour())  # fmt: skip


def _state(q: Mapping[str, Any]) -> str:
    if q["paused"]:
        return "paused"
    return "rate-limited" if q.get("rate_limited") else "active"


RATE_HELP = ("At most N job starts in any PERIOD: 10/m, 2/s, 5/10s, 100/hour (s, m, h, d or second, "
             "minute, hour, day). Jobs held by it stay pending.")


def _check_rate(rate: str | None) -> None:
    """A bad --rate is refused before anything is sent (exit 2, nothing changed)."""
    if rate is not None:
        from queuectl.ratelimit import parse_rate
        from queuectl.validation import ValidationError

        try:
            parse_rate(rate, "--rate")
        except ValidationError as exc:
            out.fail(str(exc), out.USAGE)


@click.group("queue")
def queue() -> None:
    """Named queues: concurrency limits, weights, pause and resume (see docs/cli.md)."""


@queue.command()
@click.argument("name")
@click.option("--concurrency", "-c", type=int, help="Slots its jobs may hold at once (default 10000: the pool decides).")
@click.option("--weight", "-w", type=int, help="Its share of the pool against other busy queues (default 1).")
@click.option("--rate", "-r", metavar="N/PERIOD", help=RATE_HELP)
@json_option
@click.pass_obj
@handle_errors
def add(ctx: Context, name: str, concurrency: int | None, weight: int | None, rate: str | None,
        as_json: bool) -> None:  # fmt: skip
    """Create queue NAME (it is saved; jobs go in with `enqueue --queue NAME`)."""
    _check_rate(rate)
    result = ctx.client().queue_add(name, concurrency=concurrency, weight=weight, rate=rate)
    if as_json:
        out.print_json(result)
    else:
        limit = f", rate {result['rate']}" if result.get("rate") else ""
        click.echo(f"queue {name} added (concurrency {result['concurrency']}, weight {result['weight']}{limit})")


@queue.command("list")
@json_option
@click.pass_obj
@handle_errors
def list_(ctx: Context, as_json: bool) -> None:
    """Every queue with its counts."""
    result = ctx.client().queue_list()
    if as_json:
        out.print_json(result)
    else:
        echo_lines(queue_lines(ctx, result))


@queue.command()
@click.argument("name")
@json_option
@click.pass_obj
@handle_errors
def show(ctx: Context, name: str, as_json: bool) -> None:
    """One queue."""
    result = ctx.client().queue_get(name)
    if as_json:
        out.print_json(result)
        return
    for key in ("name", "concurrency", "weight", "rate", "paused", "pending", "rate_limited", "rate_free_at",
                "running", "assigned", "slots_in_use", "oldest_pending_age_s", "created_at"):  # fmt: skip
        value: Any = result.get(key)
        if key == "oldest_pending_age_s":
            value = human.span(value)
        elif key == "rate_free_at" and value:
            value = human.long_time(value)
        click.echo(f"{key.ljust(20)}  {'-' if value is None else value}")
    click.echo(f"{'counts'.ljust(20)}  " + "  ".join(f"{s} {n}" for s, n in result["counts"].items()))


@queue.command("set")
@click.argument("name")
@click.option("--concurrency", "-c", type=int, help="Slots its jobs may hold at once (0 to 10000).")
@click.option("--weight", "-w", type=int, help="Its share of the pool (1 to 1000).")
@click.option("--rate", "-r", metavar="N/PERIOD", help=RATE_HELP + " `--rate none` lifts it.")
@json_option
@click.pass_obj
@handle_errors
def set_(ctx: Context, name: str, concurrency: int | None, weight: int | None, rate: str | None,
         as_json: bool) -> None:  # fmt: skip
    """Change a queue's concurrency, weight or rate limit, at once (running jobs go on)."""
    if concurrency is None and weight is None and rate is None:
        out.fail("give --concurrency, --weight or --rate", out.USAGE)
    _check_rate(rate)
    result = ctx.client().queue_set(name, concurrency=concurrency, weight=weight, rate=rate)
    if as_json:
        out.print_json(result)
    else:
        click.echo(f"queue {name}: concurrency {result['concurrency']}, weight {result['weight']}, "
                   f"rate {result.get('rate') or 'none'}")  # fmt: skip


@queue.command()
@click.argument("name")
@click.option("--kill", is_flag=True, help="Also stop its running jobs (back to pending, the attempt not counted).")
@json_option
@click.pass_obj
@handle_errors
def pause(ctx: Context, name: str, kill: bool, as_json: bool) -> None:
    """No job of NAME starts until `queue resume` (pausing twice is a no-op)."""
    result = ctx.client().queue_pause(name, kill=kill)
    if as_json:
        out.print_json(result)
        return
    note = "" if result["changed"] else " (it was paused already)"
    click.echo(f"queue {name} paused{note}" + ("; its running jobs are being stopped" if kill else ""))


@queue.command()
@click.argument("name")
@json_option
@click.pass_obj
@handle_errors
def resume(ctx: Context, name: str, as_json: bool) -> None:
    """Let NAME's jobs start again (resuming a queue that is not paused is a no-op)."""
    result = ctx.client().queue_resume(name)
    if as_json:
        out.print_json(result)
    else:
        click.echo(f"queue {name} resumed" + ("" if result["changed"] else " (it was not paused)"))


@queue.command()
@click.argument("name")
@json_option
@click.pass_obj
@handle_errors
def remove(ctx: Context, name: str, as_json: bool) -> None:
    """Remove a queue that holds no job that may still run (not `default`)."""
    result = ctx.client().queue_remove(name)
    if as_json:
        out.print_json(result)
    else:
        click.echo(f"queue {name} removed")


COMMANDS = [queue]
