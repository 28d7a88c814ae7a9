"""job.logs: a chunk of one attempt's output, read from its child's log segment (or, for an
attempt another daemon sharing the database ran, from the copy in the database)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, cast

from queuectl import protocol as P
from queuectl.daemon.methods.views import find
from queuectl.daemon.rpc import Param, Send, method

if TYPE_CHECKING:
    from queuectl.daemon.api import Api
    from queuectl.daemon.store.interface import SharedStorage

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
    if api.store.shared and not path.exists():  # (segments are named by the database: not ours)
        return _from_database(api, job["seq"], row, stream, offset, max_bytes, empty)
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            end = min(start + length if length is not None else size, size)
            pos = min(start + offset, end)
            f.seek(pos)
            data = f.read(min(max_bytes, end - pos))
    except FileNotFoundError:
        return empty
    return _chunk(data, offset, n, running, not running and start + offset + len(data) >= end, row)


def _from_database(api: Api, seq: int, row: dict[str, Any], stream: str, offset: int, max_bytes: int,
                   empty: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """Another daemon sharing the database ran the attempt: its output as copied into the
    database when the attempt ended (store/postgres/output.py). While it runs, there is
    nothing here yet: read it through the daemon that runs it."""
    if row["finished_at"] is None:
        return {**empty, "running": True, "eof": False}
    store = cast("SharedStorage", api.store)
    data = store.output_read(seq, row["n"], stream, offset, max_bytes)
    if data is None:
        return empty
    length = row["out_len"] if stream == "stdout" else row["err_len"]
    return _chunk(data, offset, row["n"], False, length is None or offset + len(data) >= length, row)


def _chunk(data: bytes, offset: int, n: int, running: bool, eof: bool, row: dict[str, Any]) -> dict[str, Any]:
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(data).decode(), "base64"
    return {
        "data": text, "encoding": encoding, "offset": offset, "next_offset": offset + len(data),
        "attempt": n, "running": running, "eof": eof,
        "dropped_bytes": row["dropped"], "max_output": row["max_output"],
    }  # fmt: skip
