"""Who may use the dashboard, and what a browser may do with its pages.

- Token: required on every address, loopback included (other local users are the
  attacker), unless `--no-auth` with a Unix socket. A browser presents it once as
  `?token=...` (the URL printed at start) and gets an HttpOnly, SameSite=Strict
  cookie in exchange, with a page that moves on to the same URL without the token.
  Scripts send `Authorization: Bearer <token>`. Checked on every request: pages,
  fragments, the event stream, actions, static files.
- Host check on loopback: only Host: 127.0.0.1 / localhost / [::1], so a web page
  elsewhere cannot reach the dashboard through DNS rebinding.
- CSRF: every change is a POST carrying a token derived (HMAC) from the
  browser's session cookie; a cross-site form cannot know it. SameSite=Strict
  cookies and an Origin check come on top. A request authenticated by its
  Authorization header needs none: a browser never adds that header on its own.
- Headers: a strict Content-Security-Policy (scripts only from our own files),
  no framing, no sniffing, no referrer.

Secrets are compared as bytes in constant time: hmac.compare_digest raises on a
non-ASCII str, and whatever a client sends must end in 401/403, never in a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import os
import secrets
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from starlette.requests import Request, cookie_parser

from queuectl.dashboard import TOKEN_ENV
from queuectl.tokens import MIN_TOKEN_LENGTH as MIN_TOKEN_LENGTH
from queuectl.tokens import TokenError as TokenError
from queuectl.tokens import check_token as check_token
from queuectl.tokens import is_loopback as is_loopback
from queuectl.tokens import new_token as new_token
from queuectl.tokens import read_token_file as read_token_file
from queuectl.tokens import same as same

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
# Says what to do and nothing else: no version, no socket path, no hint of the token.
UNAUTHORIZED_TEXT = (
    "This queuectl dashboard needs its access token.\n"
    "Open the URL that `queuectl dashboard` printed when it started (it ends in ?token=...),\n"
    "or ask whoever runs it. Scripts send the header `Authorization: Bearer TOKEN`.\n"
)
UNAUTHORIZED_HTML = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Token required · queuectl</title>"
    "<h1>This dashboard needs its access token</h1>"
    "<p>Open the URL that <code>queuectl dashboard</code> printed when it started "
    "(it ends in <code>?token=…</code>), or ask whoever runs it.</p>"
    "<p>Scripts send the header <code>Authorization: Bearer TOKEN</code>.</p></html>\n"
)


def token_from_env() -> str | None:
    """$QUEUECTL_DASHBOARD_TOKEN, for a service; unset or empty: none."""
    value = os.environ.get(TOKEN_ENV, "").strip()
    return check_token(value, f"${TOKEN_ENV}") if value else None


def cookie_value(token: str) -> str:
    """What the browser keeps: derived from the token, so the token itself (perhaps also in
    a proxy's or a script's configuration) never sits in a cookie jar."""
    return hmac.new(token.encode(), b"queuectl dashboard cookie", hashlib.sha256).hexdigest()


class Csrf:
    """Per-session CSRF tokens: HMAC(server secret, session id)."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def token_for(self, session: str) -> str:
        return hmac.new(self._secret, session.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    async def check(self, request: Request) -> bool:
        if request.scope["state"].get("auth") == "bearer":
            return True  # not an ambient credential: a cross-site form cannot send it
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
        return sent is not None and sent != "" and same(sent, self.token_for(session))


def _cookie(name: str, value: str) -> bytes:
    return f"{name}={value}; Path=/; HttpOnly; SameSite=Strict".encode()


async def _plain(send: Any, status: int, text: str, extra: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
                 content_type: bytes = b"text/plain; charset=utf-8") -> None:  # fmt: skip
    body = text.encode()
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store"), *SECURITY_HEADERS, *extra]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _same_path(path: str) -> str:
    # "//host" would be read as another site by the browser: keep the way on to our own pages.
    return quote("/" + path.lstrip("/"), safe="/:@!$&'()*+,;=-._~")


class SecurityMiddleware:
    """Pure ASGI (so the event stream is not buffered): host, token, session, headers.

    token None: no authentication (only `--no-auth` on a Unix socket gets here)."""

    def __init__(self, app: Any, token: str | None, check_host: bool):
        self.app = app
        self.token = token
        self.cookie = cookie_value(token) if token is not None else None
        self.check_host = check_host

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":  # we serve none; refuse before anything could
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if self.check_host:
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in LOOPBACK_HOSTS:
                await _plain(send, 400, "unexpected Host header")
                return
        cookies = cookie_parser(headers.get("cookie", ""))
        state = scope.setdefault("state", {})
        if self.token is not None and self.cookie is not None:
            query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            if any(k == "token" and same(v, self.token) for k, v in query):
                # Keep it in a cookie and take it out of the address bar. Not with a redirect:
                # after a click on another site (a chat, a mail) the redirected request is
                # still cross-site, the SameSite=Strict cookie is not sent and the person
                # lands on "token required". A refresh from our own page is same-site.
                rest = urlencode([(k, v) for k, v in query if k != "token"])
                target = html.escape(_same_path(scope["path"]) + ("?" + rest if rest else ""))
                page = (f'<!doctype html><html lang=en><meta charset=utf-8><meta http-equiv="refresh" '
                        f'content="0;url={target}"><title>queuectl</title><a href="{target}">Continue</a></html>\n')  # fmt: skip
                await _plain(send, 200, page, [(b"set-cookie", _cookie(TOKEN_COOKIE, self.cookie))],
                             b"text/html; charset=utf-8")  # fmt: skip
                return
            auth = headers.get("authorization", "")
            if auth[:7].lower() == "bearer " and same(auth[7:].strip(), self.token):
                state["auth"] = "bearer"
            elif same(cookies.get(TOKEN_COOKIE, ""), self.cookie):
                state["auth"] = "cookie"
            else:
                wants_html = "text/html" in headers.get("accept", "")
                await _plain(send, 401, UNAUTHORIZED_HTML if wants_html else UNAUTHORIZED_TEXT,
                             [(b"www-authenticate", b'Bearer realm="queuectl"')],
                             b"text/html; charset=utf-8" if wants_html else b"text/plain; charset=utf-8")  # fmt: skip
                return
        session = cookies.get(SESSION_COOKIE)
        new_session = None
        if not session:
            session = new_session = secrets.token_urlsafe(24)
        state["session"] = session

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
