"""Output for the CLI: JSON for scripts, aligned tables for people, one-line errors.

Imports neither click nor json until they are used: the CLI's fast path
(queuectl.client.fast) takes its exit codes and its lines from here.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, NoReturn

# Exit codes, the one place they are defined (the CLI's and `queuectl daemon`'s);
# every one is in the table in docs/cli.md (tests/test_cli.py checks EXIT_CODES against it).
OK = 0
FAILURE = 1  # the thing asked for failed (a job failed for --wait, an internal error)
USAGE = 2  # bad arguments or invalid input (click uses 2 for usage errors too)
UNREACHABLE = 3  # no daemon answers
NOT_FOUND = 4
INVALID_STATE = 5
CONFLICT = 6  # a duplicate id
ALREADY_RUNNING = 7  # `daemon`, `daemon --detach`: a daemon already runs on this state dir
BAD_DATABASE = 8  # `daemon`, `init`: the database is damaged, newer, or cannot be opened
UNSAFE = 9  # a directory or file refused: a symlink, someone else's, writable by others, unusable
WAIT_TIMEOUT = 124  # `wait`/`enqueue --wait`: the wait timed out (as timeout(1) does)
JOB_DEAD = 125  # the job is dead without an exit code of its own (timed out, lost)
JOB_CANCELLED = 126

EXIT_CODES = {
    OK: "ok",
    FAILURE: "failed",
    USAGE: "invalid input",
    UNREACHABLE: "daemon unreachable",
    NOT_FOUND: "not found",
    INVALID_STATE: "invalid state",
    CONFLICT: "duplicate id",
    ALREADY_RUNNING: "daemon already running",
    BAD_DATABASE: "database damaged",
    UNSAFE: "unsafe path",
    WAIT_TIMEOUT: "wait timed out",
    JOB_DEAD: "job dead",
    JOB_CANCELLED: "job cancelled",
}

ERROR_EXIT = {
    "job_not_found": NOT_FOUND,
    "invalid_state": INVALID_STATE,
    "duplicate_id": CONFLICT,
    "invalid_params": USAGE,
    "invalid_request": USAGE,
    "parse_error": USAGE,
    "method_not_found": USAGE,
    "request_too_large": USAGE,
    "request_expired": UNREACHABLE,  # read after we had given up on it
}


def json_text(doc: Any) -> str:
    """What --json prints: one line, or indented on a terminal."""
    import json

    return json.dumps(doc, ensure_ascii=False, indent=None if not sys.stdout.isatty() else 2)


def print_json(doc: Any) -> None:
    import click

    click.echo(json_text(doc))


def fail(message: str, code: int) -> NoReturn:
    import click

    click.echo(f"queuectl: {message}", err=True)
    sys.exit(code)


def enqueued_line(job: dict[str, Any]) -> str:
    return f"enqueued {job['id']} ({job['state']})"


def status_doc(result: Mapping[str, Any]) -> dict[str, Any]:
    """`status --json`: daemon.status without what is not documented for it."""
    return {"counts": result["counts"], "workers": result["workers"], "daemon": result["daemon"]}


def status_lines(result: Mapping[str, Any]) -> list[str]:
    """`status` for people: counts, workers, each child, the daemon."""
    counts = result["counts"]
    lines = ["jobs:    " + "  ".join(f"{state} {n}" for state, n in counts.items())]
    w = result["workers"]
    lines.append(f"workers: {w['running']} running (target {w['target']}), {w['busy']} busy")
    for child in w["children"]:
        job = child["job"]
        doing = f"{job['job_id']} for {job['running_s']:.1f}s" if job else child["state"]
        lines.append(f"  child {child['child']} (pid {child['pid']}): {doing}")
    d = result["daemon"]
    lines.append(f"daemon:  pid {d['pid']}, up {d['uptime_s']:.0f}s, home {d['home']}")
    return lines


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str]], max_width: int = 60) -> str:
    """Aligned columns; long cells are cut with an ellipsis."""

    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        text = text.replace("\n", " ")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    header = [title for _, title in columns]
    body = [[cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for r in body:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


JOB_COLUMNS = [
    ("id", "ID"), ("state", "STATE"), ("priority", "PRIO"), ("attempts", "ATTEMPTS"),
    ("exit_code", "EXIT"), ("created_at", "CREATED"), ("command", "COMMAND"),
]  # fmt: skip


def show_job(job: dict[str, Any]) -> None:
    import click

    keys = ["id", "command", "state", "priority", "attempts", "max_retries", "timeout", "run_at",
            "created_at", "updated_at", "started_at", "finished_at", "exit_code", "last_error",
            "cwd"]  # fmt: skip
    width = max(len(k) for k in keys)
    for key in keys:
        value = job.get(key)
        click.echo(f"{key.ljust(width)}  {'-' if value is None else value}")
    if job.get("env"):
        click.echo(f"{'env'.ljust(width)}  " + " ".join(f"{k}={v}" for k, v in job["env"].items()))
    attempts = job.get("attempts_detail") or []
    if attempts:
        click.echo("")
        click.echo(table(attempts, [
            ("n", "ATTEMPT"), ("child", "CHILD"), ("started_at", "STARTED"),
            ("duration_ms", "MS"), ("exit_code", "EXIT"), ("signal", "SIGNAL"),
            ("error", "ERROR"), ("charged", "COUNTED"),
        ]))  # fmt: skip
