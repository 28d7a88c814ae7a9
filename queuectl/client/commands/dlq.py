"""Commands over dlq.*: the dead letter queue."""

from __future__ import annotations

import click

from queuectl.client import output as out
from queuectl.client.cli import Context, handle_errors, json_option


@click.group()
def dlq() -> None:
    """Jobs that ran out of retries (state `dead`)."""


@dlq.command("list")
@click.option("--limit", "-n", default=50, show_default=True)
@json_option
@click.pass_obj
@handle_errors
def list_(ctx: Context, limit: int, as_json: bool) -> None:
    """List dead jobs."""
    jobs = [job.raw for job in ctx.client().dlq.list_page(limit=limit).jobs]
    if as_json:
        out.print_json(jobs)
    else:
        click.echo(out.table(jobs, [("id", "ID"), ("attempts", "ATTEMPTS"),
                                              ("last_error", "LAST ERROR"), ("finished_at", "DIED"),
                                              ("command", "COMMAND")]))  # fmt: skip


@dlq.command()
@click.argument("job_id", required=False, metavar="[ID]")
@click.option("--all", "all_", is_flag=True, help="Retry every dead job.")
@json_option
@click.pass_obj
@handle_errors
def retry(ctx: Context, job_id: str | None, all_: bool, as_json: bool) -> None:
    """Move a dead job (or --all) back to pending, with fresh retries."""
    if bool(job_id) == all_:
        out.fail("give a job id or --all", out.USAGE)
    result = ctx.client().dlq.retry(job_id or None, all=all_)
    if as_json:
        out.print_json(result)
    else:
        click.echo(f"retried {len(result['retried'])} job(s)")


COMMANDS = [dlq]
