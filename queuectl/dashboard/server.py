"""Running the dashboard: uvicorn (a production ASGI server), one process, no reload, no debug."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import uvicorn

from queuectl.dashboard.app import create_app
from queuectl.dashboard.listen import Bind, remove_socket
from queuectl.dashboard.security import is_loopback


def serve(socket_path: Path, bind: Bind, token: str | None,
          listener: tuple[socket.socket, os.stat_result] | None = None) -> None:  # fmt: skip
    """listener: the already bound Unix socket for bind.path (see listen.unix_listener)."""
    # The Host check (against DNS rebinding) is for a loopback TCP address; on a Unix
    # socket the Host is whatever the proxy says, and a browser cannot reach it directly.
    check_host = not bind.is_unix and is_loopback(bind.host)
    app = create_app(socket_path, token=token, check_host=check_host)
    config = uvicorn.Config(
        app, host=bind.host, port=bind.port, log_level="warning", access_log=False, server_header=False,
        proxy_headers=False, lifespan="on",
        # Browsers keep the event stream open: do not wait for them on shutdown.
        timeout_graceful_shutdown=1,
    )  # fmt: skip
    if listener is None:
        uvicorn.Server(config).run()
        return
    sock, ours = listener
    assert bind.path is not None
    path: Path = bind.path

    class UnixServer(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await super().shutdown(sockets)
            # Here, not after run(): uvicorn re-raises the SIGTERM it caught once serve() ends.
            remove_socket(path, ours)

    try:
        UnixServer(config).run(sockets=[sock])
    finally:
        remove_socket(path, ours)  # when it stopped some other way
