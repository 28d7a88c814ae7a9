"""`queuectl schedule`: recurring schedules over schedule.* (each run is an ordinary job,
id NAME@<slot>)."""

from __future__ import annotations

import shlex
from typing import Any

import click

from queuectl.client import output as out
from queuectl.client.cli import Context, duration, handle_errors, json_option


@click.group()
def schedule() -> None:
    """Recurring schedules: run a command by cron expression or every DURATION.

    \b
    queuectl schedule add nightly --cron '0 3 * * *' --tz Europe/Berlin -- ./backup.sh
    queuectl schedule add poll --every 10m --overlap queue -- ./poll.sh
    queuectl schedule list
    """


def _options(fn: Any) -> Any:
    options: list[Any] = [
        click.option("--cron", metavar="EXPR", help="5 fields (min hour day month weekday), or @hourly, "
                     "@daily, @weekly, @monthly."),
        click.option("--every", metavar="DURATION", help="Or: a run every DURATION (90s, 10m, 1h30m...)."),
        click.option("--tz", metavar="ZONE", help="IANA zone of --cron (default: the daemon's local zone)."),
        click.option("--overlap", type=click.Choice(["skip", "queue", "allow"]),
                     help="A run while the last one is not final: skip it (default), queue it behind, allow."),
        click.option("--catch-up", "catch_up", type=click.Choice(["none", "latest", "all"]),
                     help="Runs missed while the daemon was down: none (default), latest (one), all (<= 100)."),
        click.option("--queue", "-q", metavar="NAME", help="Each run's queue (it must exist)."),
        click.option("--slots", type=int, metavar="N", help="Slots each run holds (default 1)."),
        click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag each run gets (repeatable)."),
        click.option("--priority", "-p", type=int, help="Each run's priority."),
        click.option("--timeout", metavar="DURATION", callback=duration, help="Each run's timeout."),
        click.option("--max-retries", type=int, help="Each run's retries."),
        click.option("--cwd", metavar="DIR", help="Working directory (default: the current one, on add)."),
        click.option("--env", "env_pairs", multiple=True, metavar="KEY=VALUE", help="Extra environment variable."),
        click.argument("command", nargs=-1),
        json_option,
        click.pass_obj,
        handle_errors,
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _kwargs(command: tuple[str, ...], opts: dict[str, Any]) -> dict[str, Any]:
    """Client.schedule_add/schedule_set's arguments from the options (None: not given)."""
    from queuectl.client.commands.enqueue_args import _parse_env
    from queuectl.client.commands.job import parse_tags

    kwargs = {key: opts.get(key) for key in ("cron", "every", "tz", "overlap", "catch_up", "priority",
                                             "timeout", "max_retries", "cwd", "queue", "slots")}  # fmt: skip
    kwargs["env"] = _parse_env(opts["env_pairs"]) if opts.get("env_pairs") else None
    kwargs["tags"] = parse_tags(opts["tags"]) if opts.get("tags") else None
    kwargs["command"] = (command[0] if len(command) == 1 else shlex.join(command)) if command else None
    return kwargs


def _say(ctx: Context, result: Any, as_json: bool) -> None:
    if as_json:
        out.print_json(result)
        return
    state = "paused" if result["paused"] else f"next run {result['next_run']}"
    click.echo(f"{result['name']}: {result['expression']} ({result['tz']}); {state}")


@schedule.command("add")
@click.argument("name")
@click.option("--paused", is_flag=True, help="Make it paused (resume later).")
@_options
def add(ctx: Context, name: str, paused: bool, command: tuple[str, ...], as_json: bool, **opts: Any) -> None:
    """Add schedule NAME running `-- COMMAND` (--cron or --every)."""
    if not command:
        out.fail("give the command after `--`", out.USAGE)
    _say(ctx, ctx.client().schedule_add(name, paused=paused, **_kwargs(command, opts)), as_json)


@schedule.command("set")
@click.argument("name")
@_options
def set_(ctx: Context, name: str, command: tuple[str, ...], as_json: bool, **opts: Any) -> None:
    """Change schedule NAME: the options given (and `-- COMMAND`)."""
    _say(ctx, ctx.client().schedule_set(name, **_kwargs(command, opts)), as_json)


@schedule.command("list")
@json_option
@click.pass_obj
@handle_errors
def list_(ctx: Context, as_json: bool) -> None:
    """Every schedule: expression, zone, next run, last run and its job's state, paused."""
    rows: list[Any] = ctx.client().schedule_list()
    if as_json:
        out.print_json(rows)
        return
    from queuectl.client.table import Col, render

    def last(s: dict[str, Any]) -> str:
        return f"{s['last_job']['id']} {s['last_job']['state']}" if s["last_job"] else "-"

    for row in rows:
        row["next"] = "paused" if row["paused"] else row["next_run"]
        row["last"] = last(row)
    cols = [Col("name", "NAME"), Col("expression", "SCHEDULE"), Col("tz", "ZONE"), Col("next", "NEXT RUN"),
            Col("last", "LAST RUN")]  # fmt: skip
    for line in render(rows, cols, ctx.width()):
        click.echo(line)


@schedule.command("show")
@click.argument("name")
@json_option
@click.pass_obj
@handle_errors
def show(ctx: Context, name: str, as_json: bool) -> None:
    """One schedule: its next 5 runs and the last 20 jobs it made."""
    s = ctx.client().schedule_get(name)
    if as_json:
        out.print_json(s)
        return
    job = s["job"]
    lines = [f"name       {s['name']}", f"schedule   {s['expression']}", f"zone       {s['tz']}",
             f"overlap    {s['overlap']}", f"catch-up   {s['catch_up']}", f"paused     {s['paused']}",
             f"command    {job.get('command')}",
             "job        " + " ".join(f"{k}={v}" for k, v in job.items() if k != "command")]  # fmt: skip
    lines += ["next runs  " + (t if i == 0 else " " * 11 + t) for i, t in enumerate(s["next_runs_local"])]
    lines += ["jobs       " + (f"{j['id']} {j['state']}" if i == 0 else " " * 11 + f"{j['id']} {j['state']}")
              for i, j in enumerate(s["jobs"])]  # fmt: skip
    for line in lines:
        click.echo(line)


def _call(ctx: Context, method: str, name: str) -> Any:
    client = ctx.client()
    if method == "schedule.run":
        return client.schedule_run(name).raw
    calls = {"schedule.pause": client.schedule_pause, "schedule.resume": client.schedule_resume,
             "schedule.remove": client.schedule_remove}  # fmt: skip
    return calls[method](name)


def _by_name(method: str, verb: str, doc: str) -> click.Command:
    @schedule.command(verb, help=doc)
    @click.argument("name")
    @json_option
    @click.pass_obj
    @handle_errors
    def command(ctx: Context, name: str, as_json: bool) -> None:
        result = _call(ctx, method, name)
        if as_json:
            out.print_json(result)
        elif method == "schedule.remove":
            click.echo(f"{name}: removed")
        elif method == "schedule.run":
            click.echo(out.enqueued_line(result))
        else:
            _say(ctx, result, False)

    return command


_by_name("schedule.pause", "pause", "Stop making runs of NAME until resume.")
_by_name("schedule.resume", "resume", "Make runs of NAME again, from the next slot.")
_by_name("schedule.remove", "remove", "Remove schedule NAME (the jobs it made stay).")
_by_name("schedule.run", "run", "One run of NAME now, by hand.")

COMMANDS = [schedule]
