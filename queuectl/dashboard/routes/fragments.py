"""Live regions of the pages, alone: what a page's script fetches again when events say a
region changed. Same templates as the pages, so a region looks the same either way."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from queuectl.dashboard import data
from queuectl.dashboard.site import site_of
from queuectl.dashboard.views import JobQuery, to_int


async def throughput(request: Request) -> Response:
    site = site_of(request)
    return await site.fragment(request, "_throughput.html", lambda: data.throughput(site.link))


async def upcoming(request: Request) -> Response:
    site = site_of(request)
    return await site.fragment(request, "_upcoming.html", lambda: data.upcoming(site.link))


async def latency(request: Request) -> Response:
    site = site_of(request)
    return await site.fragment(request, "_latency.html", lambda: data.latency(site.link))


async def jobs_table(request: Request) -> Response:
    site = site_of(request)
    query = JobQuery.from_params(request.query_params)
    return await site.fragment(request, "_jobs_table.html", lambda: data.jobs(site.link, query))


async def dlq_table(request: Request) -> Response:
    site = site_of(request)
    offset = max(to_int(request.query_params.get("offset"), 0), 0)
    return await site.fragment(request, "_dlq_table.html", lambda: data.dlq(site.link, offset))


async def job(request: Request) -> Response:
    site = site_of(request)
    job_id = request.query_params.get("id", "")
    attempt = to_int(request.query_params.get("attempt"), 0) or None
    return await site.fragment(request, "_job_detail.html", lambda: data.job(site.link, job_id, attempt))


async def job_rows(request: Request) -> Response:
    """Rows for the jobs named: `id` for rows on the page already, `new` for jobs just
    enqueued. A row left out of the answer is to be removed."""
    site = site_of(request)
    params = request.query_params
    state = params.get("state") or None
    search = (params.get("search") or "").strip() or None
    queue = params.get("queue") or None
    kind = "dlq" if params.get("kind") == "dlq" else "jobs"
    return await site.fragment(request, "_rows.html", lambda: data.rows(
        site.link, params.getlist("id"), params.getlist("new"), state, search, kind, queue))  # fmt: skip


async def queues(request: Request) -> Response:
    site = site_of(request)
    return await site.fragment(request, "_queues_table.html", lambda: data.queues(site.link))


ROUTES = [
    Route("/fragments/throughput", throughput), Route("/fragments/upcoming", upcoming),
    Route("/fragments/latency", latency), Route("/fragments/jobs-table", jobs_table),
    Route("/fragments/dlq-table", dlq_table), Route("/fragments/job", job),
    Route("/fragments/job-rows", job_rows), Route("/fragments/queues", queues),
]  # fmt: skip
