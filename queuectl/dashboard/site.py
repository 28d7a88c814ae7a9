"""What every route shares: the daemon link, the live feed, CSRF, and rendering pages and
fragments (Jinja2, autoescaped) with the daemon-down and error cases handled once."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.templating import Jinja2Templates

from queuectl import jobs as J
from queuectl.client.rpc import DaemonUnreachable, RemoteError
from queuectl.dashboard import humane
from queuectl.dashboard.daemon_link import DaemonLink
from queuectl.dashboard.live import LiveFeed
from queuectl.dashboard.security import CSRF_FIELD, Csrf

HERE = Path(__file__).parent
FLASH_COOKIE = "queuectl_flash"
ERROR_STATUS = {"job_not_found": 404, "queue_not_found": 404, "invalid_state": 409, "duplicate_id": 409,
                "shutting_down": 503}  # fmt: skip

Loader = Callable[[], Awaitable[dict[str, Any]]]


def job_url(job_id: str, **extra: Any) -> str:
    return "/job?" + urlencode({"id": job_id, **extra})


def error_status(exc: RemoteError) -> int:
    return ERROR_STATUS.get(exc.name, 400)


class Site:
    def __init__(self, socket_path: Path):
        self.socket_path = socket_path
        self.link = DaemonLink(socket_path)
        self.feed = LiveFeed(socket_path, self.link)
        self.csrf = Csrf()
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        env = self.templates.env
        env.globals.update(states=J.STATES, job_url=job_url, csrf_field=CSRF_FIELD,
                           retryable=J.RETRYABLE_STATES, cancellable=J.CANCELLABLE_STATES,
                           deletable=J.DELETABLE_STATES, attempt_error=humane.attempt_error,
                           plural=humane.plural)  # fmt: skip
        env.filters.update(humane.FILTERS)

    def render(self, request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        session = request.scope["state"]["session"]
        here = request.url.path + ("?" + request.url.query if request.url.query else "")
        base = {"csrf": self.csrf.token_for(session), "socket": str(self.socket_path), "daemon_up": True,
                "flash": unquote(request.cookies.get(FLASH_COOKIE, "")),
                "server_ms": int(time.time() * 1000),  # the scripts measure ages against the server's clock
                # where a form falls back to after a plain (script-less) POST
                "next_url": "/" if here.startswith("/fragments/") else here}  # fmt: skip
        response = self.templates.TemplateResponse(request, name, {**base, **context}, status_code=status)
        if base["flash"]:
            response.delete_cookie(FLASH_COOKIE)
        return response

    async def page(self, request: Request, name: str, load: Loader) -> Response:
        """A whole page; when the daemon is down, the same page with the banner and no data."""
        position = self.feed.position  # before the data: news after it makes the stream resync
        try:
            return self.render(request, name, {**await load(), "feed_position": position})
        except DaemonUnreachable:
            return self.render(request, name, {"daemon_up": False, "feed_position": position}, status=503)

    async def fragment(self, request: Request, name: str, load: Loader) -> Response:
        """One live region of a page, alone."""
        try:
            context = await load()
        except DaemonUnreachable as exc:
            return PlainTextResponse(str(exc), status_code=503)
        except RemoteError as exc:
            return PlainTextResponse(exc.message, status_code=error_status(exc))
        return self.render(request, name, context)


def site_of(request: Request) -> Site:
    site: Site = request.app.state.site
    return site
