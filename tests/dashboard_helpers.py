"""Helpers for the dashboard's browser tests: a real `queuectl dashboard` subprocess, Chromium
driven by Playwright, and the checks every page gets (no horizontal overflow)."""

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
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import pytest
from conftest import Daemon, wait_for

try:
    from playwright import sync_api as playwright_sync
except ImportError:  # the non-browser tests still run
    playwright_sync = None

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


class _UnixConnection(HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class _UnixHandler(urllib.request.HTTPHandler):  # a subclass: build_opener then drops the TCP one
    def __init__(self, path: Path):
        super().__init__()
        self.path = str(path)

    def http_open(self, req: Any) -> Any:
        return self.do_open(lambda host, timeout=10, **kw: _UnixConnection(self.path, timeout), req)


def http(url: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None,
         timeout: float = 10, unix: Path | None = None) -> Response:  # fmt: skip
    """One request, no redirects followed, any status returned (not raised).
    unix: send it to this Unix socket (the URL's host is then only the Host header)."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers or {})
    handlers: list[Any] = [_NoRedirect]
    if unix is not None:
        handlers.append(_UnixHandler(unix))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(req, timeout=timeout) as res:
            return Response(res.status, res.headers, res.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, err.headers, err.read())


class Dashboard:
    """`queuectl dashboard` for a test daemon, on a free port (or on the Unix socket given
    with `--bind unix:PATH` in extra)."""

    def __init__(self, daemon: Daemon, host: str = "127.0.0.1", *extra: str, env: dict[str, str] | None = None):
        self.daemon = daemon
        self.host = host
        self.port = free_port()
        bind = extra[extra.index("--bind") + 1] if "--bind" in extra else None
        self.unix = None
        if bind and bind.startswith("unix:"):  # `unix:` alone: beside the control socket
            self.unix = Path(bind[len("unix:") :] or daemon.paths.socket.parent / "dashboard.sock")
        # Over a Unix socket the host is only the Host header (what a proxy would send).
        self.url = "http://localhost" if self.unix else f"http://127.0.0.1:{self.port}"
        self.log_path = daemon.home.parent / f"dashboard-{self.port}.log"
        self.daemon.home.mkdir(parents=True, exist_ok=True)
        where = [] if bind else ["--host", host, "--port", str(self.port)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "queuectl", "--home", str(daemon.home), "dashboard", *where, *extra],
                stdout=log, stderr=log, env={**daemon.env, **(env or {})},
            )  # fmt: skip
        self.token: str | None = None

    def wait_ready(self, daemon_up: bool = True, timeout: float = 20) -> Dashboard:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"dashboard exited with {self.proc.returncode}:\n{self.log()}")
            if self.token is None and (m := re.search(r"\?token=([\w-]+)", self.log())):
                self.token = m.group(1)
            try:
                res = self.http("/healthz", headers=self.auth(), timeout=2)
            except OSError:
                return False
            if res.status == 401 and self.token is None and re.search(r"\?token=[\w-]", self.log()):
                return False  # printed just before it began to listen: ask again with it
            # Up means the dashboard follows the daemon's events: nothing a test does is missed.
            return res.status == 401 or (res.status == 200 and res.json()["daemon_up"] == daemon_up)

        wait_for(ready, timeout, interval=0.05, what="the dashboard to come up")
        return self

    def http(self, path: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None,
             timeout: float = 10) -> Response:  # fmt: skip
        return http(self.url + path, data, headers, timeout, unix=self.unix)

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def login(self, page: Any) -> None:
        """What a person does: open the URL printed at start once (the browser keeps a cookie)."""
        assert self.token, self.log()
        page.goto(f"{self.url}/?token={self.token}")
        page.wait_for_url(f"{self.url}/")  # the exchange page moves on without the token

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


# --- the browser ---------------------------------------------------------------------------------

if playwright_sync is not None:
    playwright_sync.expect.set_options(timeout=10_000)
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}


def expect(locator: Any) -> Any:
    return playwright_sync.expect(locator)


def launch_browser(pw: Any) -> Any:
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def need_browser() -> None:
    if playwright_sync is None:
        pytest.skip("browser tests need playwright: pip install -e '.[dev]'")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"browser tests need {CHROMIUM}: apt-get install chromium")


def open_live(page: Any, url: str) -> None:
    """Load a page and wait until its event stream is connected (so no event is missed)."""
    page.goto(url)
    expect(page.locator("#live-indicator")).to_have_class(re.compile(r"\bon\b"))


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def row(page: Any, job_id: str, table: str = "#jobs-table") -> Any:
    # Ids may hold any character: quote them as a CSS string.
    quoted = '"' + job_id.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return page.locator(f"{table} tbody tr[data-job-id={quoted}]")


def confirm_click(button: Any) -> None:
    """Destructive buttons ask for a second click instead of a dialog."""
    button.click()
    expect(button).to_have_class(re.compile(r"\barmed\b"))
    button.click()


# Whatever sticks out to the right (or left) of the window: the page then scrolls sideways.
OVERFLOW_JS = """() => {
  const w = window.innerWidth, wide = [];
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.right > w + 0.5 || r.left < -0.5)) {
      wide.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${el.className} ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
  }
  return { scrollWidth: document.documentElement.scrollWidth, innerWidth: w, wide: wide.slice(0, 10) };
}"""


def assert_no_overflow(page: Any, what: str) -> None:
    got = page.evaluate(OVERFLOW_JS)
    assert got["scrollWidth"] <= got["innerWidth"], (what, got)
    assert got["wide"] == [], (what, got)
