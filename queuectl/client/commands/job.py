"""Commands over job.* that ask once and print the answer: list, show, cancel, retry, delete.
(enqueue, logs and wait have modules of their own.)"""

from __future__ import annotations

import click

from queuectl.client import output as out
from queuectl.client.cli import Context, handle_errors, json_option


@click.command("list")
@click.option("--state", "-s", metavar="STATE", help="Only jobs in this state (pending, processing, ...).")
@click.option("--limit", "-n", default=50, show_default=True, help="At most this many.")
@click.option("--offset", default=0, help="Skip this many.")
@click.option("--newest-first", is_flag=True, help="Newest jobs first.")
@click.option("--search", metavar="TEXT", help="Only jobs whose id or command contains TEXT.")
@json_option
@click.pass_obj
@handle_errors
def list_(ctx: Context, state: str | None, limit: int, offset: int, newest_first: bool,
          search: str | None, as_json: bool) -> None:  # fmt: skip
    """List jobs, in enqueue order."""
    page = ctx.client().list_page(state, limit=limit, offset=offset, newest_first=newest_first, search=search)
    jobs = [job.raw for job in page.jobs]
    if as_json:
        out.print_json(jobs)
        return
    click.echo(out.table(jobs, out.JOB_COLUMNS))
    shown = len(jobs)
    if page.total > offset + shown:
        click.echo(f"({shown} of {page.total} shown; use --limit/--offset)", err=True)


@click.command()
@click.argument("job_id", metavar="ID")
@json_option
@click.pass_obj
@handle_errors
def show(ctx: Context, job_id: str, as_json: bool) -> None:
    """Show one job and its attempts."""
    job = ctx.client().get(job_id).raw
    if as_json:
        out.print_json(job)
    else:
        out.show_job(job)


def _simple(verb: str, doc: str) -> click.Command:
    @click.command(verb, help=doc)
    @click.argument("job_id", metavar="ID")
    @json_option
    @click.pass_obj
    @handle_errors
    def command(ctx: Context, job_id: str, as_json: bool) -> None:
        client = ctx.client()
        if verb == "delete":
            deleted = client.delete(job_id)
            if as_json:
                out.print_json(deleted)
            else:
                click.echo(f"{job_id}: deleted")
            return
        job = client.cancel(job_id) if verb == "cancel" else client.retry(job_id)
        if as_json:
            out.print_json(job.raw)
        else:
            click.echo(f"{job.id}: {job.state}")

    return command


cancel = _simple("cancel", "Cancel a job that has not finished (a running one is killed first).")
retry = _simple("retry", "Run a failed or dead job again now, with fresh retries.")
delete = _simple("delete", "Remove a job that is not running, with its logs.")


COMMANDS = [list_, show, cancel, retry, delete]
