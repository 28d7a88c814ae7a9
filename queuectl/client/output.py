"""Output for the CLI: JSON for scripts, aligned tables for people, one-line errors."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

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


def print_json(doc: Any) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, indent=None if not sys.stdout.isatty() else 2))


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"queuectl: {message}", err=True)
    sys.exit(code)


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
