"""Commands over job.* that ask once and print the answer: list, show, cancel, retry, delete.
(enqueue, logs and wait have modules of their own.)"""

from __future__ import annotations

import click

from queuectl import jobs as J
from queuectl.client import output as out
from queuectl.client.cli import Context, handle_errors, json_option
from queuectl.client.views import echo_lines, job_lines, show_lines

STATES = ", ".join(J.STATES)  # assigned included: handed to a busy worker, not started yet


def parse_tags(pairs: tuple[str, ...]) -> dict[str, str]:
    """--tag KEY=VALUE options -> a tags object (exit 2 for a bad one)."""
    from queuectl import queues as Q

    tags = {}
    for pair in pairs:
        try:
            key, value = Q.parse_tag(pair)
        except Q.ValidationError as exc:
            out.fail(f"--tag: {exc}", out.USAGE)
        tags[key] = value
    return tags


@click.command("list")
@click.option("--state", "-s", metavar="STATE", help=f"Only jobs in this state: {STATES}.")
@click.option("--limit", "-n", default=50, show_default=True, help="At most this many.")
@click.option("--offset", default=0, help="Skip this many.")
@click.option("--newest-first/--oldest-first", default=True,
              help="Newest jobs first (the default), or oldest first (enqueue order).")
@click.option("--search", metavar="TEXT", help="Only jobs whose id or command contains TEXT.")
@click.option("--queue", "-q", metavar="NAME", help="Only jobs of this queue.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Only jobs with this tag (repeatable: all of them).")
@json_option
@click.pass_obj
@handle_errors
def list_(ctx: Context, state: str | None, limit: int, offset: int, newest_first: bool,
          search: str | None, queue: str | None, tags: tuple[str, ...], as_json: bool) -> None:  # fmt: skip
    """List jobs, newest first (--oldest-first: in enqueue order).

    When more jobs match than are shown, a note on stderr says how many.
    """
    page = ctx.client().list_page(state, limit=limit, offset=offset, newest_first=newest_first, search=search,
                                  queue=queue, tags=parse_tags(tags) or None)  # fmt: skip
    jobs = [job.raw for job in page.jobs]
    if as_json:
        out.print_json(jobs)
        return
    echo_lines(job_lines(jobs, ctx.width(), ctx.colour()))
    shown = len(jobs)
    matched = page.matched
    if matched > shown:
        order = "newest" if newest_first else "oldest"
        skipped = f", after the {offset} {order}" if offset else ""
        click.echo(f"({shown} of {matched} shown, {order} first{skipped}; use --limit/--offset)", err=True)


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
        echo_lines(show_lines(job, ctx.width(), ctx.colour()))


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
        job = client.retry(job_id)
        if as_json:
            out.print_json(job.raw)
        else:
            click.echo(f"{job.id}: {job.state}")

    return command


@click.command()
@click.argument("job_id", metavar="ID")
@click.option("--with-dependents", is_flag=True,
              help="Also cancel every job downstream of it, whatever its --after-condition.")
@json_option
@click.pass_obj
@handle_errors
def cancel(ctx: Context, job_id: str, with_dependents: bool, as_json: bool) -> None:
    """Cancel a job that has not finished (a running one is killed first).

    Its dependents that need it to succeed are cancelled with it (their
    last_error names it); --with-dependents cancels everything downstream.
    """
    job = ctx.client().cancel(job_id, with_dependents=with_dependents)
    if as_json:
        out.print_json(job.raw)
    else:
        click.echo(f"{job.id}: {job.state}")


retry = _simple("retry", "Run a failed or dead job again now, with fresh retries.")
delete = _simple("delete", "Remove a job that is not running, with its logs.")


COMMANDS = [list_, show, cancel, retry, delete]
