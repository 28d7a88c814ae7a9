"""job.logs: a chunk of one attempt's output, read from its child's log segment."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from queuectl import protocol as P
from queuectl.daemon.methods.views import find
from queuectl.daemon.rpc import Param, Send, method

if TYPE_CHECKING:
    from queuectl.daemon.api import Api

MAX_LOG_CHUNK = 4 * 1024 * 1024


@method(
    "job.logs",
    Param("id", "string", required=True),
    Param("attempt", "integer", description="attempt number; default the latest", nullable=True),
    Param("stream", "string", "stdout", "stdout or stderr"),
    Param("offset", "integer", 0, "byte offset into this attempt's output"),
    Param("max_bytes", "integer", 1024 * 1024, f"chunk size (max {MAX_LOG_CHUNK})"),
    description="A chunk of one attempt's stdout or stderr. Read on from next_offset until eof.",
    result='{"data", "encoding": "utf-8"|"base64", "offset", "next_offset", "eof", "running", "attempt", '
    '"dropped_bytes", "max_output"}',
    errors=(P.JOB_NOT_FOUND, P.INVALID_PARAMS),
)
def logs(api: Api, send: Send, id: str, attempt: int | None, stream: str, offset: int,
         max_bytes: int) -> dict[str, Any]:  # fmt: skip
    job = find(api, id)
    if stream not in ("stdout", "stderr"):
        raise P.invalid_params("stream must be stdout or stderr", "stream")
    if offset < 0:
        raise P.invalid_params("offset must be >= 0", "offset")
    if not 1 <= max_bytes <= MAX_LOG_CHUNK:
        raise P.invalid_params(f"max_bytes must be from 1 to {MAX_LOG_CHUNK}", "max_bytes")
    api.pruner.note_read(job["seq"], api.mono)  # (a client following it: not pruned meanwhile)
    n = attempt if attempt is not None else job["attempts"]
    empty = {"data": "", "encoding": "utf-8", "offset": offset, "next_offset": offset,
             "attempt": n, "running": False, "eof": True, "dropped_bytes": 0, "max_output": None}  # fmt: skip
    if n == 0 and attempt is None:
        return empty  # never ran yet
    row = api.store.attempt(job["seq"], n)
    if row is None:
        raise P.RpcError(P.JOB_NOT_FOUND, f"job {id!r} has no attempt {n}", {"id": id, "attempt": n})
    running = row["finished_at"] is None
    # what the attempt dropped past its output limit (the attempt, both streams together)
    empty.update(dropped_bytes=row["dropped"], max_output=row["max_output"])
    if row["segment"] is None:  # not started yet (more may come), could not start, or no output
        return {**empty, "running": running, "eof": not running}
    ext, start, length = (
        ("out", row["out_off"], row["out_len"]) if stream == "stdout"
        else ("err", row["err_off"], row["err_len"])
    )  # fmt: skip
    path = api.paths.logs_dir / f"{row['segment']}.{ext}"
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            end = min(start + length if length is not None else size, size)
            pos = min(start + offset, end)
            f.seek(pos)
            data = f.read(min(max_bytes, end - pos))
    except FileNotFoundError:
        return empty
    next_offset = offset + len(data)
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(data).decode(), "base64"
    return {
        "data": text, "encoding": encoding, "offset": offset, "next_offset": next_offset,
        "attempt": n, "running": running, "eof": not running and start + next_offset >= end,
        "dropped_bytes": row["dropped"], "max_output": row["max_output"],
    }  # fmt: skip
