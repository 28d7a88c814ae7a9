"""`queuectl logs`: a job's output, as it wrote it; with --follow, attempt after attempt until
the job is final. Also the output of a job's last attempt for `wait --output` and
`enqueue --wait --output`. The reading and following are the client library's
(Client.iter_logs, Client.follow_logs); this module prints."""

from __future__ import annotations

import base64
import json
import math
import sys
import time
from typing import TYPE_CHECKING, Any, Literal

import click

from queuectl.client import output as out
from queuectl.client.cli import Context, handle_errors

if TYPE_CHECKING:
    from queuectl.client.library import Client
    from queuectl.client.models import FollowNote, Job, LogChunk


def _frame(ctx: Context, job_id: str, attempt: int | None, stream: str, header: bool) -> None:
    """The header or footer line of `logs` on a terminal (on stderr)."""
    from queuectl.client import views

    job = ctx.client().get(job_id).raw
    width, colour = ctx.width(), ctx.colour()
    if header:
        click.echo(views.log_header(job, attempt, stream, width, colour), err=True)
    else:
        click.echo(views.log_footer(job, attempt or None, width, colour), err=True)


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
    """Print a job's stdout (or --stderr), exactly as it wrote it.

    On a terminal a line above and below the output (on stderr) says which attempt it
    is, how it ended and how long it took; piped, or with --json, only the output.
    """
    client = ctx.client()
    framed = not as_json and sys.stdout.isatty()
    last = [b"\n"]  # the last byte written: the footer goes on a line of its own
    if framed:
        _frame(ctx, job_id, attempt, stream, header=True)

    def emit(chunk: LogChunk) -> None:
        if not as_json and chunk.raw.get("eof") and chunk.raw.get("dropped_bytes"):
            # The attempt's end: say that its output was cut, on a line of its own.
            if chunk.data:
                _write(chunk.data)
                last[0] = chunk.data[-1:]
            _write((b"" if last[0] == b"\n" else b"\n") + truncation_marker(chunk.raw).encode() + b"\n")
            last[0] = b"\n"
            return
        if not chunk.data:
            return
        if not as_json:
            _write(chunk.data)
            last[0] = chunk.data[-1:]
        else:  # --follow: one document per chunk, as the daemon sent it
            click.echo(json.dumps({"id": job_id, "attempt": chunk.attempt, "stream": stream,
                                   "offset": chunk.offset, "data": chunk.raw["data"],
                                   "encoding": chunk.raw["encoding"]}))  # fmt: skip

    if follow and attempt is None:
        _follow_job(client, job_id, stream, emit)
        shown = None
    else:
        shown = _print_attempt(client, job_id, stream, attempt, follow, emit, as_json)
    if framed:
        if last[0] != b"\n":
            click.echo("", err=True)
        _frame(ctx, job_id, shown, stream, header=False)


def truncation_marker(raw: dict[str, Any]) -> str:
    """The line `logs` ends an attempt's output with when some of it was dropped."""
    from queuectl.sizes import format_size

    limit = raw.get("max_output")
    past = f" past the {format_size(limit)} limit" if limit is not None else ""
    return f"[queuectl: output truncated: {format_size(raw['dropped_bytes'])} dropped{past}]"


def _follow_job(client: Client, job_id: str, stream: Literal["stdout", "stderr"], emit: Any) -> None:
    """--follow without --attempt: every attempt's output until the job is final, with notes."""
    from queuectl.client.models import LogChunk

    for item in client.follow_logs(job_id, stream=stream, notes=True):
        if isinstance(item, LogChunk):
            emit(item)
        else:
            _say(item)


def _print_attempt(client: Client, job_id: str, stream: Literal["stdout", "stderr"], attempt: int | None,
                   follow: bool, emit: Any, as_json: bool) -> int:  # fmt: skip
    """One attempt's output (the latest when attempt is None), to its end; with follow,
    until the attempt has finished. Returns the attempt number shown (0: none yet)."""
    if follow:
        shown = 0
        for chunk in client.iter_logs(job_id, stream=stream, attempt=attempt, follow=True):
            emit(chunk)
            shown = chunk.attempt
        return shown
    chunks = list(client.iter_logs(job_id, stream=stream, attempt=attempt))
    if as_json:
        text, encoding = _json_text(b"".join(c.data for c in chunks))
        doc = {"id": job_id, "attempt": chunks[-1].attempt, "stream": stream, "data": text, "encoding": encoding}
        if chunks[-1].raw.get("dropped_bytes"):  # (only then: the document is as it always was)
            doc["dropped_bytes"] = chunks[-1].raw["dropped_bytes"]
        out.print_json(doc)
    else:
        for chunk in chunks:
            emit(chunk)
    return chunks[-1].attempt


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
    """The line for a job that runs no attempt (scheduled, pending, assigned, or failed and
    waiting)."""
    run_at = job.raw.get("run_at")
    if job.state == "scheduled":
        return f"waiting: job {job.id} is scheduled for {run_at} ({_in(run_at)})"
    if job.state == "failed":
        why = job.last_error or "failed"
        return f"attempt {job.attempts} failed ({why}); retry {_in(run_at)} (at {run_at})"
    ran = f" (attempt {done + 1})" if done else ""
    if job.state == "assigned":
        return f"waiting: job {job.id} is assigned{ran} to a worker, to start as soon as it is free"
    return f"waiting: job {job.id} is pending{ran}, for a free worker"


def _final_note(job: Job) -> str:
    if job.state == "cancelled":
        return f"job {job.id} was cancelled"
    code = job.exit_code
    why = f"exit code {code}" if code is not None else (job.last_error or "no exit code")
    return f"job {job.id} is dead ({why})"


def print_output(client: Client, job: Job) -> None:
    """The job's last attempt: its stdout on our stdout, its stderr on our stderr."""
    if not job.attempts:
        return
    streams: tuple[tuple[Literal["stdout", "stderr"], Any], ...] = (("stdout", sys.stdout.buffer),
                                                                    ("stderr", sys.stderr.buffer))  # fmt: skip
    for stream, sink in streams:
        for chunk in client.iter_logs(job.id, stream=stream):
            if chunk.data:
                _write(chunk.data, sink)


COMMANDS = [logs]
