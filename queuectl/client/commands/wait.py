"""`queuectl wait`: until jobs are final, exiting with the last one's exit code; also what
`enqueue --wait` waits with."""

from __future__ import annotations

import math
import sys
import time
from typing import TYPE_CHECKING

import click

from queuectl.client import output as out
from queuectl.client.cli import Context, duration, handle_errors, json_option
from queuectl.client.commands.logs import print_output

if TYPE_CHECKING:
    from queuectl.client.library import Client
    from queuectl.client.models import WaitResult


def check_wait_timeout(option: str, value: float | None) -> None:
    if value is not None and not 0 <= value < math.inf:  # NaN fails this too
        out.fail(f"{option} must be a number of seconds >= 0", out.USAGE)


@click.command()
@click.argument("job_ids", nargs=-1, required=True, metavar="ID...")
@click.option("--timeout", "wait_timeout", metavar="DURATION", callback=duration,
              help="Give up after this long (seconds, or 90s, 10m, 1h30m...).")
@click.option("--output", "-o", "show_output", is_flag=True,
              help="Print each job's stdout and stderr (of its last attempt) on ours.")
@json_option
@click.pass_obj
@handle_errors
def wait(ctx: Context, job_ids: tuple[str, ...], wait_timeout: float | None, show_output: bool,
         as_json: bool) -> None:  # fmt: skip
    """Wait until jobs reach a final state; exit with the last one's exit code.

    A failing job with retries left is retried first: the wait ends when it
    is completed, dead or cancelled.

    Exit code: the job's own exit code; 124 if the wait timed out;
    125 if the job is dead without an exit code (timed out, killed);
    126 if it was cancelled.
    """
    if show_output and as_json:
        out.fail("--output prints the jobs' own output; it cannot be combined with --json", out.USAGE)
    check_wait_timeout("--timeout", wait_timeout)
    client = ctx.client()
    code = out.OK
    deadline = None if wait_timeout is None else time.monotonic() + wait_timeout
    results = []
    for job_id in job_ids:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        result = wait_one(client, job_id, remaining)
        results.append(result)
        code = exit_code_of(result)
        if show_output and result.job is not None:
            print_output(client, result.job)
        elif not as_json:
            click.echo(describe(result))
    if as_json:
        out.print_json([r.raw for r in results] if len(results) > 1 else results[0].raw)
    sys.exit(code)


def wait_one(client: Client, job_id: str, timeout: float | None) -> WaitResult:
    """Client.wait (in slices, so a daemon that died is noticed); a daemon that stops first
    is not there now: exit 3."""
    from queuectl.errors import ShuttingDown

    try:
        return client.wait(job_id, timeout)
    except ShuttingDown as exc:
        out.fail(exc.message, out.UNREACHABLE)


def describe(result: WaitResult) -> str:
    job = result.job
    if job is None:
        return "the job was deleted"
    state = "still " + job.state if result.timed_out else job.state
    code = f" (exit {job.exit_code})" if job.exit_code is not None else ""
    error = f" ({job.last_error})" if job.exit_code is None and job.last_error else ""
    return f"{job.id}: {state}{code}{error}"


def exit_code_of(result: WaitResult) -> int:
    job = result.job
    if job is None:  # deleted while we waited: it will not run
        return out.JOB_CANCELLED
    if result.timed_out:
        return out.WAIT_TIMEOUT
    if job.state == "cancelled":
        return out.JOB_CANCELLED
    if job.exit_code is not None:
        return job.exit_code if job.exit_code < 256 else out.FAILURE
    return out.OK if job.state == "completed" else out.JOB_DEAD


COMMANDS = [wait]
