"""Who may use the dashboard, and what a browser may do with its pages.

- Token: required when the dashboard listens beyond loopback (and whenever one
  is given). A browser presents it once as `?token=...` (the URL printed at
  start); it is then kept in an HttpOnly cookie. Scripts send
  `Authorization: Bearer <token>`. Checked on every request, static files included.
- Host check on loopback: only Host: 127.0.0.1 / localhost / [::1], so a web page
  elsewhere cannot reach the dashboard through DNS rebinding.
- CSRF: every change is a POST carrying a token derived (HMAC) from the
  browser's session cookie; a cross-site form cannot know it. SameSite=Strict
  cookies and an Origin check come on top.
- Headers: a strict Content-Security-Policy (scripts only from our own files),
  no framing, no sniffing, no referrer.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request

SESSION_COOKIE = "queuectl_session"
TOKEN_COOKIE = "queuectl_token"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def read_token_file(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        token = f.read().strip()
    if len(token) < 16:
        raise ValueError(f"the token in {path} is shorter than 16 characters")
    return token


class Csrf:
    """Per-session CSRF tokens: HMAC(server secret, session id)."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def token_for(self, session: str) -> str:
        return hmac.new(self._secret, session.encode(), hashlib.sha256).hexdigest()

    async def check(self, request: Request) -> bool:
        session = request.cookies.get(SESSION_COOKIE)
        if not session:
            return False
        origin = request.headers.get("origin")
        # Host only, not scheme: behind a TLS proxy the browser says https, we see http.
        if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
            return False
        sent = request.headers.get(CSRF_HEADER)
        if sent is None:
            form = await request.form()  # cached by Starlette for the handler
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
        return bool(sent) and hmac.compare_digest(sent, self.token_for(session))


def _cookie(name: str, value: str) -> bytes:
    return f"{name}={value}; Path=/; HttpOnly; SameSite=Strict".encode()


async def _plain(send: Any, status: int, text: str, extra: list[tuple[bytes, bytes]] = ()) -> None:  # type: ignore[assignment]
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
               *SECURITY_HEADERS, *extra]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class SecurityMiddleware:
    """Pure ASGI (so the event stream is not buffered): host, token, session, headers."""

    def __init__(self, app: Any, token: str | None, check_host: bool):
        self.app = app
        self.token = token
        self.check_host = check_host

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if self.check_host:
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in LOOPBACK_HOSTS:
                await _plain(send, 400, "unexpected Host header")
                return
        cookies = {k: m.value for k, m in SimpleCookie(headers.get("cookie", "")).items()}
        if self.token is not None:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            if "token" in query and hmac.compare_digest(query["token"], self.token):
                # Keep it in a cookie and take it out of the address bar (and history).
                rest = urlencode({k: v for k, v in query.items() if k != "token"})
                location = scope["path"] + ("?" + rest if rest else "")
                await _plain(send, 303, "see other", [(b"location", location.encode()),
                                                      (b"set-cookie", _cookie(TOKEN_COOKIE, self.token))])  # fmt: skip
                return
            auth = headers.get("authorization", "")
            presented = auth[7:] if auth.lower().startswith("bearer ") else cookies.get(TOKEN_COOKIE, "")
            if not hmac.compare_digest(presented, self.token):
                await _plain(send, 401, "a token is required: open the URL printed by `queuectl dashboard`")
                return
        session = cookies.get(SESSION_COOKIE)
        new_session = None
        if not session:
            session = new_session = secrets.token_urlsafe(24)
        scope.setdefault("state", {})["session"] = session

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                extra = list(SECURITY_HEADERS)
                if new_session:
                    extra.append((b"set-cookie", _cookie(SESSION_COOKIE, new_session)))
                if not scope["path"].startswith("/static/"):
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
