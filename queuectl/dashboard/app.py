"""The dashboard's routes: pages, HTML fragments for live regions, actions, the event stream.

Pages are rendered on the server (Jinja2, autoescaped); each live region of a page
is also served alone under /fragments/..., which the page's script fetches again
when events say that region changed. Every change is a POST to /actions/<name>.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from queuectl import jobs as J
from queuectl.client.rpc import DaemonUnreachable, RemoteError
from queuectl.dashboard import views
from queuectl.dashboard.daemon_link import DaemonLink
from queuectl.dashboard.live import LiveFeed
from queuectl.dashboard.security import CSRF_FIELD, Csrf, SecurityMiddleware

HERE = Path(__file__).parent
FLASH_COOKIE = "queuectl_flash"
CANCEL_TIMEOUT = 300.0  # job.cancel answers once a running job is dead: kill_grace and more
KEEPALIVE = 15.0
UPCOMING = 10
DLQ_PAGE = 50
ERROR_STATUS = {"job_not_found": 404, "invalid_state": 409, "duplicate_id": 409, "shutting_down": 503}


def job_url(job_id: str, **extra: Any) -> str:
    return "/job?" + urlencode({"id": job_id, **extra})


def create_app(socket_path: Path, token: str | None = None, check_host: bool = True) -> Any:
    link = DaemonLink(socket_path)
    feed = LiveFeed(socket_path, link)
    csrf = Csrf()
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(states=J.STATES, job_url=job_url, running_for=views.running_for,
                                 duration=views.duration, csrf_field=CSRF_FIELD)  # fmt: skip

    def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        session = request.scope["state"]["session"]
        here = request.url.path + ("?" + request.url.query if request.url.query else "")
        base = {"csrf": csrf.token_for(session), "socket": str(socket_path), "daemon_up": True,
                "flash": unquote(request.cookies.get(FLASH_COOKIE, "")),
                # where a form falls back to after a plain (script-less) POST
                "next_url": "/" if here.startswith("/fragments/") else here}  # fmt: skip
        response = templates.TemplateResponse(request, name, {**base, **context}, status_code=status)
        if base["flash"]:
            response.delete_cookie(FLASH_COOKIE)
        return response

    async def page(request: Request, name: str, load: Callable[[], Awaitable[dict[str, Any]]]) -> Response:
        """A whole page; when the daemon is down, the same page with the banner and no data."""
        try:
            return render(request, name, await load())
        except DaemonUnreachable:
            return render(request, name, {"daemon_up": False}, status=503)

    async def fragment(
        request: Request, name: str, load: Callable[[], Awaitable[dict[str, Any]]]
    ) -> Response:
        try:
            context = await load()
        except DaemonUnreachable as exc:
            return PlainTextResponse(str(exc), status_code=503)
        except RemoteError as exc:
            return PlainTextResponse(exc.message, status_code=ERROR_STATUS.get(exc.name, 400))
        return render(request, name, context)

    # --- what each region shows ---------------------------------------------------------

    async def overview_data() -> dict[str, Any]:
        status = await link.call("daemon.status")
        return {"status": status, **await throughput_data(), **await upcoming_data()}

    async def throughput_data() -> dict[str, Any]:
        stats = await link.call("daemon.stats")
        return {"chart": views.throughput_chart(stats["per_minute"])}

    async def upcoming_data() -> dict[str, Any]:
        listed = await link.call("job.list", {"state": J.SCHEDULED, "order": "run_at", "limit": UPCOMING})
        return {"upcoming": listed["jobs"], "upcoming_total": listed["total"]}

    async def jobs_data(query: views.JobQuery) -> dict[str, Any]:
        listed = await link.call("job.list", query.rpc_params())
        rows = listed["jobs"][: query.limit]
        return {"query": query, "jobs": rows, "has_next": len(listed["jobs"]) > query.limit,
                "total": None if query.search else listed["total"]}  # fmt: skip

    async def dlq_data(offset: int) -> dict[str, Any]:
        listed = await link.call("dlq.list", {"limit": DLQ_PAGE, "offset": offset})
        return {"jobs": listed["jobs"], "total": listed["total"], "offset": offset, "page_size": DLQ_PAGE}

    async def job_data(job_id: str, attempt: int | None) -> dict[str, Any]:
        job = await link.call("job.get", {"id": job_id})
        return {"job": job, "shown_attempt": attempt or job["attempts"]}

    # --- pages --------------------------------------------------------------------------

    async def overview(request: Request) -> Response:
        return await page(request, "overview.html", overview_data)

    async def jobs(request: Request) -> Response:
        query = views.JobQuery.from_params(request.query_params)
        return await page(request, "jobs.html", lambda: jobs_data(query))

    async def dlq(request: Request) -> Response:
        offset = max(views._int(request.query_params.get("offset"), 0), 0)
        return await page(request, "dlq.html", lambda: dlq_data(offset))

    async def job(request: Request) -> Response:
        job_id = request.query_params.get("id", "")
        attempt = views._int(request.query_params.get("attempt"), 0) or None
        try:
            return await page(request, "job.html", lambda: job_data(job_id, attempt))
        except RemoteError as exc:
            return render(request, "job.html", {"missing": exc.message, "job_id": job_id}, status=404)

    # --- fragments ----------------------------------------------------------------------

    async def frag_throughput(request: Request) -> Response:
        return await fragment(request, "_throughput.html", throughput_data)

    async def frag_upcoming(request: Request) -> Response:
        return await fragment(request, "_upcoming.html", upcoming_data)

    async def frag_jobs_table(request: Request) -> Response:
        query = views.JobQuery.from_params(request.query_params)
        return await fragment(request, "_jobs_table.html", lambda: jobs_data(query))

    async def frag_dlq_table(request: Request) -> Response:
        offset = max(views._int(request.query_params.get("offset"), 0), 0)
        return await fragment(request, "_dlq_table.html", lambda: dlq_data(offset))

    async def frag_job(request: Request) -> Response:
        job_id = request.query_params.get("id", "")
        attempt = views._int(request.query_params.get("attempt"), 0) or None
        return await fragment(request, "_job_detail.html", lambda: job_data(job_id, attempt))

    async def frag_job_rows(request: Request) -> Response:
        """Rows for the given jobs that (still) match the view's filter: `id` for rows on the
        page already, `new` for jobs just enqueued. A row left out is to be removed."""
        params = request.query_params
        state = params.get("state") or None
        search = (params.get("search") or "").strip() or None
        kind = "dlq" if params.get("kind") == "dlq" else "jobs"

        async def load() -> dict[str, Any]:
            rows = []
            for job_id, is_new in [*((i, False) for i in params.getlist("id")[:200]),
                                   *((i, True) for i in params.getlist("new")[:200])]:  # fmt: skip
                try:
                    found = await link.call("job.get", {"id": job_id, "attempts": False})
                except RemoteError:
                    continue  # deleted meanwhile
                if views.matches(found, state, search if is_new else None):
                    rows.append(found)
            return {"jobs": rows, "kind": kind}

        return await fragment(request, "_rows.html", load)

    # --- data for scripts ---------------------------------------------------------------

    async def api_logs(request: Request) -> Response:
        """The latest (or a given) attempt's stdout and stderr: the tail when no offsets are
        given, else what came after them."""
        params = request.query_params
        job_id = params.get("id", "")
        attempt = views._int(params.get("attempt"), 0) or None
        offsets = {s: views._int(params.get(f"{s}_offset"), -1) for s in ("stdout", "stderr")}

        def read() -> dict[str, Any]:
            sizes: dict[str, int | None] = {"stdout": None, "stderr": None}
            if min(offsets.values()) < 0:  # a tail: a finished attempt knows its sizes
                got = link.call_blocking("job.get", {"id": job_id})
                n = attempt or got["attempts"]
                for a in got["attempts_detail"]:
                    if a["n"] == n:
                        sizes = {"stdout": a["stdout_bytes"], "stderr": a["stderr_bytes"]}
            return {s: views.read_log(link.call_blocking, job_id, attempt, s,
                                      offsets[s] if offsets[s] >= 0 else None, sizes[s])
                    for s in ("stdout", "stderr")}  # fmt: skip

        try:
            import anyio.to_thread

            return JSONResponse(await anyio.to_thread.run_sync(read))
        except DaemonUnreachable as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        except RemoteError as exc:
            return JSONResponse({"error": exc.message}, status_code=ERROR_STATUS.get(exc.name, 400))

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True, "daemon_up": feed.up})

    async def events(request: Request) -> Response:
        q = feed.subscribe()

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 1000\n\n"
                for name, data in feed.snapshot():
                    yield sse(name, data)
                while True:
                    try:
                        name, data = await asyncio.wait_for(q.get(), KEEPALIVE)
                    except TimeoutError:
                        yield ": keepalive\n\n"
                        continue
                    yield sse(name, data)
            finally:
                feed.unsubscribe(q)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"x-accel-buffering": "no"})  # fmt: skip

    # --- actions ------------------------------------------------------------------------

    async def act(request: Request) -> Response:
        name = request.path_params["name"]
        handler = ACTIONS.get(name)
        if handler is None:
            return PlainTextResponse("no such action", status_code=404)
        if not await csrf.check(request):
            return PlainTextResponse(
                "refused: missing or wrong CSRF token (reload the page)", status_code=403
            )
        form = await request.form()
        try:
            message = await handler(form)
            ok, status = True, 200
        except views.FormError as exc:
            message, ok, status = str(exc), False, 400
        except RemoteError as exc:
            message, ok, status = exc.message, False, ERROR_STATUS.get(exc.name, 400)
        except DaemonUnreachable as exc:
            message, ok, status = str(exc), False, 503
        if request.headers.get("accept", "").startswith("application/json"):
            return JSONResponse({"ok": ok, "message": message}, status_code=status)
        back = form.get("next")
        target = back if isinstance(back, str) and back.startswith("/") and not back.startswith("//") else "/"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(FLASH_COOKIE, quote(message), httponly=True, samesite="strict")
        return response

    def field(form: Any, name: str) -> str:
        value = form.get(name)
        if not isinstance(value, str) or not value:
            raise views.FormError(f"missing {name}")
        return value

    async def do_enqueue(form: Any) -> str:
        created = await link.call("job.enqueue", views.enqueue_params(form))
        return f"enqueued {created['id']} ({created['state']})"

    async def do_retry(form: Any) -> str:
        await link.call("job.retry", {"id": field(form, "id")})
        return f"retrying {form['id']}"

    async def do_cancel(form: Any) -> str:
        await link.call("job.cancel", {"id": field(form, "id")}, timeout=CANCEL_TIMEOUT)
        return f"cancelled {form['id']}"

    async def do_delete(form: Any) -> str:
        await link.call("job.delete", {"id": field(form, "id")})
        return f"deleted {form['id']}"

    async def do_dlq_retry(form: Any) -> str:
        await link.call("dlq.retry", {"id": field(form, "id")})
        return f"retrying {form['id']}"

    async def do_dlq_retry_all(form: Any) -> str:
        result = await link.call("dlq.retry", {"all": True})
        return f"retrying {len(result['retried'])} dead job(s)"

    async def do_scale(form: Any) -> str:
        try:
            count = int(field(form, "count"))
        except ValueError:
            raise views.FormError("the number of workers must be a whole number") from None
        await link.call("workers.scale", {"count": count})
        return f"scaling to {count} worker(s)"

    async def do_stop_workers(form: Any) -> str:
        await link.call("workers.stop")
        return "stopping all workers (each finishes its current job)"

    ACTIONS: dict[str, Callable[[Any], Awaitable[str]]] = {
        "enqueue": do_enqueue, "retry": do_retry, "cancel": do_cancel, "delete": do_delete,
        "dlq-retry": do_dlq_retry, "dlq-retry-all": do_dlq_retry_all,
        "workers-scale": do_scale, "workers-stop": do_stop_workers,
    }  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        feed.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            feed.stop()
            link.close()

    routes = [
        Route("/", overview), Route("/jobs", jobs), Route("/job", job), Route("/dlq", dlq),
        Route("/fragments/throughput", frag_throughput), Route("/fragments/upcoming", frag_upcoming),
        Route("/fragments/jobs-table", frag_jobs_table), Route("/fragments/dlq-table", frag_dlq_table),
        Route("/fragments/job", frag_job), Route("/fragments/job-rows", frag_job_rows),
        Route("/api/logs", api_logs), Route("/events", events), Route("/healthz", healthz),
        Route("/actions/{name}", act, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]  # fmt: skip
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.feed = feed
    return SecurityMiddleware(app, token=token, check_host=check_host)


def sse(name: str, data: Any) -> str:
    # json.dumps never emits a raw newline, so one data: line holds the whole message.
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
