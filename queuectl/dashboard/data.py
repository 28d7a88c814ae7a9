"""What each page and live region shows: the daemon calls behind it, as few round trips as
possible (one JSON-RPC batch where a region needs several answers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from queuectl import jobs as J
from queuectl.client.rpc import RemoteError
from queuectl.dashboard import chart, logs
from queuectl.dashboard.daemon_link import DaemonLink
from queuectl.dashboard.views import JobQuery, matches

UPCOMING = 10
DLQ_PAGE = 50
MAX_ROWS = 200  # rows asked for at once by a page's live table, of each kind


def _ok(result: Any) -> Any:
    if isinstance(result, RemoteError):
        raise result
    return result


def _upcoming_call() -> tuple[str, dict[str, Any]]:
    return "job.list", {"state": J.SCHEDULED, "order": "run_at", "limit": UPCOMING}


def _oldest_pending_call() -> tuple[str, dict[str, Any]]:
    # The first pending job in enqueue order; its updated_at is when it became pending.
    return "job.list", {"state": J.PENDING, "order": "created", "limit": 1}


def _upcoming(listed: dict[str, Any]) -> dict[str, Any]:
    return {"upcoming": listed["jobs"], "upcoming_total": listed["total"]}


def _latency(listed: dict[str, Any]) -> dict[str, Any]:
    return {"oldest_pending": listed["jobs"][0] if listed["jobs"] else None}


async def overview(link: DaemonLink) -> dict[str, Any]:
    status, stats, upcoming_list, oldest = map(_ok, await link.batch(
        [("daemon.status", None), ("daemon.stats", None), _upcoming_call(), _oldest_pending_call()]))  # fmt: skip
    return {"status": status, "chart": chart.throughput_chart(stats["per_minute"]),
            **_upcoming(upcoming_list), **_latency(oldest)}  # fmt: skip


async def throughput(link: DaemonLink) -> dict[str, Any]:
    stats = await link.call("daemon.stats")
    return {"chart": chart.throughput_chart(stats["per_minute"])}


async def upcoming(link: DaemonLink) -> dict[str, Any]:
    method, params = _upcoming_call()
    return _upcoming(await link.call(method, params))


async def latency(link: DaemonLink) -> dict[str, Any]:
    status, oldest = map(_ok, await link.batch([("daemon.status", None), _oldest_pending_call()]))
    return {"status": status, **_latency(oldest)}


async def jobs(link: DaemonLink, query: JobQuery) -> dict[str, Any]:
    """A page of jobs, and the queues' names for the filter and the enqueue form. A queue
    filter naming no queue (gone, or mistyped in the URL) shows no jobs and says so."""
    queues, listed = await link.batch([("queue.list", None), ("job.list", query.rpc_params())])
    names = [q["name"] for q in _ok(queues)]
    if isinstance(listed, RemoteError) and query.queue and listed.name in ("queue_not_found", "invalid_params"):
        listed = {"jobs": [], "total": 0}
    listed = _ok(listed)
    rows = listed["jobs"][: query.limit]
    return {"query": query, "jobs": rows, "has_next": len(listed["jobs"]) > query.limit,
            "total": None if query.search else listed["total"], "queue_names": names,
            "unknown_queue": bool(query.queue) and query.queue not in names}  # fmt: skip


def _since(age_s: float | None, now: datetime) -> str | None:
    """When something `age_s` seconds old began, as the daemon writes times."""
    if age_s is None:
        return None
    return (now - timedelta(seconds=age_s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def queues(link: DaemonLink) -> dict[str, Any]:
    """Every queue (queue.list), each with `oldest_pending_since`: when its oldest pending job
    was enqueued, for the page to show (and keep counting) how long it has waited."""
    listed = await link.call("queue.list")
    now = datetime.now(UTC)
    for q in listed:
        q["oldest_pending_since"] = _since(q.get("oldest_pending_age_s"), now)
    return {"queues": listed}


async def dlq(link: DaemonLink, offset: int) -> dict[str, Any]:
    listed = await link.call("dlq.list", {"limit": DLQ_PAGE, "offset": offset})
    await add_last_stderr(link, listed["jobs"])
    return {"jobs": listed["jobs"], "total": listed["total"], "offset": offset, "page_size": DLQ_PAGE}


async def add_last_stderr(link: DaemonLink, jobs: list[dict[str, Any]]) -> None:
    """Set each job's `stderr_last`: the last line its latest attempt wrote to stderr (two
    batches for the whole page: the attempts' sizes, then each stderr's last few kB)."""
    details = await link.batch([("job.get", {"id": j["id"]}) for j in jobs])
    reads, readers = [], []
    for job, detail in zip(jobs, details, strict=True):
        job["stderr_last"] = ""
        latest = detail["attempts_detail"][-1] if isinstance(detail, dict) and detail["attempts_detail"] else None
        if latest and latest["stderr_bytes"]:
            offset = max(latest["stderr_bytes"] - logs.LAST_LINE_BYTES, 0)
            reads.append(("job.logs", {"id": job["id"], "attempt": latest["n"], "stream": "stderr",
                                       "offset": offset, "max_bytes": logs.LAST_LINE_BYTES}))  # fmt: skip
            readers.append(job)
    for job, reply in zip(readers, await link.batch(reads), strict=True):
        if isinstance(reply, dict):
            job["stderr_last"] = logs.last_line(logs.raw_bytes(reply))


async def rows(link: DaemonLink, ids: list[str], new: list[str], state: str | None, search: str | None,
               kind: str, queue: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Rows for the given jobs that (still) match the view's filter: `ids` for rows on the page
    already, `new` for jobs just enqueued (these must match the search too). One call for all."""
    ids, new = ids[:MAX_ROWS], new[:MAX_ROWS]
    wanted = list(dict.fromkeys([*ids, *new]))
    listed = await link.call("job.list", {"ids": wanted, "limit": len(wanted)}) if wanted else {"jobs": []}
    found = {j["id"]: j for j in listed["jobs"]}
    shown = [found[i] for i in ids if i in found and matches(found[i], state, None, queue)]
    shown += [found[i] for i in new if i in found and i not in ids and matches(found[i], state, search, queue)]
    if kind == "dlq":
        await add_last_stderr(link, shown)
    return {"jobs": shown, "kind": kind}


async def job(link: DaemonLink, job_id: str, attempt: int | None) -> dict[str, Any]:
    found = await link.call("job.get", {"id": job_id})
    return {"job": found, "shown_attempt": attempt or found["attempts"]}
