"""What the CLI prints for people: the tables of `list`, `dlq list`, `worker status`, and
`show`; fitted to the terminal's width with states in colour (queuectl.client.table)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from queuectl.client import human, term
from queuectl.client.table import Col, render


def _attempt_count(value: Any) -> str:
    return "-" if value is None else str(value)


def job_lines(jobs: list[dict[str, Any]], width: int | None, colour: bool) -> list[str]:
    """`list`: one job a row; the command (then the id) cut to the room left."""
    return render(jobs, [
        Col("id", "ID", shrink=2, min_width=10, soft=18), *_queue_col(jobs),
        Col("state", "STATE", colour=True),
        Col("priority", "PRIO"), Col("attempts", "TRIES", _attempt_count), Col("exit_code", "EXIT"),
        Col("created_at", "CREATED", human.short_time),
        Col("command", "COMMAND", shrink=3, min_width=12, soft=30),
    ], width, colour)  # fmt: skip


def _queue_col(jobs: list[dict[str, Any]]) -> list[Col]:
    """A QUEUE column, once some job is in a queue other than `default`."""
    if all(job.get("queue", "default") == "default" for job in jobs):
        return []
    return [Col("queue", "QUEUE", shrink=1, min_width=7, soft=12)]


def dead_lines(jobs: list[dict[str, Any]], width: int | None, colour: bool) -> list[str]:
    """`dlq list`."""
    return render(jobs, [
        Col("id", "ID", shrink=2, min_width=10, soft=18), *_queue_col(jobs), Col("attempts", "TRIES"),
        Col("finished_at", "DIED", human.short_time),
        Col("last_error", "LAST ERROR", shrink=1, min_width=12, soft=20),
        Col("command", "COMMAND", shrink=3, min_width=12, soft=24),
    ], width, colour)  # fmt: skip


def worker_lines(status: Mapping[str, Any], width: int | None, colour: bool) -> list[str]:
    """`worker status`: the pool, then a row per child and the job it runs."""
    name = status.get("daemon")
    head = (f"daemon {name}: " if name else "") + \
        f"workers: {status['running']} running (target {status['target']}), {status['busy']} busy"
    rows = []
    for child in status["children"]:
        job = child["job"] or {}
        rows.append({**child, "job_id": job.get("job_id"), "running_s": job.get("running_s")})
    lines = [term.clip(head, width)]
    if rows:
        lines += render(rows, [
            Col("child", "CHILD"), Col("pid", "PID"), Col("state", "STATE", colour=True),
            Col("running_s", "FOR", lambda s: "-" if s is None else human.span(s)),
            Col("job_id", "JOB", shrink=1, min_width=8),
        ], width, colour)  # fmt: skip
    if status.get("daemons"):  # (a database several daemons share: all of them)
        lines += ["", "daemons sharing the database:"]
        lines += render([{**d, "live": "live" if d["live"] else "lapsed"} for d in status["daemons"]], [
            Col("name", "NAME"), Col("host", "HOST"), Col("pid", "PID"), Col("live", "LEASE"),
            Col("workers", "WORKERS"), Col("running", "RUNNING"),
        ], width, colour)  # fmt: skip
    return lines


def _signal_name(number: Any) -> str:
    if number is None:
        return "-"
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def attempt_lines(attempts: list[dict[str, Any]], width: int | None) -> list[str]:
    def took(ms: Any) -> str:
        return "-" if ms is None else human.span(ms / 1000)

    return render(attempts, [
        Col("n", "#"), Col("daemon", "DAEMON", lambda v: v or "-", shrink=2, min_width=6), Col("child", "CHILD"), Col("started_at", "STARTED", human.short_time),
        Col("duration_ms", "TOOK", took), Col("exit_code", "EXIT"), Col("signal", "SIGNAL", _signal_name),
        Col("charged", "COUNTED", lambda v: "yes" if v else "no"),
        Col("stdout_bytes", "STDOUT", human.size), Col("stderr_bytes", "STDERR", human.size),
        # output dropped past the attempt's max_output ("-": none)
        Col("dropped_bytes", "DROPPED", lambda v: human.size(v) if v else "-"),
        Col("error", "ERROR", shrink=1, min_width=10),
    ], width)  # fmt: skip


SHOW_TIMES = ("run_at", "created_at", "updated_at", "started_at", "finished_at")


def _show_value(job: dict[str, Any], key: str) -> str:
    value = job.get(key)
    if key in SHOW_TIMES:
        return human.long_time(value)
    if key == "timeout":
        return "none" if not value else human.setting(value)
    if key == "max_output":
        from queuectl.sizes import format_size

        return "default (config max_output_bytes)" if value is None else format_size(value)
    if key == "env":
        return " ".join(f"{k}={v}" for k, v in (value or {}).items()) or "-"
    if key == "on":
        return f"{value} (pinned: only the daemon of that name runs it)"
    return "-" if value is None else str(value)


def show_lines(job: dict[str, Any], width: int | None, colour: bool) -> list[str]:
    """`show`: a field a line (a value's own lines, and lines too long for the terminal,
    go on under the value), then a row per attempt."""
    keys = ["id", "command", "state", *(["on"] if job.get("on") else []), "priority", "attempts", "max_retries",
            "timeout", "max_output", "run_at", "created_at", "updated_at", "started_at", "finished_at",
            "exit_code", "last_error", "cwd", "env"]  # fmt: skip
    keys += [k for k in ("on_success", "on_failure", "on_finish", "hook", "hook_of") if job.get(k) is not None]
    label = max(len(k) for k in keys) + 2
    room = None if width is None else max(width - label, 8)
    lines = []
    for key in keys:
        value = _show_value(job, key)
        pieces = [p for raw in value.split("\n") for p in _wrap(term.one_line(raw), room)]
        if key == "state":
            pieces = [term.paint(pieces[0], value, colour)]
        for n, piece in enumerate(pieces):
            lines.append((key if n == 0 else "").ljust(label) + piece)
    lines += link_lines(job, label, colour)
    attempts = job.get("attempts_detail") or []
    if attempts:
        lines += ["", *attempt_lines(attempts, width)]
    return lines


def link_lines(job: dict[str, Any], label: int, colour: bool) -> list[str]:
    """`show`: the jobs it waits for (`after`, with its condition), those waiting for it, and
    the hook jobs it fired."""
    lines = []
    for key, title in (("parents", "after"), ("dependents", "dependents")):
        links = job.get(key) or []
        for n, link in enumerate(links):
            head = title if n == 0 else ""
            extra = f" ({job.get('after_condition')})" if key == "parents" and n == 0 else ""
            state = term.paint(link["state"], link["state"], colour)
            lines.append(head.ljust(label) + f"{term.one_line(link['id'])} {state}{extra}")
    for n, hook in enumerate(job.get("hooks") or []):
        state = term.paint(hook["state"], hook["state"], colour)
        code = f", exit {hook['exit_code']}" if hook.get("exit_code") is not None else ""
        lines.append(("hooks" if n == 0 else "").ljust(label)
                     + f"{term.one_line(hook['id'])} {state} (on {hook['hook']}{code})")  # fmt: skip
    return lines


def _wrap(text: str, room: int | None) -> list[str]:
    """text in pieces of at most `room` columns (nothing is left out)."""
    if room is None or term.cell_width(text) <= room:
        return [text]
    pieces, piece, used = [], "", 0
    for ch in text:
        w = term.cell_width(ch)
        if used + w > room:
            pieces.append(piece)
            piece, used = "", 0
        piece += ch
        used += w
    return [*pieces, piece]


def echo_lines(lines: list[str]) -> None:
    for line in lines:
        click.echo(line)


def _rule(text: str, width: int | None, colour: bool, state: str | None) -> str:
    """`── text ──`, cut to the width, the state (when named) in its colour."""
    line = term.clip(f"── {term.one_line(text)} ──", width)
    if colour and state and f" {state} " in line:
        line = line.replace(f" {state} ", f" {term.paint(state, state, True)} ", 1)
    return line


def _attempt(job: dict[str, Any], n: int | None) -> dict[str, Any] | None:
    attempts = job.get("attempts_detail") or []
    if n is None:
        return attempts[-1] if attempts else None
    return next((a for a in attempts if a["n"] == n), None)


def log_header(job: dict[str, Any], n: int | None, stream: str, width: int | None, colour: bool) -> str:
    """The line `logs` prints above a job's output on a terminal (on stderr)."""
    a = _attempt(job, n)
    if a is None:
        return _rule(f"job {job['id']} · {job['state']} · no attempt yet", width, colour, job["state"])
    total = len(job.get("attempts_detail") or [])
    started = human.short_time(a["started_at"]) if a.get("started_at") else "not started"
    rest = f" · attempt {a['n']} of {total} · {stream} · started {started}"
    room = None if width is None else max(width - len(rest) - 10, 8)  # "── job " and " ──"
    return _rule(f"job {term.clip(term.one_line(job['id']), room)}{rest}", width, colour, None)


def log_footer(job: dict[str, Any], n: int | None, width: int | None, colour: bool) -> str:
    """The line below the output: how the attempt ended (or that it runs), how long it took."""
    a = _attempt(job, n)
    latest = a is not None and a["n"] == len(job.get("attempts_detail") or [])
    parts = [job["state"]] if a is None or latest else []
    state = parts[0] if parts else None
    if a is not None:
        if a.get("finished_at") is None:
            parts.append(f"running for {human.age(a['started_at']).removesuffix(' ago')}"
                         if a.get("started_at") else "not started")  # fmt: skip
        else:
            if a.get("exit_code") is not None:
                parts.append(f"exit {a['exit_code']}")
            elif a.get("error"):
                parts.append(str(a["error"]))
            if a.get("duration_ms") is not None:
                parts.append(f"took {human.span(a['duration_ms'] / 1000)}")
    if latest and job["state"] == "failed" and job.get("run_at"):
        parts.append(f"retry {human.age(job['run_at'])}")
    return _rule(" · ".join(parts), width, colour, state)
