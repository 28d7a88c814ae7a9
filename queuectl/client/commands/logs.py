"""`queuectl logs`: a job's output, as it wrote it; with --follow, attempt after attempt until
the job is final. Also the output of a job's last attempt for `wait --output` and
`enqueue --wait --output`."""

from __future__ import annotations

import base64
import json
import math
import sys
import time
from typing import Any

import click

from queuectl.client import output as out
from queuectl.client.cli import Context, handle_errors


def write_chunk(chunk: dict[str, Any], sink: Any = None) -> bytes:
    """Write a chunk's bytes; its last byte (b"" when it has none)."""
    data = _chunk_bytes(chunk)
    (sink or sys.stdout.buffer).write(data)
    (sink or sys.stdout.buffer).flush()
    return data[-1:]


def _frame(ctx: Context, job_id: str, attempt: int | None, stream: str, header: bool) -> None:
    """The header or footer line of `logs` on a terminal (on stderr)."""
    from queuectl.client import views

    job = ctx.call("job.get", {"id": job_id})
    width, colour = ctx.width(), ctx.colour()
    if header:
        click.echo(views.log_header(job, attempt, stream, width, colour), err=True)
    else:
        click.echo(views.log_footer(job, attempt or None, width, colour), err=True)


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
    """Print a job's stdout (or --stderr), exactly as it wrote it.

    On a terminal a line above and below the output (on stderr) says which attempt it
    is, how it ended and how long it took; piped, or with --json, only the output.
    """
    collected: list[bytes] = []
    framed = not as_json and sys.stdout.isatty()
    last = [b"\n"]  # the last byte written: the footer goes on a line of its own
    if framed:
        _frame(ctx, job_id, attempt, stream, header=True)

    def emit(chunk: dict[str, Any]) -> None:
        if not as_json:
            last[0] = write_chunk(chunk) or last[0]
        elif follow:
            click.echo(json.dumps({"id": job_id, "attempt": chunk["attempt"], "stream": stream,
                                   "offset": chunk["offset"], "data": chunk["data"],
                                   "encoding": chunk["encoding"]}))  # fmt: skip
        else:
            collected.append(_chunk_bytes(chunk))

    if follow and attempt is None:
        _follow_job(ctx, job_id, stream, emit)
    else:
        shown = _print_attempt(ctx, job_id, stream, attempt, follow, emit)
    if framed:
        if last[0] != b"\n":
            click.echo("", err=True)
        _frame(ctx, job_id, None if follow and attempt is None else shown, stream, header=False)
    if follow and attempt is None:
        return
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


def print_output(ctx: Context, job: dict[str, Any]) -> None:
    """The job's last attempt: its stdout on our stdout, its stderr on our stderr."""
    if not job.get("attempts"):
        return
    for stream, sink in (("stdout", sys.stdout.buffer), ("stderr", sys.stderr.buffer)):
        offset = 0
        while True:
            chunk = ctx.call("job.logs", {"id": job["id"], "stream": stream, "offset": offset})
            if chunk["data"]:
                write_chunk(chunk, sink)
            offset = chunk["next_offset"]
            if chunk["eof"] or not chunk["data"]:
                break


COMMANDS = [logs]
