"""Plain helpers for the pages: the jobs page's query, filters, form input (pure code)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from queuectl import jobs as J
from queuectl import queues as Q

PAGE_SIZES = (25, 50, 100, 200)
SORTS = {  # name shown -> job.list params
    "newest": {"order": "created", "newest_first": True},
    "oldest": {"order": "created", "newest_first": False},
    "priority": {"order": "priority", "newest_first": False},
}
MAX_BULK = 1000  # ids in one bulk action: one JSON-RPC batch


@dataclass(frozen=True)
class JobQuery:
    """The jobs page's filter, sort and page, as read from its URL."""

    state: str | None = None
    search: str | None = None
    queue: str | None = None
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
            queue=(params.get("queue") or "").strip() or None,
            sort=sort if sort in SORTS else "newest",
            offset=max(to_int(params.get("offset"), 0), 0),
            limit=to_int(params.get("limit"), 50) if to_int(params.get("limit"), 50) in PAGE_SIZES else 50,
        )

    def rpc_params(self) -> dict[str, Any]:
        # One more than shown tells whether there is a next page (a search has no total).
        return {"state": self.state, "search": self.search, "queue": self.queue, "offset": self.offset,
                "limit": self.limit + 1, **SORTS[self.sort]}  # fmt: skip

    def url(self, **changes: Any) -> str:
        fields = {"state": self.state, "queue": self.queue, "search": self.search, "sort": self.sort,
                  "offset": self.offset, "limit": self.limit, **changes}  # fmt: skip
        defaults = {"sort": "newest", "offset": 0, "limit": 50}
        kept = {k: v for k, v in fields.items() if v not in (None, "") and defaults.get(k) != v}
        return "/jobs" + ("?" + urlencode(kept) if kept else "")

    @property
    def live_head(self) -> bool:
        """New jobs belong at the top of this view, so the page may insert them."""
        return self.offset == 0 and self.sort == "newest"


def to_int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def matches(job: dict[str, Any], state: str | None, search: str | None, queue: str | None = None) -> bool:
    if state and job["state"] != state:
        return False
    if queue and job.get("queue", Q.DEFAULT) != queue:
        return False
    return not search or search in job["id"] or search in job["command"]


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
              "max_retries": number("max_retries", int), "queue": text("queue")}  # fmt: skip
    return {k: v for k, v in params.items() if v is not None}


def field(form: Any, name: str) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value:
        raise FormError(f"missing {name}")
    return value


def ids_of(form: Any) -> list[str]:
    """The job ids a bulk action names: each `id` field, in order, once."""
    ids = list(dict.fromkeys(v for v in form.getlist("id") if isinstance(v, str) and v))
    if not ids:
        raise FormError("select one or more jobs first")
    if len(ids) > MAX_BULK:
        raise FormError(f"at most {MAX_BULK} jobs at once")
    return ids


def concurrency_of(form: Any) -> int:
    """A queue's new concurrency from the queues page's form: a whole number, 0 to 10,000."""
    value = form.get("concurrency")
    text = value.strip() if isinstance(value, str) else ""
    wrong = f"concurrency must be a whole number from 0 to {Q.MAX_CONCURRENCY:,}"
    if not text:
        raise FormError(wrong + " (it was empty)")
    try:
        count = int(text)
    except ValueError:
        raise FormError(f"{wrong}, not {text[:40]!r}") from None
    if not 0 <= count <= Q.MAX_CONCURRENCY:
        raise FormError(f"{wrong}, not {count}")
    return count
