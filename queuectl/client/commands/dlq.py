"""Commands over dlq.*: the dead letter queue."""

from __future__ import annotations

import click

from queuectl.client import output as out
from queuectl.client.cli import Context, handle_errors, json_option
from queuectl.client.views import dead_lines, echo_lines


@click.group()
def dlq() -> None:
    """Jobs that ran out of retries (state `dead`)."""


@dlq.command("list")
@click.option("--limit", "-n", default=50, show_default=True)
@click.option("--queue", "-q", metavar="NAME", help="Only dead jobs of this queue.")
@json_option
@click.pass_obj
@handle_errors
def list_(ctx: Context, limit: int, queue: str | None, as_json: bool) -> None:
    """List dead jobs."""
    page = ctx.client().dlq.list_page(limit=limit, queue=queue)
    jobs = [job.raw for job in page.jobs]
    if as_json:
        out.print_json(jobs)
    else:
        echo_lines(dead_lines(jobs, ctx.width(), ctx.colour()))
        if page.total > len(jobs):
            click.echo(f"({len(jobs)} of {page.total} shown; use --limit)", err=True)


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
