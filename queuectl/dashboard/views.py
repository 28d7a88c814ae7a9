"""Plain helpers for the pages: list queries, the throughput chart, log tails, form input."""

from __future__ import annotations

import base64
import codecs
from dataclasses import dataclass
from typing import Any

from queuectl import jobs as J

PAGE_SIZES = (25, 50, 100, 200)
SORTS = {  # name shown -> job.list params
    "newest": {"order": "created", "newest_first": True},
    "oldest": {"order": "created", "newest_first": False},
    "priority": {"order": "priority", "newest_first": False},
}
LOG_TAIL = 64 * 1024
LOG_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class JobQuery:
    """The jobs page's filter, sort and page, as read from its URL."""

    state: str | None = None
    search: str | None = None
    sort: str = "newest"
    offset: int = 0
    limit: int = 50

    @classmethod
    def from_params(cls, params: Any) -> JobQuery:
        state = params.get("state") or None
        sort = params.get("sort", "newest")
        return cls(
            state=state if state in J.STATES else None,
            search=(params.get("search") or "").strip() or None,
            sort=sort if sort in SORTS else "newest",
            offset=max(_int(params.get("offset"), 0), 0),
            limit=_int(params.get("limit"), 50) if _int(params.get("limit"), 50) in PAGE_SIZES else 50,
        )

    def rpc_params(self) -> dict[str, Any]:
        # One more than shown tells whether there is a next page (a search has no total).
        return {"state": self.state, "search": self.search, "offset": self.offset,
                "limit": self.limit + 1, **SORTS[self.sort]}  # fmt: skip

    def url(self, **changes: Any) -> str:
        from urllib.parse import urlencode

        fields = {"state": self.state, "search": self.search, "sort": self.sort,
                  "offset": self.offset, "limit": self.limit, **changes}  # fmt: skip
        defaults = {"sort": "newest", "offset": 0, "limit": 50}
        kept = {k: v for k, v in fields.items() if v not in (None, "") and defaults.get(k) != v}
        return "/jobs" + ("?" + urlencode(kept) if kept else "")

    @property
    def live_head(self) -> bool:
        """New jobs belong at the top of this view, so the page may insert them."""
        return self.offset == 0 and self.sort == "newest"


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def matches(job: dict[str, Any], state: str | None, search: str | None) -> bool:
    if state and job["state"] != state:
        return False
    return not search or search in job["id"] or search in job["command"]


# --- the throughput chart ---------------------------------------------------------------

CHART_W, CHART_H, CHART_PAD = 900, 160, 24


def throughput_chart(per_minute: list[dict[str, Any]]) -> dict[str, Any]:
    """Bars per minute: completed below, failed (incl. dead) stacked on top, as SVG coordinates."""
    n = max(len(per_minute), 1)
    peak = max((m["completed"] + m["failed"] + m["dead"] for m in per_minute), default=0)
    scale = (CHART_H - CHART_PAD) / peak if peak else 0.0
    slot = CHART_W / n
    bars = []
    for i, m in enumerate(per_minute):
        failed = m["failed"] + m["dead"]
        ok_h, bad_h = m["completed"] * scale, failed * scale
        x = round(i * slot + 1, 2)
        base = CHART_H - CHART_PAD / 2
        bars.append({
            "x": x, "w": round(max(slot - 2, 1), 2), "minute": (m["minute"] or "")[11:16],
            "completed": m["completed"], "failed": failed,
            "ok_y": round(base - ok_h, 2), "ok_h": round(ok_h, 2),
            "bad_y": round(base - ok_h - bad_h, 2), "bad_h": round(bad_h, 2),
        })  # fmt: skip
    return {"bars": bars, "peak": peak, "width": CHART_W, "height": CHART_H,
            "total_completed": sum(m["completed"] for m in per_minute),
            "total_failed": sum(m["failed"] + m["dead"] for m in per_minute)}  # fmt: skip


# --- logs -------------------------------------------------------------------------------


def decode_chunk(reply: dict[str, Any], final: bool) -> tuple[str, int]:
    """Text of one job.logs reply, and how many trailing bytes to read again next time
    (a UTF-8 character cut in two by the chunk boundary)."""
    raw = reply["data"].encode() if reply["encoding"] == "utf-8" else base64.b64decode(reply["data"])
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text = decoder.decode(raw, final=final)
    pending = len(decoder.getstate()[0])
    return text, pending


def read_log(call: Any, job_id: str, attempt: int | None, stream: str, offset: int | None,
             size: int | None) -> dict[str, Any]:  # fmt: skip
    """Read one stream of an attempt from offset, or, when offset is None, its tail: the
    last LOG_TAIL bytes (size is None while the attempt runs: then skim to the end first)."""
    params = {"id": job_id, "attempt": attempt, "stream": stream}
    skipped = False
    if offset is None:
        if size is None:
            size = _skim_to_end(call, params)
        offset = max(size - LOG_TAIL, 0)
        skipped = offset > 0
    reply = call("job.logs", {**params, "offset": offset, "max_bytes": LOG_CHUNK})
    text, pending = decode_chunk(reply, final=reply["eof"])
    return {"text": text, "next_offset": reply["next_offset"] - pending, "skipped": skipped,
            "eof": reply["eof"], "running": reply["running"], "attempt": reply["attempt"]}  # fmt: skip


def _skim_to_end(call: Any, params: dict[str, Any]) -> int:
    offset, chunk = 0, 4 * 1024 * 1024
    while True:
        reply = call("job.logs", {**params, "offset": offset, "max_bytes": chunk})
        if reply["next_offset"] - offset < chunk:
            return reply["next_offset"]
        offset = reply["next_offset"]


# --- forms ------------------------------------------------------------------------------


class FormError(ValueError):
    pass


def enqueue_params(form: Any) -> dict[str, Any]:
    """job.enqueue params from the enqueue form; empty fields are left to the daemon's defaults."""

    def text(name: str) -> str | None:
        value = form.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def number(name: str, kind: type) -> Any:
        value = text(name)
        if value is None:
            return None
        try:
            return kind(value)
        except ValueError:
            raise FormError(f"{name.replace('_', ' ')} must be a number") from None

    command = form.get("command")
    if not isinstance(command, str) or not command.strip():
        raise FormError("a job needs a command")
    params = {"command": command, "id": text("id"), "priority": number("priority", int),
              "timeout": number("timeout", float), "run_at": text("run_at"),
              "max_retries": number("max_retries", int)}  # fmt: skip
    return {k: v for k, v in params.items() if v is not None}


def running_for(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds // 60 % 60:02d}m"


def duration(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms:.0f} ms" if ms < 10_000 else running_for(ms / 1000)
