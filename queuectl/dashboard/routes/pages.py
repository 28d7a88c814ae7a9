"""Whole pages (/, /jobs, /queues, /dlq, /job). When the daemon is down, each is the same page with the banner and no data."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from queuectl.client.rpc import RemoteError
from queuectl.dashboard import data
from queuectl.dashboard.site import site_of
from queuectl.dashboard.views import JobQuery, to_int


async def overview(request: Request) -> Response:
    site = site_of(request)
    return await site.page(request, "overview.html", lambda: data.overview(site.link))


async def jobs(request: Request) -> Response:
    site = site_of(request)
    query = JobQuery.from_params(request.query_params)
    return await site.page(request, "jobs.html", lambda: data.jobs(site.link, query))


async def dlq(request: Request) -> Response:
    site = site_of(request)
    offset = max(to_int(request.query_params.get("offset"), 0), 0)
    return await site.page(request, "dlq.html", lambda: data.dlq(site.link, offset))


async def queues(request: Request) -> Response:
    site = site_of(request)
    return await site.page(request, "queues.html", lambda: data.queues(site.link))


async def job(request: Request) -> Response:
    site = site_of(request)
    job_id = request.query_params.get("id", "")
    attempt = to_int(request.query_params.get("attempt"), 0) or None
    try:
        return await site.page(request, "job.html", lambda: data.job(site.link, job_id, attempt))
    except RemoteError as exc:
        return site.render(request, "job.html", {"missing": exc.message, "job_id": job_id}, status=404)


ROUTES = [Route("/", overview), Route("/jobs", jobs), Route("/queues", queues), Route("/dlq", dlq),
          Route("/job", job)]  # fmt: skip
