"""Running the dashboard: uvicorn (a production ASGI server), one process, no reload, no debug."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from queuectl.dashboard.app import create_app
from queuectl.dashboard.security import is_loopback


def serve(socket_path: Path, host: str, port: int, token: str | None) -> None:
    app = create_app(socket_path, token=token, check_host=is_loopback(host) and token is None)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, server_header=False,
        proxy_headers=False, lifespan="on",
        # Browsers keep the event stream open: do not wait for them on shutdown.
        timeout_graceful_shutdown=1,
    )  # fmt: skip
    uvicorn.Server(config).run()
