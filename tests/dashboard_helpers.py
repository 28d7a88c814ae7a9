"""Helpers for the dashboard's browser tests: a real `queuectl dashboard` subprocess and Chromium."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from conftest import Daemon, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status: int, headers: Any, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def http(url: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None,
         timeout: float = 10) -> Response:  # fmt: skip
    """One request, no redirects followed, any status returned (not raised)."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers or {})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=timeout) as res:
            return Response(res.status, res.headers, res.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, err.headers, err.read())


class Dashboard:
    """`queuectl dashboard` for a test daemon, on a free port."""

    def __init__(self, daemon: Daemon, host: str = "127.0.0.1", *extra: str):
        self.daemon = daemon
        self.host = host
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = daemon.home.parent / f"dashboard-{self.port}.log"
        self.daemon.home.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "queuectl", "--home", str(daemon.home), "dashboard",
                 "--host", host, "--port", str(self.port), *extra],
                stdout=log, stderr=log, env=daemon.env,
            )  # fmt: skip
        self.token: str | None = None

    def wait_ready(self, daemon_up: bool = True, timeout: float = 20) -> Dashboard:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"dashboard exited with {self.proc.returncode}:\n{self.log()}")
            if self.token is None and (m := re.search(r"\?token=([\w-]+)", self.log())):
                self.token = m.group(1)
            try:
                res = http(self.url + "/healthz", headers=self.auth(), timeout=2)
            except OSError:
                return False
            # Up means the dashboard follows the daemon's events: nothing a test does is missed.
            return res.status == 401 or (res.status == 200 and res.json()["daemon_up"] == daemon_up)

        wait_for(ready, timeout, interval=0.05, what="the dashboard to come up")
        return self

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def stop_all(dashboards: list[Dashboard]) -> None:
    for d in dashboards:
        with contextlib.suppress(Exception):
            d.stop()


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start
