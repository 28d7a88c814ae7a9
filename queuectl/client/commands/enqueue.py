"""`queuectl enqueue`: one job, from a JSON object or a command after `--` (with --wait, then
waiting for it); --file hands over to enqueue_file."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

from queuectl.client import output as out
from queuectl.client.cli import Context, duration, handle_errors, json_option
from queuectl.client.commands.enqueue_args import (
    EnqueueCommand,
    check_seconds,
    current_dir,
    env_with,
    job_from_args,
)
from queuectl.client.commands.enqueue_file import enqueue_file
from queuectl.client.commands.job import parse_tags
from queuectl.client.commands.logs import print_output
from queuectl.client.commands.wait import check_wait_timeout, describe, exit_code_of, wait_one

if TYPE_CHECKING:
    from queuectl.client.library import Client


@click.command(cls=EnqueueCommand, context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1)
@click.option("--id", "job_id", metavar="ID", help="Job id (generated when absent).")
@click.option("--priority", "-p", type=int, help="Higher runs first (default 0).")
@click.option("--timeout", metavar="DURATION", callback=duration,
              help="Kill the job after this long: seconds, or 90s, 10m, 1h30m... (0: never).")
@click.option("--max-retries", type=int, help="Retries after the first attempt (default: config max_retries).")
@click.option("--max-output", metavar="SIZE",
              help="Output each attempt keeps, stdout and stderr together: bytes, or 10M, 64MiB, 1G... "
              "Past it the rest is dropped (the job runs on) and the attempt says how much "
              "(default: config max_output_bytes, 64 MiB).")
@click.option("--delay", metavar="DURATION", callback=duration, help="Run this long from now (seconds, or 10m, 2h...).")
@click.option("--run-at", metavar="TIME", help="Run at this ISO 8601 time (no zone = UTC).")
@click.option("--cwd", metavar="DIR", help="Working directory (default: the current one).")
@click.option("--env", "env_pairs", multiple=True, metavar="KEY=VALUE", help="Extra environment variable (repeatable).")
@click.option("--queue", "-q", metavar="NAME", help="The queue it waits in (default: default); it must exist.")
@click.option("--slots", type=int, metavar="N", help="Slots of its queue and of the pool it holds while it runs (default 1).")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag to find it by (repeatable).")
@click.option("--after", "after", multiple=True, metavar="ID[,ID...]",
              help="Run only once these jobs are final (blocked until then); repeatable.")
@click.option("--after-condition", type=click.Choice(["success", "failure", "always"]),
              help="What the --after jobs must have done: success (default: all completed), "
              "failure (all dead) or always.")
@click.option("--unique-key", metavar="KEY",
              help="Idempotent enqueue: if a job holds KEY, do not enqueue; that job is the answer.")
@click.option("--unique-while", type=click.Choice(["pending", "active", "kept"]),
              help="How long the job holds --unique-key: until it starts, until it is final "
              "(active, the default), or until it is deleted (kept).")
@click.option("--on-duplicate", type=click.Choice(["return", "error"]), default="return", show_default=True,
              help="When --unique-key is held: take that job (exit 0), or fail (exit 6).")
@click.option("--on-success", metavar="CMD",
              help="Completion hook: run CMD as a job of its own when this job completes (the job as JSON "
              "on its stdin, QUEUECTL_* variables set). Default: config on_success.")
@click.option("--on-failure", metavar="CMD",
              help="Run CMD when this job goes dead (no retries left). Default: config on_failure.")
@click.option("--on-finish", metavar="CMD",
              help="Run CMD when this job completes or goes dead. Default: config on_finish.")
@click.option("--on", "on", metavar="NAME",
              help="Pin the job to the daemon of this name (`daemon --name`): only it runs the job. For "
              "daemons sharing a PostgreSQL database; on SQLite only the daemon's own name is accepted.")
@click.option("--file", "file_", type=click.File("rb"), metavar="PATH",
              help="Enqueue every line of an NDJSON file (- for stdin), all or nothing.")
@click.option("--skip-invalid", is_flag=True,
              help="With --file: skip bad lines (reported on stderr) and enqueue the rest.")
@click.option("--wait", "wait_", is_flag=True,
              help="Wait for the job's final state; exit with its exit code (124/125/126: see wait).")
@click.option("--wait-timeout", metavar="DURATION", callback=duration,
              help="With --wait: give up waiting after this long (seconds, or 10m...).")
@click.option("--output", "-o", "show_output", is_flag=True,
              help="With --wait: print the job's stdout and stderr (of its last attempt) on ours.")
@json_option
@click.pass_obj
@handle_errors
def enqueue(
    ctx: Context, args: tuple[str, ...], job_id: str | None, priority: int | None,
    timeout: float | None, max_retries: int | None, max_output: str | None, delay: float | None, run_at: str | None,
    cwd: str | None, env_pairs: tuple[str, ...], queue: str | None, slots: int | None,
    tags: tuple[str, ...], after: tuple[str, ...], after_condition: str | None, unique_key: str | None,
    unique_while: str | None, on_duplicate: str, on_success: str | None, on_failure: str | None,
    on_finish: str | None, on: str | None, file_: Any, skip_invalid: bool, wait_: bool,
    wait_timeout: float | None, show_output: bool, as_json: bool,
) -> None:  # fmt: skip
    """Add a job: a JSON object, or a command after `--`.

    \b
    queuectl enqueue '{"id":"job1","command":"echo Hello World"}'
    queuectl enqueue --id job2 --priority 10 -- make -C ~/src test
    queuectl enqueue --delay 10m -- 'backup.sh && notify.sh'
    queuectl enqueue --file jobs.ndjson        # one JSON job per line
    queuectl enqueue --wait --output --max-retries 0 -- make test
    queuectl enqueue --after build1,build2 -- ./deploy.sh
    queuectl enqueue --unique-key nightly-2026-01-31 -- backup.sh   # at most once
    queuectl enqueue --on-failure 'notify-send "$QUEUECTL_JOB_ID died"' -- make test

    Several words after `--` are quoted for the shell and joined; a single
    word is taken as a shell command line as it is. The job runs with
    `sh -c` in the current directory (or --cwd) with the daemon's
    environment plus --env.

    --wait waits for a final state (completed, dead, cancelled): a failing
    job is retried first (max_retries); use --max-retries 0 to behave like
    running the command. Exit code: the job's own; 124 the wait timed out,
    125 dead without an exit code (timed out, killed), 126 cancelled.
    """
    hooks = {"on_success": on_success, "on_failure": on_failure, "on_finish": on_finish}
    if file_ is not None:
        _check_file_flags(args, wait_, show_output or any(v is not None for v in (unique_key, unique_while, on,
                          *hooks.values())) or on_duplicate != "return")  # fmt: skip
        enqueue_file(ctx, file_, as_json, skip_invalid)
        return
    _check_job_flags(args, skip_invalid, wait_, wait_timeout, show_output, as_json)
    check_seconds(delay=delay, timeout=timeout)
    job = job_from_args(args)
    flags = {"id": job_id, "priority": priority, "timeout": timeout, "max_retries": max_retries,
             "max_output": max_output, "delay": delay, "run_at": run_at, "cwd": cwd, "queue": queue, "slots": slots,
             "after_condition": after_condition, "unique_key": unique_key, "unique_while": unique_while,
             **hooks, "on": on}  # fmt: skip
    job.update({k: v for k, v in flags.items() if v is not None})
    _add_lists(job, tags, env_pairs, after)
    if on_duplicate != "return":
        job["on_duplicate"] = on_duplicate
    client = ctx.client()
    result = client.enqueue_spec(job)
    if result.duplicate:
        click.echo(f"queuectl: job {result.id} holds unique key {result.unique_key!r} already: "
                   "not enqueued again", err=True)  # fmt: skip
    if not wait_:
        if as_json:
            out.print_json(result.raw)
        else:
            click.echo(out.enqueued_line(result.raw))
        return
    _wait_and_exit(client, result.id, wait_timeout, show_output, as_json)


def _add_lists(job: dict[str, Any], tags: tuple[str, ...], env_pairs: tuple[str, ...],
               after: tuple[str, ...]) -> None:  # fmt: skip
    """The repeatable flags (--tag, --env, --after) added to the job, and cwd if it has none."""
    if tags:
        job["tags"] = {**(job.get("tags") or {}), **parse_tags(tags)}
    if env_pairs:
        job["env"] = env_with(job.get("env"), env_pairs)
    if after:
        job["after"] = [i.strip() for word in after for i in word.split(",") if i.strip()]
    if "cwd" not in job:
        job["cwd"] = current_dir()


def _check_file_flags(args: tuple[str, ...], wait_: bool, show_output: bool) -> None:
    if args:
        out.fail("give either --file or a job, not both", out.USAGE)
    if wait_ or show_output:
        out.fail("--wait/--output/--unique-key/--unique-while/--on-duplicate/--on-success/--on-failure/"
                 "--on-finish/--on cannot be used with --file (give \"unique_key\", \"on_failure\" or \"on\" in "
                 "a line's JSON)", out.USAGE)  # fmt: skip


def _check_job_flags(args: tuple[str, ...], skip_invalid: bool, wait_: bool, wait_timeout: float | None,
                     show_output: bool, as_json: bool) -> None:  # fmt: skip
    if skip_invalid:
        out.fail("--skip-invalid goes with --file", out.USAGE)
    check_wait_timeout("--wait-timeout", wait_timeout)
    if (show_output or wait_timeout is not None) and not wait_:
        out.fail("--output and --wait-timeout go with --wait", out.USAGE)
    if show_output and as_json:
        out.fail("--output prints the job's own output; it cannot be combined with --json", out.USAGE)
    if not args:
        out.fail("nothing to enqueue: give a JSON job or `-- COMMAND ...` (see --help)", out.USAGE)


def _wait_and_exit(client: Client, job_id: str, wait_timeout: float | None, show_output: bool,
                   as_json: bool) -> NoReturn:  # fmt: skip
    """--wait: wait for the job's final state, say it, exit with its code (see `wait`)."""
    try:
        waited = wait_one(client, job_id, wait_timeout)
    except KeyboardInterrupt:
        out.fail(f"stopped waiting; job {job_id} is still queued "
                 f"(`queuectl cancel {job_id}` stops it)", 130)  # fmt: skip
    code = exit_code_of(waited)
    if as_json:
        out.print_json(waited.raw)
    elif show_output:
        if waited.job is not None:
            print_output(client, waited.job)
        if code in (out.WAIT_TIMEOUT, out.JOB_DEAD, out.JOB_CANCELLED):
            click.echo(f"queuectl: {describe(waited)}", err=True)
    else:
        click.echo(describe(waited))
    sys.exit(code)


COMMANDS = [enqueue]
