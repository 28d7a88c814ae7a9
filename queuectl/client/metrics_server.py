"""`queuectl metrics --listen`: /metrics over HTTP for hosts that run no dashboard.

The standard library's threading HTTP server (one scrape at a time is the usual load;
threads so that a slow client holds up nobody). Every request must carry the token as
`Authorization: Bearer TOKEN`, on every address, loopback included: the project's rule
for anything that listens (docs/dashboard.md), since other local users can reach
loopback. Prometheus sends it with `authorization: {credentials_file: ...}`.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from queuectl.client.prometheus import CONTENT_TYPE
from queuectl.client.rpc import DaemonUnreachable, RemoteError
from queuectl.tokens import same


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, token: str, scrape: Callable[[], bytes]):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.token = token
        self.scrape = scrape
        super().__init__((host, port), MetricsHandler)


class MetricsHandler(BaseHTTPRequestHandler):
    server: MetricsServer
    server_version = "queuectl-metrics"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        auth = self.headers.get("Authorization", "")
        if not (auth[:7].lower() == "bearer " and same(auth[7:].strip(), self.server.token)):
            self.reply(401, b"a token is required: send Authorization: Bearer TOKEN\n",
                       [("WWW-Authenticate", 'Bearer realm="queuectl"')])  # fmt: skip
            return
        if urlsplit(self.path).path != "/metrics":
            self.reply(404, b"not found: the metrics are at /metrics\n")
            return
        try:
            body = self.server.scrape()
        except (DaemonUnreachable, RemoteError) as exc:
            # 503: Prometheus records the target as down (`up` 0), which is what it is.
            self.reply(503, f"daemon unreachable: {exc}\n".encode())
            return
        self.reply(200, body, content_type=CONTENT_TYPE)

    def reply(self, status: int, body: bytes, headers: list[tuple[str, str]] = (),  # type: ignore[assignment]
              content_type: str = "text/plain; charset=utf-8") -> None:  # fmt: skip
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every 15 s is not worth a line each
