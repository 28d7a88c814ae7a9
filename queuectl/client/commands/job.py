"""Commands over job.*: enqueue, list, show, logs, cancel, retry, delete, wait."""

from __future__ import annotations

import base64
import json
import math
import os
import shlex
import sys
import time
from typing import Any

import click

from queuectl import protocol as P
from queuectl.client import output as out
from queuectl.client.cli import Context, handle_errors, json_option

CHUNK = 1000
PROGRESS_FROM = 2000  # jobs in a file; fewer take too short a time for a bar


def _looks_like_json(word: str) -> bool:
    return word.lstrip()[:1] in ("{", "[")


def _json_document(word: str) -> Any:
    """The JSON value of a word that is a complete JSON object or array, else None."""
    if not _looks_like_json(word):
        return None
    try:
        doc = json.loads(word)
    except ValueError:
        return None
    return doc if isinstance(doc, dict | list) else None


def _refuse_array() -> None:
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
    result = ctx.call("job.enqueue", job)
    if not wait_:
        if as_json:
            out.print_json(result)
        else:
            click.echo(out.enqueued_line(result))
        return
    try:
        waited = _wait_one(ctx, result["id"], wait_timeout)
    except KeyboardInterrupt:
        out.fail(f"stopped waiting; job {result['id']} is still queued "
                 f"(`queuectl cancel {result['id']}` stops it)", 130)  # fmt: skip
    code = _exit_code_of(waited)
    if as_json:
        out.print_json(waited)
    elif show_output:
        if waited["job"] is not None:
            _print_output(ctx, waited["job"])
        if code in (out.WAIT_TIMEOUT, out.JOB_DEAD, out.JOB_CANCELLED):
            click.echo(f"queuectl: {_describe(waited)}", err=True)
    else:
        click.echo(_describe(waited))
    sys.exit(code)


def _enqueue_file(ctx: Context, stream: Any, as_json: bool, skip_invalid: bool) -> None:
    """All or nothing by default: every line is checked (locally, then against the queue)
    before any is sent. With skip_invalid, bad lines are reported and the rest enqueued."""
    from queuectl import jobs as J
    from queuectl.client.rpc import RemoteError

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

    chunks = range(0, len(jobs), CHUNK)
    passes = 1 if skip_invalid else 2
    ids: list[str] = []
    with _progress(len(jobs) * passes, large=len(jobs) > PROGRESS_FROM) as bar:
        if not skip_invalid:
            # First check every id against the queue, so a duplicate in the last chunk
            # does not leave the first chunks enqueued; then send the chunks for real.
            for start in chunks:
                try:
                    ctx.call("job.enqueue_many", {"jobs": jobs[start : start + CHUNK], "dry_run": True})
                except RemoteError as exc:
                    out.fail(f"line {line_of(exc, start)}: {exc.message}; nothing was enqueued",
                             out.ERROR_EXIT.get(exc.name, out.FAILURE))  # fmt: skip
                bar.update(len(jobs[start : start + CHUNK]))
        for start in chunks:
            params: dict[str, Any] = {"jobs": jobs[start : start + CHUNK]}
            if skip_invalid:
                params["skip_invalid"] = True
            try:
                result = ctx.call("job.enqueue_many", params)
            except RemoteError as exc:
                out.fail(f"line {line_of(exc, start)}: {exc.message}; the {len(ids)} jobs before "
                         "it were enqueued", out.ERROR_EXIT.get(exc.name, out.FAILURE))  # fmt: skip
            ids += result["ids"]
            for s in result.get("skipped", []):
                skipped.append({"line": lines[start + s["index"]], "message": s["message"],
                                "error": P.ERROR_NAMES.get(s["code"], "invalid_params")})  # fmt: skip
            bar.update(len(params["jobs"]))
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


def _write_chunk(chunk: dict[str, Any], sink: Any = None) -> None:
    (sink or sys.stdout.buffer).write(_chunk_bytes(chunk))
    (sink or sys.stdout.buffer).flush()


def _chunk_bytes(chunk: dict[str, Any]) -> bytes:
    data = chunk["data"]
    return base64.b64decode(data) if chunk["encoding"] == "base64" else data.encode("utf-8")


def _json_text(raw: bytes) -> tuple[str, str]:
    """Bytes -> (text, encoding) for a JSON document: utf-8 when it is, base64 otherwise."""
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode(), "base64"


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
def logs(ctx: Context, job_id: str, stream: str, attempt: int | None, follow: bool, as_json: bool) -> None:
    """Print a job's stdout (or --stderr), exactly as it wrote it."""
    collected: list[bytes] = []

    def emit(chunk: dict[str, Any]) -> None:
        if not as_json:
            _write_chunk(chunk)
        elif follow:
            click.echo(json.dumps({"id": job_id, "attempt": chunk["attempt"], "stream": stream,
                                   "offset": chunk["offset"], "data": chunk["data"],
                                   "encoding": chunk["encoding"]}))  # fmt: skip
        else:
            collected.append(_chunk_bytes(chunk))

    if follow and attempt is None:
        _follow_job(ctx, job_id, stream, emit)
        return
    shown = _print_attempt(ctx, job_id, stream, attempt, follow, emit)
    if as_json and not follow:
        text, encoding = _json_text(b"".join(collected))
        out.print_json({"id": job_id, "attempt": shown, "stream": stream,
                        "data": text, "encoding": encoding})  # fmt: skip


FOLLOW_POLL = 0.1  # seconds between reads of a running attempt's output
FOLLOW_RECHECK = 1.0  # seconds between looks at a waiting job (events usually wake us first)


def _print_attempt(ctx: Context, job_id: str, stream: str, attempt: int | None, follow: bool,
                   emit: Any) -> int:  # fmt: skip
    """Print one attempt's output (the latest when attempt is None), to its end; with follow,
    until the attempt has finished. Returns the attempt number shown."""
    offset = 0
    params: dict[str, Any] = {"id": job_id, "stream": stream, "attempt": attempt}
    while True:
        chunk = ctx.call("job.logs", {**params, "offset": offset})
        params["attempt"] = chunk["attempt"]  # stay on one attempt while following
        if chunk["data"]:
            emit(chunk)
        offset = chunk["next_offset"]
        if chunk["eof"] or (not follow and not chunk["data"]):
            return chunk["attempt"]
        if not chunk["data"]:
            if not chunk["running"] and chunk["attempt"] == 0:
                return 0
            time.sleep(FOLLOW_POLL)


def _follow_job(ctx: Context, job_id: str, stream: str, emit: Any) -> None:
    """Follow a job until it is final: the latest attempt's output, then each new attempt's
    in turn. While no attempt runs, say on stderr what the job waits for, and wait for its
    events (or look again every FOLLOW_RECHECK seconds)."""
    from queuectl.client.events import EventStream
    from queuectl.client.rpc import RemoteError

    job = ctx.call("job.get", {"id": job_id, "attempts": False})
    events: EventStream | None = None
    done = max(job["attempts"] - 1, 0)  # attempts shown in full; we start at the latest
    first = done + 1
    said = None
    try:
        while True:
            if job["attempts"] > done:
                n = done + 1
                if n > first:  # moving on from an attempt shown above
                    _note(f"attempt {n} of job {job_id} started")
                try:
                    _print_attempt(ctx, job_id, stream, n, True, emit)
                    done = n
                except RemoteError as exc:
                    if exc.name != "job_not_found":
                        raise
                    # The attempt was given back before it started (or the job deleted):
                    # look at the job again below.
                job = ctx.call("job.get", {"id": job_id, "attempts": False})
                said = None
                continue
            state = job["state"]
            if state in ("completed", "dead", "cancelled"):
                if state != "completed":
                    _note(_final_note(job))
                return
            note = _waiting_note(job, done)
            if note is not None and note[0] != said:
                said = note[0]
                _note(note[1])
            if events is None:
                events = EventStream(ctx.socket_path(), ("job.",))
            _wait_for_event(events, job_id, FOLLOW_RECHECK)
            job = ctx.call("job.get", {"id": job_id, "attempts": False})
    finally:
        if events is not None:
            events.close()


def _wait_for_event(events: Any, job_id: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        event = events.next(left)
        if event is None or event.get("job_id") == job_id:
            return


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


def _waiting_note(job: dict[str, Any], done: int) -> tuple[Any, str] | None:
    """(what identifies the situation, the line to say) for a job that runs no attempt."""
    job_id, state = job["id"], job["state"]
    if state == "scheduled":
        return (state, job["run_at"]), f"waiting: job {job_id} is scheduled for {job['run_at']} ({_in(job['run_at'])})"
    if state == "failed":
        why = job.get("last_error") or "failed"
        return (state, job["attempts"], job["run_at"]), (
            f"attempt {job['attempts']} failed ({why}); retry {_in(job['run_at'])}"
            f" (at {job['run_at']})"
        )
    if state == "pending":
        ran = f" (attempt {done + 1})" if done else ""
        return (state, done), f"waiting: job {job_id} is pending{ran}, for a free worker"
    return None  # processing: its attempt is about to show


def _final_note(job: dict[str, Any]) -> str:
    if job["state"] == "cancelled":
        return f"job {job['id']} was cancelled"
    code = job.get("exit_code")
    why = f"exit code {code}" if code is not None else (job.get("last_error") or "no exit code")
    return f"job {job['id']} is dead ({why})"


def _print_output(ctx: Context, job: dict[str, Any]) -> None:
    """The job's last attempt: its stdout on our stdout, its stderr on our stderr."""
    if not job.get("attempts"):
        return
    for stream, sink in (("stdout", sys.stdout.buffer), ("stderr", sys.stderr.buffer)):
        offset = 0
        while True:
            chunk = ctx.call("job.logs", {"id": job["id"], "stream": stream, "offset": offset})
            if chunk["data"]:
                _write_chunk(chunk, sink)
            offset = chunk["next_offset"]
            if chunk["eof"] or not chunk["data"]:
                break


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
    code = out.OK
    deadline = None if wait_timeout is None else time.monotonic() + wait_timeout
    results = []
    for job_id in job_ids:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        result = _wait_one(ctx, job_id, remaining)
        results.append(result)
        code = _exit_code_of(result)
        if show_output and result["job"] is not None:
            _print_output(ctx, result["job"])
        elif not as_json:
            click.echo(_describe(result))
    if as_json:
        out.print_json(results if len(results) > 1 else results[0])
    sys.exit(code)


WAIT_SLICE = 60.0


def _wait_one(ctx: Context, job_id: str, timeout: float | None) -> dict[str, Any]:
    """job.wait in slices of at most a minute, so a daemon that died is noticed (each
    request's client timeout leaves room for the daemon's own); the daemon answers
    at once when the job settles, so the slices cost nothing."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        part = WAIT_SLICE if remaining is None else min(remaining, WAIT_SLICE)
        from queuectl.client.rpc import RemoteError

        try:
            result = ctx.call("job.wait", {"id": job_id, "timeout": part}, timeout=part + ctx.timeout)
        except RemoteError as exc:
            if exc.name == "shutting_down":  # the daemon stopped first: it is not there now
                out.fail(exc.message, out.UNREACHABLE)
            raise
        if not result["timed_out"] or (remaining is not None and remaining <= WAIT_SLICE):
            return result


def _describe(result: dict[str, Any]) -> str:
    job = result["job"]
    if job is None:
        return "the job was deleted"
    state = "still " + job["state"] if result["timed_out"] else job["state"]
    code = f" (exit {job['exit_code']})" if job["exit_code"] is not None else ""
    error = f" ({job['last_error']})" if job["exit_code"] is None and job.get("last_error") else ""
    return f"{job['id']}: {state}{code}{error}"


def _exit_code_of(result: dict[str, Any]) -> int:
    job = result["job"]
    if job is None:  # deleted while we waited: it will not run
        return out.JOB_CANCELLED
    if result["timed_out"]:
        return out.WAIT_TIMEOUT
    if job["state"] == "cancelled":
        return out.JOB_CANCELLED
    if job["exit_code"] is not None:
        return job["exit_code"] if job["exit_code"] < 256 else out.FAILURE
    return out.OK if job["state"] == "completed" else out.JOB_DEAD


COMMANDS = [enqueue, list_, show, logs, wait, cancel, retry, delete]
