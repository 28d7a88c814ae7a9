"""Commands over job.*: enqueue, list, show, logs, cancel, retry, delete, wait."""

from __future__ import annotations

import base64
import json
import os
import shlex
import sys
import time
from typing import Any

import click

from queuectl.client import output as out
from queuectl.client.cli import Context, handle_errors, json_option

CHUNK = 1000


def _load_json_job(text: str) -> dict[str, Any]:
    try:
        job = json.loads(text)
    except ValueError as exc:
        out.fail(f"the job is not valid JSON: {exc}", out.USAGE)
    if not isinstance(job, dict):
        out.fail("the job must be a JSON object, e.g. '{\"command\": \"echo hi\"}'", out.USAGE)
    return job


def _parse_env(pairs: tuple[str, ...]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            out.fail(f"--env takes KEY=VALUE, not {pair!r}", out.USAGE)
        env[key] = value
    return env


@click.command(context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1)
@click.option("--id", "job_id", metavar="ID", help="Job id (generated when absent).")
@click.option("--priority", "-p", type=int, help="Higher runs first (default 0).")
@click.option("--timeout", type=float, metavar="SECONDS", help="Kill the job after this long (0: never).")
@click.option("--max-retries", type=int, help="Retries after the first attempt (default: config max_retries).")
@click.option("--delay", type=float, metavar="SECONDS", help="Run this many seconds from now.")
@click.option("--run-at", metavar="TIME", help="Run at this ISO 8601 time (no zone = UTC).")
@click.option("--cwd", metavar="DIR", help="Working directory (default: the current one).")
@click.option("--env", "env_pairs", multiple=True, metavar="KEY=VALUE", help="Extra environment variable (repeatable).")
@click.option("--file", "file_", type=click.File("r"), metavar="PATH",
              help="Enqueue every line of an NDJSON file (- for stdin), all or nothing.")
@json_option
@click.pass_obj
@handle_errors
def enqueue(
    ctx: Context, args: tuple[str, ...], job_id: str | None, priority: int | None,
    timeout: float | None, max_retries: int | None, delay: float | None, run_at: str | None,
    cwd: str | None, env_pairs: tuple[str, ...], file_: Any, as_json: bool,
) -> None:  # fmt: skip
    """Add a job: a JSON object, or a command after `--`.

    \b
    queuectl enqueue '{"id":"job1","command":"echo Hello World"}'
    queuectl enqueue --id job2 --priority 10 -- make -C ~/src test
    queuectl enqueue --delay 60 -- 'backup.sh && notify.sh'
    queuectl enqueue --file jobs.ndjson        # one JSON job per line

    Several words after `--` are quoted for the shell and joined; a single
    word is taken as a shell command line as it is. The job runs with
    `sh -c` in the current directory (or --cwd) with the daemon's
    environment plus --env.
    """
    if file_ is not None:
        if args:
            out.fail("give either --file or a job, not both", out.USAGE)
        _enqueue_file(ctx, file_, as_json)
        return
    if not args:
        out.fail("nothing to enqueue: give a JSON job or `-- COMMAND ...` (see --help)", out.USAGE)
    if len(args) == 1 and args[0].lstrip().startswith("{"):
        job = _load_json_job(args[0])
    else:
        job = {"command": args[0] if len(args) == 1 else shlex.join(args)}
    flags = {"id": job_id, "priority": priority, "timeout": timeout, "max_retries": max_retries,
             "delay": delay, "run_at": run_at, "cwd": cwd}  # fmt: skip
    job.update({k: v for k, v in flags.items() if v is not None})
    if env_pairs:
        job["env"] = {**job.get("env", {}), **_parse_env(env_pairs)}
    job.setdefault("cwd", os.getcwd())
    result = ctx.call("job.enqueue", job)
    if as_json:
        out.print_json(result)
    else:
        click.echo(f"enqueued {result['id']} ({result['state']})")


def _enqueue_file(ctx: Context, stream: Any, as_json: bool) -> None:
    from queuectl import jobs as J

    cwd = os.getcwd()
    now = time.time()
    jobs, lines = [], []
    for lineno, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            job = json.loads(line)
        except ValueError as exc:
            out.fail(f"line {lineno}: not valid JSON: {exc}; nothing was enqueued", out.USAGE)
        try:
            J.validate_spec(job, now)
        except J.ValidationError as exc:
            out.fail(f"line {lineno}: {exc}; nothing was enqueued", out.USAGE)
        job.setdefault("cwd", cwd)
        jobs.append(job)
        lines.append(lineno)
    from queuectl.client.rpc import RemoteError

    def line_of(exc: RemoteError, start: int) -> int:
        index = exc.data.get("index") if isinstance(exc.data, dict) else None
        return lines[start + index] if isinstance(index, int) else lines[start]

    # First check every id against the queue, so a duplicate in the last chunk does
    # not leave the first chunks enqueued; then send the chunks for real.
    for start in range(0, len(jobs), CHUNK):
        try:
            ctx.call("job.enqueue_many", {"jobs": jobs[start : start + CHUNK], "dry_run": True})
        except RemoteError as exc:
            out.fail(f"line {line_of(exc, start)}: {exc.message}; nothing was enqueued",
                     out.ERROR_EXIT.get(exc.name, out.FAILURE))  # fmt: skip
    ids: list[str] = []
    for start in range(0, len(jobs), CHUNK):
        try:
            ids += ctx.call("job.enqueue_many", {"jobs": jobs[start : start + CHUNK]})["ids"]
        except RemoteError as exc:
            out.fail(f"line {line_of(exc, start)}: {exc.message}; the {len(ids)} jobs before "
                     "it were enqueued", out.ERROR_EXIT.get(exc.name, out.FAILURE))  # fmt: skip
    if as_json:
        out.print_json({"count": len(ids), "ids": ids})
    else:
        click.echo(f"enqueued {len(ids)} jobs")


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
    result = ctx.call("job.list", {"state": state, "limit": limit, "offset": offset,
                                   "newest_first": newest_first, "search": search})  # fmt: skip
    if as_json:
        out.print_json(result["jobs"])
        return
    click.echo(out.table(result["jobs"], out.JOB_COLUMNS))
    shown = len(result["jobs"])
    if result["total"] > offset + shown:
        click.echo(f"({shown} of {result['total']} shown; use --limit/--offset)", err=True)


@click.command()
@click.argument("job_id", metavar="ID")
@json_option
@click.pass_obj
@handle_errors
def show(ctx: Context, job_id: str, as_json: bool) -> None:
    """Show one job and its attempts."""
    job = ctx.call("job.get", {"id": job_id})
    if as_json:
        out.print_json(job)
    else:
        out.show_job(job)


def _write_chunk(chunk: dict[str, Any]) -> None:
    data = chunk["data"]
    raw = base64.b64decode(data) if chunk["encoding"] == "base64" else data.encode("utf-8")
    sys.stdout.buffer.write(raw)
    sys.stdout.buffer.flush()


@click.command()
@click.argument("job_id", metavar="ID")
@click.option("--stderr", "stream", flag_value="stderr", help="Show stderr instead of stdout.")
@click.option("--stdout", "stream", flag_value="stdout", default=True, hidden=True)
@click.option("--attempt", "-a", type=int, help="Which attempt (default: the latest).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing while the attempt runs.")
@click.pass_obj
@handle_errors
def logs(ctx: Context, job_id: str, stream: str, attempt: int | None, follow: bool) -> None:
    """Print a job's stdout (or --stderr), exactly as it wrote it."""
    offset = 0
    params: dict[str, Any] = {"id": job_id, "stream": stream, "attempt": attempt}
    while True:
        chunk = ctx.call("job.logs", {**params, "offset": offset})
        params["attempt"] = chunk["attempt"]  # stay on one attempt while following
        if chunk["data"]:
            _write_chunk(chunk)
        offset = chunk["next_offset"]
        if chunk["eof"] or (not follow and not chunk["data"]):
            return
        if not chunk["data"]:
            if not chunk["running"] and chunk["attempt"] == 0:
                return
            time.sleep(0.1)
            if not chunk["running"]:
                job = ctx.call("job.get", {"id": job_id, "attempts": False})
                if job["state"] != "processing":
                    return


def _simple(method: str, verb: str, doc: str) -> click.Command:
    @click.command(verb, help=doc)
    @click.argument("job_id", metavar="ID")
    @json_option
    @click.pass_obj
    @handle_errors
    def command(ctx: Context, job_id: str, as_json: bool) -> None:
        result = ctx.call(method, {"id": job_id}, timeout=max(ctx.timeout, 60.0))
        if as_json:
            out.print_json(result)
        elif "state" in result:
            click.echo(f"{result['id']}: {result['state']}")
        else:
            click.echo(f"{job_id}: deleted")

    return command


cancel = _simple("job.cancel", "cancel",
                 "Cancel a job that has not finished (a running one is killed first).")
retry = _simple("job.retry", "retry", "Run a failed or dead job again now, with fresh retries.")
delete = _simple("job.delete", "delete", "Remove a job that is not running, with its logs.")


@click.command()
@click.argument("job_ids", nargs=-1, required=True, metavar="ID...")
@click.option("--timeout", "wait_timeout", type=float, metavar="SECONDS", help="Give up after this long.")
@json_option
@click.pass_obj
@handle_errors
def wait(ctx: Context, job_ids: tuple[str, ...], wait_timeout: float | None, as_json: bool) -> None:
    """Wait until jobs finish; exit with the last one's exit code.

    Exit code: the job's own exit code; 124 if the wait timed out;
    125 if the job is dead without an exit code (timed out, lost);
    126 if it was cancelled.
    """
    code = out.OK
    deadline = None if wait_timeout is None else time.monotonic() + wait_timeout
    results = []
    for job_id in job_ids:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        result = _wait_one(ctx, job_id, remaining)
        results.append(result)
        code = _exit_code_of(result)
        if not as_json:
            job = result["job"]
            state = "still " + job["state"] if result["timed_out"] else job["state"]
            click.echo(f"{job['id']}: {state}" + (f" (exit {job['exit_code']})" if job["exit_code"] is not None else ""))
    if as_json:
        out.print_json(results if len(results) > 1 else results[0])
    sys.exit(code)


def _wait_one(ctx: Context, job_id: str, timeout: float | None) -> dict[str, Any]:
    # One long request per job; the client timeout leaves room for the daemon's own.
    rpc_timeout = 86400.0 * 365 if timeout is None else timeout + ctx.timeout
    return ctx.call("job.wait", {"id": job_id, "timeout": timeout}, timeout=rpc_timeout)


def _exit_code_of(result: dict[str, Any]) -> int:
    job = result["job"]
    if result["timed_out"]:
        return out.WAIT_TIMEOUT
    if job["state"] == "cancelled":
        return out.JOB_CANCELLED
    if job["exit_code"] is not None:
        return job["exit_code"] if job["exit_code"] < 256 else out.FAILURE
    return out.OK if job["state"] == "completed" else out.JOB_DEAD


COMMANDS = [enqueue, list_, show, logs, wait, cancel, retry, delete]
