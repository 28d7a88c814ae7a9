"""The dashboard as one ASGI app: the routes (queuectl/dashboard/routes/, by kind), the
static files, the live feed's lifetime, and the security middleware around it all.

Pages are rendered on the server (Jinja2, autoescaped); each live region of a page is
also served alone under /fragments/..., which the page's script fetches again when
events say that region changed. Every change is a POST to /actions/<name>.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from queuectl.dashboard.routes import actions, api, fragments, pages
from queuectl.dashboard.security import SecurityMiddleware
from queuectl.dashboard.site import HERE, Site


def create_app(socket_path: Path, token: str | None = None, check_host: bool = True) -> Any:
    site = Site(socket_path)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        site.feed.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            site.feed.stop()
            site.link.close()

    routes = [*pages.ROUTES, *fragments.ROUTES, *actions.ROUTES, *api.ROUTES,
              Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")]  # fmt: skip
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.site = site
    return SecurityMiddleware(app, token=token, check_host=check_host)
