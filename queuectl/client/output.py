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
    "schedule_not_found": NOT_FOUND,
    "invalid_state": INVALID_STATE,
    "duplicate_id": CONFLICT,
    "invalid_params": USAGE,
    "invalid_request": USAGE,
    "parse_error": USAGE,
    "method_not_found": USAGE,
    "request_too_large": USAGE,
    "request_expired": UNREACHABLE,  # read after we had given up on it
    "queue_not_found": USAGE,  # an unknown queue is invalid input (docs/cli.md)
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
    doc = {"counts": result["counts"], "queues": result.get("queues", []), "workers": result["workers"],
           "daemon": result["daemon"]}
    if "rate_limit" in result:
        doc["rate_limit"] = result["rate_limit"]
    return doc


def rate_note(limit: Mapping[str, Any]) -> str:
    """`rate 10/m, 37 rate-limited (next start in 4.2s)` for a queue or config rate_limit
    (a queue or a pool without a limit that holds nothing back: "")."""
    from queuectl.client import human

    if not limit.get("rate") and not limit.get("rate_limited"):
        return ""
    text = f"rate {limit['rate']}" if limit.get("rate") else "rate"
    if limit.get("rate_limited"):
        text += f", {limit['rate_limited']} rate-limited"
        if limit.get("rate_free_at"):
            text += f" (next start {human.age(limit['rate_free_at'])})"
    return text


def status_lines(result: Mapping[str, Any], width: int | None = None, colour: bool = False) -> list[str]:
    """`status` for people: counts (every state, wrapped to the width), each queue,
    workers, each child, the daemon; no line wider than `width` (None: no limit)."""
    from queuectl.client import human, term

    words = [f"{term.paint(state, state, colour and n > 0)} {n}" for state, n in result["counts"].items()]
    lines = term.wrap_words(words, "jobs:    ", 9, width)
    pool = rate_note(result.get("rate_limit") or {})
    if pool:
        lines.append(term.clip(f"limit:   {pool} (config rate_limit, over every queue)", width))
    for q in result.get("queues", []):
        paused = ", paused" if q["paused"] else ""
        rate = rate_note({**q, "rate_limited": q.get("rate_limited") if q.get("rate") else 0})
        rate = f", {rate}" if rate else ""
        lines.append(term.clip(
            f"queue {term.one_line(q['name'])}: {q['pending']} pending, {q['slots_in_use']}/{q['concurrency']} "
            f"running{paused}{rate}, oldest pending {human.span(q['oldest_pending_age_s'])}", width))  # fmt: skip
    w = result["workers"]
    lines.append(term.clip(f"workers: {w['running']} running (target {w['target']}), {w['busy']} busy", width))
    for child in w["children"]:
        job = child["job"]
        head = f"  child {child['child']} (pid {child['pid']}): "
        if job:
            tail = f" for {human.span(job['running_s'])}"
            room = None if width is None else max(width - len(head) - len(tail), 1)
            lines.append(term.clip(head + term.clip(term.one_line(job["job_id"]), room) + tail, width))
        elif width is None or len(head + child["state"]) <= width:
            lines.append(head + term.paint(child["state"], child["state"], colour))
        else:
            lines.append(term.clip(head + child["state"], width))
    d = result["daemon"]
    name = f"{term.one_line(d['name'])}, " if d.get("name") else ""
    head = f"daemon:  {name}pid {d['pid']}, up {human.span(d['uptime_s'])}, home "
    room = None if width is None else max(width - len(head), 1)
    lines.append(term.clip(head + term.clip(term.one_line(d["home"]), room, front=True), width))
    database = d.get("database") or {}
    if database.get("kind", "sqlite") != "sqlite":
        lines.append(term.clip(f"database: {term.one_line(database.get('url', ''))}", width))
    if database.get("error"):
        since = human.short_time(database.get("failing_since"))
        lines.append(term.clip(f"database: FAILING since {since}: {term.one_line(database['error'])} "
                               "(counts as last known; nothing is lost, work resumes when it is back)", width))  # fmt: skip
    storage = d.get("storage")  # (an older daemon says nothing of it)
    if storage and database.get("kind", "sqlite") == "sqlite":
        lines.append(term.clip(f"disk:    database {human.size(storage['db_bytes'])} (WAL "
                               f"{human.size(storage['wal_bytes'])}), logs {human.size(storage['logs_bytes'])}",
                               width))  # fmt: skip
    elif storage:
        lines.append(term.clip(f"disk:    database {human.size(storage['db_bytes'])}, "
                               f"logs {human.size(storage['logs_bytes'])}", width))  # fmt: skip
    disk = d.get("disk") or {}
    if disk.get("low"):
        from queuectl.sizes import format_size

        lines.append(term.clip(f"disk:    {format_size(disk['free_bytes'])} free, under the floor of "
                               f"{format_size(disk['floor_bytes'])}: no new job starts until space returns",
                               width))  # fmt: skip
    return lines
