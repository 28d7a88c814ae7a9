"""Commands over job.*: enqueue, list, show, logs, cancel, retry, delete, wait."""

from __future__ import annotations

import base64
import json
import math
import os
import shlex
import sys
import time
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import click

from queuectl.client import output as out
from queuectl.client.cli import Context, handle_errors, json_option

if TYPE_CHECKING:
    from queuectl.client.library import Client
    from queuectl.client.models import FollowNote, Job, WaitResult

CHUNK = 1000
PROGRESS_FROM = 2000  # jobs in a file; fewer take too short a time for a bar


def _looks_like_json(word: str) -> bool:
    return word.lstrip()[:1] in ("{", "[")


def _json_document(word: str) -> dict[str, Any] | list[Any] | None:
    """The JSON value of a word that is a complete JSON object or array, else None."""
    if not _looks_like_json(word):
        return None
    try:
        doc = json.loads(word)
    except ValueError:
        return None
    return doc if isinstance(doc, dict | list) else None


def _refuse_array() -> NoReturn:
    out.fail("the job is a JSON array; enqueue takes one JSON object. For several jobs use "
             "--file with one JSON object per line (NDJSON), e.g. `jq -c '.[]' jobs.json | "
             "queuectl enqueue --file -`", out.USAGE)  # fmt: skip


def _load_json_job(text: str) -> dict[str, Any]:
    try:
        job = json.loads(text)
    except ValueError as exc:
        out.fail(f"the job is not valid JSON: {exc} (an argument that starts with {{ or [ is a "
                 "JSON job; to run a shell command that starts with one, put it after `--`)",
                 out.USAGE)  # fmt: skip
    if isinstance(job, list):
        _refuse_array()
    if not isinstance(job, dict):
        out.fail("the job must be a JSON object, e.g. '{\"command\": \"echo hi\"}'", out.USAGE)
    return job


def _job_from_words(before: list[str], after: list[str]) -> dict[str, Any]:
    """The job the positional words describe (see docs/cli.md, "JSON or a command").

    Words before `--` (or without one): a lone word starting with { or [ is a JSON
    job, and must be one. After `--`: a command, except a lone word that is a complete
    JSON object (a job) or array (refused), and a first word that is a complete JSON
    document followed by more (refused: a JSON document is never a command name).
    """
    words = before + after
    several = "enqueue takes one JSON job; for several use --file with one JSON object per " \
              "line (NDJSON)"  # fmt: skip
    if before and _looks_like_json(before[0]):
        if len(words) > 1:
            out.fail(f"{several} (or put a command after `--`)", out.USAGE)
        return _load_json_job(before[0])
    if not before and after:
        doc = _json_document(after[0])
        if doc is not None:
            if len(after) > 1:
                out.fail(f"{several}; a JSON document is not a command", out.USAGE)
            if isinstance(doc, list):
                _refuse_array()
            return doc
    return {"command": words[0] if len(words) == 1 else shlex.join(words)}


def _check_seconds(**flags: float | None) -> None:
    """--delay and --timeout as the daemon will check them (NaN is not even JSON)."""
    from queuectl import jobs as J

    for name, value in flags.items():
        if value is not None:
            try:
                J.validate_seconds(value, name)
            except J.ValidationError as exc:
                out.fail(f"--{exc}", out.USAGE)


def _check_wait_timeout(option: str, value: float | None) -> None:
    if value is not None and not 0 <= value < math.inf:  # NaN fails this too
        out.fail(f"{option} must be a number of seconds >= 0", out.USAGE)


def _current_dir() -> str:
    try:
        return os.getcwd()
    except OSError as exc:  # the directory was removed under us
        out.fail(f"the current directory is gone ({exc.strerror}); a job runs in the directory "
                 "it was enqueued from: cd elsewhere or give --cwd DIR", out.USAGE)  # fmt: skip
        raise  # not reached


# Options of `enqueue` that take a value, to find the `--` that ends the options.
_VALUE_OPTIONS = frozenset({"--id", "--priority", "-p", "--timeout", "--max-retries", "--delay",
                            "--run-at", "--cwd", "--env", "--file", "--wait-timeout"})  # fmt: skip


def _words_after_dashdash(raw: list[str]) -> int | None:
    """How many of the raw arguments come after the `--` that ends the options (None: no `--`)."""
    i = 0
    while i < len(raw):
        word = raw[i]
        if word == "--":
            return len(raw) - i - 1
        i += 2 if word in _VALUE_OPTIONS else 1
    return None


class _EnqueueCommand(click.Command):
    """Remembers where `--` was: the words after it are a command, not JSON."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["queuectl.after_dashdash"] = _words_after_dashdash(list(args))
        return super().parse_args(ctx, args)


def _parse_env(pairs: tuple[str, ...]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            out.fail(f"--env takes KEY=VALUE, not {pair!r}", out.USAGE)
        env[key] = value
    return env


@click.command(cls=_EnqueueCommand, context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1)
@click.option("--id", "job_id", metavar="ID", help="Job id (generated when absent).")
@click.option("--priority", "-p", type=int, help="Higher runs first (default 0).")
@click.option("--timeout", type=float, metavar="SECONDS", help="Kill the job after this long (0: never).")
@click.option("--max-retries", type=int, help="Retries after the first attempt (default: config max_retries).")
@click.option("--delay", type=float, metavar="SECONDS", help="Run this many seconds from now.")
@click.option("--run-at", metavar="TIME", help="Run at this ISO 8601 time (no zone = UTC).")
@click.option("--cwd", metavar="DIR", help="Working directory (default: the current one).")
@click.option("--env", "env_pairs", multiple=True, metavar="KEY=VALUE", help="Extra environment variable (repeatable).")
@click.option("--file", "file_", type=click.File("rb"), metavar="PATH",
              help="Enqueue every line of an NDJSON file (- for stdin), all or nothing.")
@click.option("--skip-invalid", is_flag=True,
              help="With --file: skip bad lines (reported on stderr) and enqueue the rest.")
@click.option("--wait", "wait_", is_flag=True,
              help="Wait for the job's final state; exit with its exit code (124/125/126: see wait).")
@click.option("--wait-timeout", type=float, metavar="SECONDS", help="With --wait: give up waiting after this long.")
@click.option("--output", "-o", "show_output", is_flag=True,
              help="With --wait: print the job's stdout and stderr (of its last attempt) on ours.")
@json_option
@click.pass_obj
@handle_errors
def enqueue(
    ctx: Context, args: tuple[str, ...], job_id: str | None, priority: int | None,
    timeout: float | None, max_retries: int | None, delay: float | None, run_at: str | None,
    cwd: str | None, env_pairs: tuple[str, ...], file_: Any, skip_invalid: bool, wait_: bool,
    wait_timeout: float | None, show_output: bool, as_json: bool,
) -> None:  # fmt: skip
    """Add a job: a JSON object, or a command after `--`.

    \b
    queuectl enqueue '{"id":"job1","command":"echo Hello World"}'
    queuectl enqueue --id job2 --priority 10 -- make -C ~/src test
    queuectl enqueue --delay 60 -- 'backup.sh && notify.sh'
    queuectl enqueue --file jobs.ndjson        # one JSON job per line
    queuectl enqueue --wait --output --max-retries 0 -- make test

    Several words after `--` are quoted for the shell and joined; a single
    word is taken as a shell command line as it is. The job runs with
    `sh -c` in the current directory (or --cwd) with the daemon's
    environment plus --env.

    --wait waits for a final state (completed, dead, cancelled): a failing
    job is retried first (max_retries); use --max-retries 0 to behave like
    running the command. Exit code: the job's own; 124 the wait timed out,
    125 dead without an exit code (timed out, killed), 126 cancelled.
    """
    if file_ is not None:
        if args:
            out.fail("give either --file or a job, not both", out.USAGE)
        if wait_ or show_output:
            out.fail("--wait/--output cannot be used with --file", out.USAGE)
        _enqueue_file(ctx, file_, as_json, skip_invalid)
        return
    if skip_invalid:
        out.fail("--skip-invalid goes with --file", out.USAGE)
    _check_wait_timeout("--wait-timeout", wait_timeout)
    if (show_output or wait_timeout is not None) and not wait_:
        out.fail("--output and --wait-timeout go with --wait", out.USAGE)
    if show_output and as_json:
        out.fail("--output prints the job's own output; it cannot be combined with --json", out.USAGE)
    if not args:
        out.fail("nothing to enqueue: give a JSON job or `-- COMMAND ...` (see --help)", out.USAGE)
    _check_seconds(delay=delay, timeout=timeout)
    after = click.get_current_context().meta.get("queuectl.after_dashdash") or 0
    after = min(after, len(args))
    job = _job_from_words(list(args[: len(args) - after]), list(args[len(args) - after :]))
    flags = {"id": job_id, "priority": priority, "timeout": timeout, "max_retries": max_retries,
             "delay": delay, "run_at": run_at, "cwd": cwd}  # fmt: skip
    job.update({k: v for k, v in flags.items() if v is not None})
    if env_pairs:
        given = job.get("env")
        if given is not None and not isinstance(given, dict):
            out.fail(f"the job's env must be a JSON object of strings to add --env to, not "
                     f"{json.dumps(given)[:60]}", out.USAGE)  # fmt: skip
        job["env"] = {**(given or {}), **_parse_env(env_pairs)}
    if "cwd" not in job:
        job["cwd"] = _current_dir()
    client = ctx.client()
    result = client.enqueue_spec(job)
    if not wait_:
        if as_json:
            out.print_json(result.raw)
        else:
            click.echo(out.enqueued_line(result.raw))
        return
    try:
        waited = _wait_one(client, result.id, wait_timeout)
    except KeyboardInterrupt:
        out.fail(f"stopped waiting; job {result.id} is still queued "
                 f"(`queuectl cancel {result.id}` stops it)", 130)  # fmt: skip
    code = _exit_code_of(waited)
    if as_json:
        out.print_json(waited.raw)
    elif show_output:
        if waited.job is not None:
            _print_output(client, waited.job)
        if code in (out.WAIT_TIMEOUT, out.JOB_DEAD, out.JOB_CANCELLED):
            click.echo(f"queuectl: {_describe(waited)}", err=True)
    else:
        click.echo(_describe(waited))
    sys.exit(code)


def _enqueue_file(ctx: Context, stream: Any, as_json: bool, skip_invalid: bool) -> None:
    """All or nothing by default: every line is checked (locally, then against the queue)
    before any is sent. With skip_invalid, bad lines are reported and the rest enqueued."""
    from queuectl import jobs as J
    from queuectl.errors import ERROR_NAMES, RemoteError

    cwd: str | None = None
    now = time.time()
    # The daemon's limits decide (its stack rlimit may differ from ours): here only what
    # no daemon on this machine could take; its dry run names the line of the rest.
    local_limits = J.ExecLimits(J.exec_limits().max_string, J.KERNEL_ARG_CAP // 2)
    jobs: list[dict[str, Any]] = []
    lines: list[int] = []
    skipped: list[dict[str, Any]] = []
    seen: dict[str, int] = {}

    def bad(lineno: int, message: str, error: str) -> None:
        if not skip_invalid:
            out.fail(f"line {lineno}: {message}; nothing was enqueued", out.ERROR_EXIT[error])
        skipped.append({"line": lineno, "message": message, "error": error})

    for lineno, raw in enumerate(stream, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad(lineno, f"not valid UTF-8 (byte {exc.start + 1})", "parse_error")
            continue
        if not line.strip():
            continue
        try:
            job = json.loads(line.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            bad(lineno, f"not valid JSON: {exc.msg} (column {exc.colno})", "parse_error")
            continue
        except ValueError as exc:  # e.g. a number too long to convert
            bad(lineno, f"not valid JSON: {exc}", "parse_error")
            continue
        try:
            spec = J.validate_spec(job, now, local_limits)
        except J.ValidationError as exc:
            bad(lineno, str(exc), "invalid_params")
            continue
        if spec.id is not None:
            if spec.id in seen:
                bad(lineno, f"id {spec.id!r} is also on line {seen[spec.id]}", "duplicate_id")
                continue
            seen[spec.id] = lineno
        if isinstance(job, dict) and "cwd" not in job:
            job["cwd"] = cwd = cwd or _current_dir()
        jobs.append(job)
        lines.append(lineno)

    def line_of(exc: RemoteError, start: int) -> int:
        index = exc.data.get("index") if isinstance(exc.data, dict) else None
        return lines[start + index] if isinstance(index, int) else lines[start]

    client = ctx.client()
    chunks = range(0, len(jobs), CHUNK)
    passes = 1 if skip_invalid else 2
    ids: list[str] = []
    with _progress(len(jobs) * passes, large=len(jobs) > PROGRESS_FROM) as bar:
        if not skip_invalid:
            # First check every id against the queue, so a duplicate in the last chunk
            # does not leave the first chunks enqueued; then send the chunks for real.
            for start in chunks:
                try:
                    client.enqueue_many(jobs[start : start + CHUNK], dry_run=True)
                except RemoteError as exc:
                    out.fail(f"line {line_of(exc, start)}: {exc.message}; nothing was enqueued",
                             out.ERROR_EXIT.get(exc.name, out.FAILURE))  # fmt: skip
                bar.update(len(jobs[start : start + CHUNK]))
        for start in chunks:
            chunk = jobs[start : start + CHUNK]
            try:
                result = client.enqueue_many(chunk, skip_invalid=skip_invalid)
            except RemoteError as exc:
                out.fail(f"line {line_of(exc, start)}: {exc.message}; the {len(ids)} jobs before "
                         "it were enqueued", out.ERROR_EXIT.get(exc.name, out.FAILURE))  # fmt: skip
            ids += result["ids"]
            for skip in result.get("skipped", []):
                skipped.append({"line": lines[start + skip["index"]], "message": skip["message"],
                                "error": ERROR_NAMES.get(skip["code"], "invalid_params")})  # fmt: skip
            bar.update(len(chunk))
    skipped.sort(key=lambda s: s["line"])
    for s in skipped:
        click.echo(f"queuectl: skipped line {s['line']}: {s['message']}", err=True)
    if as_json:
        doc: dict[str, Any] = {"count": len(ids), "ids": ids}
        if skip_invalid:
            doc["skipped"] = skipped
        out.print_json(doc)
    else:
        click.echo(f"enqueued {len(ids)} jobs" + (f", skipped {len(skipped)} lines" if skipped else ""))
    if skipped and not ids:  # every line was bad: the exit code of the first one
        sys.exit(out.ERROR_EXIT.get(skipped[0]["error"], out.USAGE))




class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _progress(total: int, large: bool) -> Any:
    """A progress bar on stderr, only when stderr is a terminal and the file is large."""
    if not large or not sys.stderr.isatty():
        return _NoBar()
    return click.progressbar(length=total, label="enqueueing", file=sys.stderr, show_pos=True)


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


def _json_text(raw: bytes) -> tuple[str, str]:
    """Bytes -> (text, encoding) for a JSON document: utf-8 when it is, base64 otherwise."""
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode(), "base64"


def _write(data: bytes, sink: Any = None) -> None:
    (sink or sys.stdout.buffer).write(data)
    (sink or sys.stdout.buffer).flush()


@click.command()
@click.argument("job_id", metavar="ID")
@click.option("--stderr", "stream", flag_value="stderr", help="Show stderr instead of stdout.")
@click.option("--stdout", "stream", flag_value="stdout", default=True, hidden=True)
@click.option("--attempt", "-a", type=int, help="Which attempt (default: the latest).")
@click.option("--follow", "-f", is_flag=True,
              help="Follow the job until it is final: each attempt's output in turn, waiting "
              "(with a note on stderr) while it is scheduled, pending or backing off. "
              "With --attempt: that attempt only.")
@click.option("--json", "as_json", is_flag=True,
              help='One JSON document {"id", "attempt", "stream", "data", "encoding"} '
              "(with --follow: one per chunk, NDJSON).")
@click.pass_obj
@handle_errors
def logs(ctx: Context, job_id: str, stream: Literal["stdout", "stderr"], attempt: int | None, follow: bool,
         as_json: bool) -> None:  # fmt: skip
    """Print a job's stdout (or --stderr), exactly as it wrote it."""
    from queuectl.client.models import LogChunk

    client = ctx.client()

    def emit(chunk: LogChunk) -> None:
        if not chunk.data:
            return
        if not as_json:
            _write(chunk.data)
        else:  # --follow: one document per chunk, as the daemon sent it
            click.echo(json.dumps({"id": job_id, "attempt": chunk.attempt, "stream": stream,
                                   "offset": chunk.offset, "data": chunk.raw["data"],
                                   "encoding": chunk.raw["encoding"]}))  # fmt: skip

    if follow and attempt is None:
        for item in client.follow_logs(job_id, stream=stream, notes=True):
            if isinstance(item, LogChunk):
                emit(item)
            else:
                _say(item)
        return
    if follow:
        for chunk in client.iter_logs(job_id, stream=stream, attempt=attempt, follow=True):
            emit(chunk)
        return
    chunks = list(client.iter_logs(job_id, stream=stream, attempt=attempt))
    if not as_json:
        for chunk in chunks:
            emit(chunk)
        return
    text, encoding = _json_text(b"".join(c.data for c in chunks))
    out.print_json({"id": job_id, "attempt": chunks[-1].attempt, "stream": stream,
                    "data": text, "encoding": encoding})  # fmt: skip


def _say(note: FollowNote) -> None:
    """What `logs --follow` says on stderr between the output."""
    job = note.job
    if note.kind == "attempt":
        _note(f"attempt {note.attempt} of job {job.id} started")
    elif note.kind == "waiting":
        _note(_waiting_note(job, note.attempt))
    elif job.state != "completed":
        _note(_final_note(job))


def _note(text: str) -> None:
    click.echo(f"queuectl: {text}", err=True)


def _in(iso: str | None) -> str:
    """ "in 4s" for an ISO time from the daemon (rounded up; "now" once it is past)."""
    from queuectl import jobs as J

    if not iso:
        return "now"
    try:
        left = J.parse_time(iso) - time.time()
    except J.ValidationError:
        return "later"
    if left <= 0:
        return "now"
    if left < 120:
        return f"in {math.ceil(left)}s"
    if left < 7200:
        return f"in {math.ceil(left / 60)}min"
    return f"in {left / 3600:.1f}h"


def _waiting_note(job: Job, done: int) -> str:
    """The line for a job that runs no attempt (scheduled, pending, or failed and waiting)."""
    run_at = job.raw.get("run_at")
    if job.state == "scheduled":
        return f"waiting: job {job.id} is scheduled for {run_at} ({_in(run_at)})"
    if job.state == "failed":
        why = job.last_error or "failed"
        return f"attempt {job.attempts} failed ({why}); retry {_in(run_at)} (at {run_at})"
    ran = f" (attempt {done + 1})" if done else ""
    return f"waiting: job {job.id} is pending{ran}, for a free worker"


def _final_note(job: Job) -> str:
    if job.state == "cancelled":
        return f"job {job.id} was cancelled"
    code = job.exit_code
    why = f"exit code {code}" if code is not None else (job.last_error or "no exit code")
    return f"job {job.id} is dead ({why})"


def _print_output(client: Client, job: Job) -> None:
    """The job's last attempt: its stdout on our stdout, its stderr on our stderr."""
    if not job.attempts:
        return
    streams: tuple[tuple[Literal["stdout", "stderr"], Any], ...] = (("stdout", sys.stdout.buffer),
                                                                    ("stderr", sys.stderr.buffer))  # fmt: skip
    for stream, sink in streams:
        for chunk in client.iter_logs(job.id, stream=stream):
            if chunk.data:
                _write(chunk.data, sink)


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


@click.command()
@click.argument("job_ids", nargs=-1, required=True, metavar="ID...")
@click.option("--timeout", "wait_timeout", type=float, metavar="SECONDS", help="Give up after this long.")
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
    _check_wait_timeout("--timeout", wait_timeout)
    client = ctx.client()
    code = out.OK
    deadline = None if wait_timeout is None else time.monotonic() + wait_timeout
    results = []
    for job_id in job_ids:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        result = _wait_one(client, job_id, remaining)
        results.append(result)
        code = _exit_code_of(result)
        if show_output and result.job is not None:
            _print_output(client, result.job)
        elif not as_json:
            click.echo(_describe(result))
    if as_json:
        out.print_json([r.raw for r in results] if len(results) > 1 else results[0].raw)
    sys.exit(code)


def _wait_one(client: Client, job_id: str, timeout: float | None) -> WaitResult:
    from queuectl.errors import ShuttingDown

    try:
        return client.wait(job_id, timeout)
    except ShuttingDown as exc:  # the daemon stopped first: it is not there now
        out.fail(exc.message, out.UNREACHABLE)


def _describe(result: WaitResult) -> str:
    job = result.job
    if job is None:
        return "the job was deleted"
    state = "still " + job.state if result.timed_out else job.state
    code = f" (exit {job.exit_code})" if job.exit_code is not None else ""
    error = f" ({job.last_error})" if job.exit_code is None and job.last_error else ""
    return f"{job.id}: {state}{code}{error}"


def _exit_code_of(result: WaitResult) -> int:
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


COMMANDS = [enqueue, list_, show, logs, wait, cancel, retry, delete]
