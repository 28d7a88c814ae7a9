"""Reading a job's output for the pages: tails, chunks after an offset, the last line of
stderr, and whole streams as downloads. Colours and carriage returns are rendered in the
browser (static/terminal.js); here they are only stripped, for one-line summaries."""

from __future__ import annotations

import base64
import codecs
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

LOG_TAIL = 64 * 1024  # what a page shows first
LOG_CHUNK = 1024 * 1024  # what a page reads at once after that
DOWNLOAD_CHUNK = 4 * 1024 * 1024  # job.logs' largest chunk
LAST_LINE_BYTES = 4096
LAST_LINE_CHARS = 300

# Escape sequences (CSI, OSC, two-byte) and the control characters a terminal does not print.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def raw_bytes(reply: dict[str, Any]) -> bytes:
    return reply["data"].encode() if reply["encoding"] == "utf-8" else base64.b64decode(reply["data"])


def decode_chunk(reply: dict[str, Any], final: bool) -> tuple[str, int]:
    """Text of one job.logs reply, and how many trailing bytes to read again next time
    (a UTF-8 character cut in two by the chunk boundary)."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text = decoder.decode(raw_bytes(reply), final=final)
    pending = len(decoder.getstate()[0])
    return text, pending


Call = Callable[..., Any]


def read_log(call: Call, job_id: str, attempt: int | None, stream: str, offset: int | None,
             size: int | None) -> dict[str, Any]:  # fmt: skip
    """Read one stream of an attempt from offset, or, when offset is None, its tail: the
    last LOG_TAIL bytes (size is None while the attempt runs: then skim to the end first).
    `start` is where the text begins: more than 0 when earlier output was left out."""
    params = {"id": job_id, "attempt": attempt, "stream": stream}
    if offset is None:
        end = size if size is not None else _skim_to_end(call, params)
        offset = max(end - LOG_TAIL, 0)
    start: int = offset
    reply = call("job.logs", {**params, "offset": offset, "max_bytes": LOG_CHUNK})
    text, pending = decode_chunk(reply, final=reply["eof"])
    return {"text": text, "next_offset": reply["next_offset"] - pending, "start": start,
            "skipped": start > 0, "eof": reply["eof"], "running": reply["running"],
            "attempt": reply["attempt"]}  # fmt: skip


def _skim_to_end(call: Call, params: dict[str, Any]) -> int:
    offset, chunk = 0, DOWNLOAD_CHUNK
    while True:
        reply = call("job.logs", {**params, "offset": offset, "max_bytes": chunk})
        if reply["next_offset"] - offset < chunk:
            return reply["next_offset"]
        offset = reply["next_offset"]


def tail(call: Call, job_id: str, attempt: int | None, offsets: dict[str, int]) -> dict[str, Any]:
    """Both streams of an attempt: the tail where offsets are missing (<0), else what came after."""
    sizes: dict[str, int | None] = {"stdout": None, "stderr": None}
    if min(offsets.values()) < 0:  # a tail: a finished attempt knows its sizes
        got = call("job.get", {"id": job_id})
        n = attempt or got["attempts"]
        for a in got["attempts_detail"]:
            if a["n"] == n:
                sizes = {"stdout": a["stdout_bytes"], "stderr": a["stderr_bytes"]}
    return {s: read_log(call, job_id, attempt, s, offsets[s] if offsets[s] >= 0 else None, sizes[s])
            for s in ("stdout", "stderr")}  # fmt: skip


def plain(text: str) -> str:
    """Text without escape sequences; each line as a terminal leaves it after its carriage
    returns (approximately: the text after the last one that is followed by something)."""
    lines = []
    for line in _ESCAPES.sub("", text).split("\n"):
        parts = [p for p in line.split("\r") if p]
        lines.append(parts[-1] if parts else "")
    return "\n".join(lines)


def last_line(data: bytes) -> str:
    """The last line with something on it, for a one-line summary (the DLQ's last error)."""
    text = plain(data.decode("utf-8", "replace"))
    for line in reversed(text.split("\n")):
        if line.strip():
            line = line.strip()
            return line if len(line) <= LAST_LINE_CHARS else line[: LAST_LINE_CHARS - 1] + "…"
    return ""


async def download(call: Callable[..., Any], job_id: str, attempt: int | None,
                   stream: str) -> tuple[int, AsyncIterator[bytes]]:  # fmt: skip
    """One stream of an attempt, whole, as the bytes the job wrote: (attempt, chunks).

    The first chunk is read before this returns, so that an unknown job or attempt is an
    error the caller can answer with a status, not a broken download. A running attempt
    is read up to what it has written so far."""
    params = {"id": job_id, "stream": stream, "max_bytes": DOWNLOAD_CHUNK}
    first = await call("job.logs", {**params, "attempt": attempt, "offset": 0})

    async def chunks() -> AsyncIterator[bytes]:
        reply = first
        while True:
            data = raw_bytes(reply)
            if data:
                yield data
            if reply["eof"] or reply["next_offset"] == reply["offset"]:
                return
            reply = await call("job.logs", {**params, "attempt": first["attempt"], "offset": reply["next_offset"]})

    return first["attempt"], chunks()
