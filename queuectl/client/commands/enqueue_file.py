"""`queuectl enqueue --file`: every line of an NDJSON file, all or nothing (or, with
--skip-invalid, the good lines), sent CHUNK jobs at a time with job.enqueue_many."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from queuectl.client import output as out
from queuectl.client.cli import Context
from queuectl.client.commands.enqueue_args import current_dir

if TYPE_CHECKING:
    from queuectl.client.library import Client
    from queuectl.errors import RemoteError

CHUNK = 1000
PROGRESS_FROM = 2000  # jobs in a file; fewer take too short a time for a bar


def enqueue_file(ctx: Context, stream: Any, as_json: bool, skip_invalid: bool) -> None:
    """All or nothing by default: every line is checked (locally, then against the queue)
    before any is sent. With skip_invalid, bad lines are reported and the rest enqueued."""
    batch = _FileJobs(skip_invalid)
    batch.read(stream)
    client = ctx.client()  # a daemon started for us says so now, not across the progress bar
    ids = _send(client, batch)
    _report(batch, ids, as_json)


class _BadLine(Exception):
    """A line of the file that is not a job: what is wrong, and the error it counts as."""

    def __init__(self, message: str, error: str):
        super().__init__(message)
        self.message = message
        self.error = error


class _FileJobs:
    """The jobs of an NDJSON file, the line each is on, and the lines skipped."""

    def __init__(self, skip_invalid: bool):
        self.skip_invalid = skip_invalid
        self.jobs: list[dict[str, Any]] = []
        self.lines: list[int] = []
        self.skipped: list[dict[str, Any]] = []
        self._seen: dict[str, int] = {}  # id -> its line
        self._cwd: str | None = None

    def read(self, stream: Any) -> None:
        from queuectl import jobs as J

        now = time.time()
        # The daemon's limits decide (its stack rlimit may differ from ours): here only what
        # no daemon on this machine could take; its dry run names the line of the rest.
        local_limits = J.ExecLimits(J.exec_limits().max_string, J.KERNEL_ARG_CAP // 2)
        for lineno, raw in enumerate(stream, 1):
            try:
                self._add(lineno, raw, now, local_limits)
            except _BadLine as exc:
                self.bad(lineno, exc.message, exc.error)

    def _add(self, lineno: int, raw: bytes, now: float, limits: Any) -> None:
        from queuectl import jobs as J

        line = _line_text(raw)
        if not line.strip():
            return
        job = _line_json(line)
        try:
            spec = J.validate_spec(job, now, limits)
        except J.ValidationError as exc:
            raise _BadLine(str(exc), "invalid_params") from None
        if spec.id is not None:
            if spec.id in self._seen:
                raise _BadLine(f"id {spec.id!r} is also on line {self._seen[spec.id]}", "duplicate_id")
            self._seen[spec.id] = lineno
        if isinstance(job, dict) and "cwd" not in job:
            job["cwd"] = self._cwd = self._cwd or current_dir()
        self.jobs.append(job)
        self.lines.append(lineno)

    def bad(self, lineno: int, message: str, error: str) -> None:
        if not self.skip_invalid:
            out.fail(f"line {lineno}: {message}; nothing was enqueued", out.ERROR_EXIT[error])
        self.skipped.append({"line": lineno, "message": message, "error": error})

    def line_of(self, exc: RemoteError, start: int) -> int:
        """The line of the job the daemon refused, in the chunk from `start`."""
        index = exc.data.get("index") if isinstance(exc.data, dict) else None
        return self.lines[start + index] if isinstance(index, int) else self.lines[start]


def _line_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadLine(f"not valid UTF-8 (byte {exc.start + 1})", "parse_error") from None


def _line_json(line: str) -> Any:
    try:
        return json.loads(line.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        raise _BadLine(f"not valid JSON: {exc.msg} (column {exc.colno})", "parse_error") from None
    except ValueError as exc:  # e.g. a number too long to convert
        raise _BadLine(f"not valid JSON: {exc}", "parse_error") from None


def _send(client: Client, batch: _FileJobs) -> list[str]:
    """Enqueue the file's jobs, CHUNK at a time; their ids."""
    jobs = batch.jobs
    chunks = range(0, len(jobs), CHUNK)
    ids: list[str] = []
    large = len(jobs) > PROGRESS_FROM
    if not batch.skip_invalid:
        # First check every id against the queue, so a duplicate in the last chunk
        # does not leave the first chunks enqueued; then send the chunks for real.
        with _progress(len(jobs), large, "checking") as bar:
            for start in chunks:
                _dry_run(client, batch, start)
                bar.update(len(jobs[start : start + CHUNK]))
    with _progress(len(jobs), large, "enqueueing") as bar:  # each bar counts the jobs once
        for start in chunks:
            ids += _send_chunk(client, batch, start, len(ids))
            bar.update(len(jobs[start : start + CHUNK]))
    return ids


def _dry_run(client: Client, batch: _FileJobs, start: int) -> None:
    from queuectl.errors import RemoteError

    # A job may wait for one of an earlier chunk (`after`): there when this chunk is sent.
    earlier = {j.get("id") for j in batch.jobs[:start]} if start else set()
    jobs = [{**j, "after": [a for a in j["after"] if a not in earlier]}
            if earlier and isinstance(j.get("after"), list) else j
            for j in batch.jobs[start : start + CHUNK]]  # fmt: skip
    try:
        client.enqueue_many(jobs, dry_run=True)
    except RemoteError as exc:
        out.fail(f"line {batch.line_of(exc, start)}: {exc.message}; nothing was enqueued",
                 out.ERROR_EXIT.get(exc.name, out.FAILURE))  # fmt: skip


def _send_chunk(client: Client, batch: _FileJobs, start: int, sent: int) -> list[str]:
    """Enqueue the chunk from `start` (`sent` jobs before it were); its ids."""
    from queuectl.errors import ERROR_NAMES, RemoteError

    try:
        result = client.enqueue_many(batch.jobs[start : start + CHUNK], skip_invalid=batch.skip_invalid)
    except RemoteError as exc:
        out.fail(f"line {batch.line_of(exc, start)}: {exc.message}; the {sent} jobs before "
                 "it were enqueued", out.ERROR_EXIT.get(exc.name, out.FAILURE))  # fmt: skip
    ids: list[str] = result["ids"]
    for s in result.get("skipped", []):
        batch.skipped.append({"line": batch.lines[start + s["index"]], "message": s["message"],
                              "error": ERROR_NAMES.get(s["code"], "invalid_params")})  # fmt: skip
    return ids


def _report(batch: _FileJobs, ids: list[str], as_json: bool) -> None:
    """The lines skipped (on stderr), then what was enqueued."""
    skipped = batch.skipped
    skipped.sort(key=lambda s: s["line"])
    for s in skipped:
        click.echo(f"queuectl: skipped line {s['line']}: {s['message']}", err=True)
    if as_json:
        doc: dict[str, Any] = {"count": len(ids), "ids": ids}
        if batch.skip_invalid:
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


def _progress(total: int, large: bool, label: str) -> Any:
    """A progress bar of `total` jobs on stderr, only when stderr is a terminal and the
    file is large."""
    if not large or not sys.stderr.isatty():
        return _NoBar()
    return click.progressbar(length=total, label=f"{label:<10}", file=sys.stderr, show_pos=True)

