"""Data for scripts: a job's output (a tail to follow, or whole as a download), the event
stream (Server-Sent Events), health, Prometheus metrics. Behind the same token as everything else."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from queuectl.client.rpc import DaemonUnreachable, RemoteError
from queuectl.dashboard import logs
from queuectl.dashboard.site import error_status, site_of
from queuectl.dashboard.views import to_int

KEEPALIVE = 15.0
STREAMS = ("stdout", "stderr")


async def log_tail(request: Request) -> Response:
    """The latest (or a given) attempt's stdout and stderr: the tail when no offsets are
    given, else what came after them."""
    link = site_of(request).link
    params = request.query_params
    job_id = params.get("id", "")
    attempt = to_int(params.get("attempt"), 0) or None
    offsets = {s: to_int(params.get(f"{s}_offset"), -1) for s in STREAMS}
    try:
        got = await anyio.to_thread.run_sync(lambda: logs.tail(link.call_blocking, job_id, attempt, offsets))
        return JSONResponse(got)
    except DaemonUnreachable as exc:
        return JSONResponse({"error": str(exc)}, status_code=503)
    except RemoteError as exc:
        return JSONResponse({"error": exc.message}, status_code=error_status(exc))


def download_name(job_id: str, attempt: int, stream: str) -> str:
    """A Content-Disposition value: an ASCII file name, and the id as it is for browsers
    that read filename* (ids are user input: nothing of them reaches a path unescaped)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", job_id)[:80].strip("._") or "job"
    name = f"{job_id}.attempt-{attempt}.{stream}.log"
    return f"attachment; filename=\"{safe}.attempt-{attempt}.{stream}.log\"; filename*=UTF-8''{quote(name, safe='')}"


async def log_download(request: Request) -> Response:
    """One stream of one attempt (the latest unless `attempt` is given), whole: exactly the
    bytes job.logs returns, streamed chunk by chunk, never held whole in memory."""
    link = site_of(request).link
    params = request.query_params
    job_id = params.get("id", "")
    stream = params.get("stream", "stdout")
    if stream not in STREAMS:
        return PlainTextResponse("stream must be stdout or stderr", status_code=400)
    try:
        attempt, chunks = await logs.download(link.call, job_id, to_int(params.get("attempt"), 0) or None, stream)
    except DaemonUnreachable as exc:
        return PlainTextResponse(str(exc), status_code=503)
    except RemoteError as exc:
        return PlainTextResponse(exc.message, status_code=error_status(exc))
    headers = {"content-disposition": download_name(job_id, attempt, stream), "cache-control": "no-store"}
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True, "daemon_up": site_of(request).feed.up})


async def metrics(request: Request) -> Response:
    """One Prometheus scrape (docs/operations.md, "Metrics"), rendered as `queuectl metrics` does."""
    from queuectl.client.prometheus import CONTENT_TYPE, render

    try:
        data = await site_of(request).link.call("daemon.metrics")
    except DaemonUnreachable as exc:
        return PlainTextResponse(f"daemon unreachable: {exc}\n", status_code=503)
    except RemoteError as exc:  # e.g. a daemon too old to have daemon.metrics
        return PlainTextResponse(f"the daemon refused daemon.metrics: {exc}\n", status_code=502)
    return Response(render(data), media_type=CONTENT_TYPE)


def sse(name: str, data: Any) -> str:
    # json.dumps never emits a raw newline, so one data: line holds the whole message.
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


async def events(request: Request) -> Response:
    feed = site_of(request).feed
    q = feed.subscribe()
    # `since`: the feed's position when the page was rendered. News fanned out since then
    # reached no queue of this page: it re-reads (live.py). Read in the same step as subscribe.
    since = request.query_params.get("since")
    missed = since is not None and since != feed.position

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 1000\n\n"
            for name, data in feed.snapshot():
                yield sse(name, data)
            if missed:
                yield sse("resync", {})
            while True:
                try:
                    name, data = await asyncio.wait_for(q.get(), KEEPALIVE)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                yield sse(name, data)
        finally:
            feed.unsubscribe(q)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"x-accel-buffering": "no"})


ROUTES = [
    Route("/api/logs", log_tail), Route("/api/logs/download", log_download),
    Route("/events", events), Route("/healthz", healthz), Route("/metrics", metrics),
]  # fmt: skip
