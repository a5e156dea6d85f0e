"""Who may open the dashboard: loopback-only by default, a bearer token on any other address."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from urllib.parse import urlencode

from starlette.datastructures import URL, MutableHeaders
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brapped.errors import BrappedError

COOKIE = "brapped_dashboard"

# Scripts only from our own origin (no inline script, so an injected <script> cannot run even if
# escaping failed somewhere); images also from Spotify's CDN; ECharts sets inline styles.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob: https://i.scdn.co https://*.scdn.co https://*.spotifycdn.com; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


# The page a browser gets without the token. Nothing from the request is in it: the form submits to
# the page's own address, where `?token=` becomes the cookie.
TOKEN_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Token needed · brapped</title>
<link rel="manifest" href="/manifest.webmanifest">
<link rel="apple-touch-icon" href="/static/icons/apple-touch-icon.png">
<meta name="theme-color" content="#0b0d12">
<style>
body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #0b0d12; color: #eef1f7;
  font-family: Inter, "Segoe UI", system-ui, -apple-system, Roboto, Arial, sans-serif; }
form { width: min(22rem, calc(100vw - 2rem)); display: grid; gap: .8rem; }
h1 { margin: 0; font-size: 1.5rem; } p { margin: 0; color: #9aa3b8; line-height: 1.45; }
input, button { font: inherit; min-height: 48px; border-radius: 12px; padding: 0 1rem; }
input { background: #151923; color: inherit; border: 1px solid #262c3d; }
button { background: #1ed760; color: #05140a; border: 0; font-weight: 700; }
</style></head>
<body><form method="get">
<h1>brapped</h1>
<p>This dashboard needs its access token (BRAPPED_DASHBOARD_TOKEN). This browser keeps it as a cookie
for 30 days.</p>
<input type="password" name="token" aria-label="Dashboard token" placeholder="Dashboard token"
 autocomplete="current-password" required minlength="16">
<button type="submit">Open the dashboard</button>
<p>Or send <code>Authorization: Bearer TOKEN</code>.</p>
</form></body></html>
"""

# Shorter tokens are refused: 16 random characters are beyond guessing over HTTP, and a
# one-character token is a typo, not a secret (docs/decisions.md).
MIN_TOKEN_LENGTH = 16


class UnsafeBind(BrappedError):
    """`serve` was asked to listen beyond this machine without an access token, or with one too
    short to keep the dashboard private."""

    exit_code = 2


def is_loopback(host: str) -> bool:
    """True when `host` only accepts connections from this machine."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name could resolve anywhere


def check_bind(host: str, token: str | None) -> None:
    """Refuse to expose the dashboard beyond loopback without a token, or with a short one."""
    if token and len(token) < MIN_TOKEN_LENGTH:
        raise UnsafeBind(
            f"the dashboard token (BRAPPED_DASHBOARD_TOKEN or dashboard_token in config.toml) has "
            f"{len(token)} characters: use at least {MIN_TOKEN_LENGTH} characters, for instance "
            "the output of `python3 -c 'import secrets; print(secrets.token_urlsafe(24))'`."
        )
    if not is_loopback(host) and not token:
        raise UnsafeBind(
            f"refusing to listen on {host}: the dashboard would be open to the network. "
            "Set BRAPPED_DASHBOARD_TOKEN (or dashboard_token in config.toml) to require a token, "
            "or use --host 127.0.0.1."
        )


def cookie_value(token: str) -> str:
    """What the cookie holds: derived from the token, so the cookie is not the token itself."""
    return hmac.new(token.encode(), b"brapped-dashboard-cookie", hashlib.sha256).hexdigest()


def same_origin_path(path: str) -> str:
    """`path` when a browser can only read it as a path on this site, else "/".

    `//host/` and `/\\host` (browsers treat the backslash as a slash) name another site; anything
    not starting with "/" is not a path at all."""
    if path.startswith("/") and not path.startswith(("//", "/\\")):
        return path
    return "/"


# Fetched by browsers without the cookie (a manifest is requested without credentials) and holding no
# listening data: the app's manifest, its service worker and its icons.
PUBLIC_PATHS = ("/manifest.webmanifest", "/sw.js")
PUBLIC_PREFIXES = ("/static/icons/",)


def session_key(token: str | None) -> str:
    """What names the service worker's page cache: one name per dashboard token.

    A hash of the token's cookie value, so neither the token nor the cookie can be read from it;
    "open" when no token is required."""
    if not token:
        return "open"
    return hashlib.sha256(b"brapped-offline-pages:" + cookie_value(token).encode()).hexdigest()[:24]


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class TokenMiddleware(BaseHTTPMiddleware):
    """Requires the token as `Authorization: Bearer`, as the cookie, or once as `?token=`."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        super().__init__(app)
        self.token = token
        self.cookie = cookie_value(token)

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.scope["path"]  # decoded, as the static files see it: %2e%2e is ".." here
        if path in PUBLIC_PATHS or (path.startswith(PUBLIC_PREFIXES) and ".." not in path):
            return await call_next(request)
        auth = request.headers.get("authorization", "")
        scheme, _, credentials = auth.partition(" ")
        if scheme.lower() == "bearer" and _same(credentials.strip(), self.token):
            return await call_next(request)
        if _same(request.cookies.get(COOKIE), self.cookie):
            return await call_next(request)
        query_token = request.query_params.get("token")
        if _same(query_token, self.token):
            # Swap the token in the address for a cookie, so it leaves the address bar and history.
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            # The path as the client sent it (decoded, so %2F%2F counts as //), kept on this site.
            target = URL(path=same_origin_path(request.scope["path"]), query=urlencode(rest))
            response = RedirectResponse(str(target), status_code=303)
            response.set_cookie(
                COOKIE,
                self.cookie,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
                max_age=30 * 24 * 3600,
            )
            return response
        if request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", ""):
            return JSONResponse(
                {"detail": "a dashboard token is required"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if "text/html" in request.headers.get("accept", ""):
            # A browser: a form to type the token in, which an app opened from a phone's home screen
            # needs (it has no address bar, and on iOS not even Safari's cookies).
            return HTMLResponse(TOKEN_FORM, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return PlainTextResponse(
            "This brapped dashboard needs its access token: open it as /?token=YOUR_TOKEN "
            "or send 'Authorization: Bearer YOUR_TOKEN'.",
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )


class SecurityHeadersMiddleware:
    """Headers that keep the pages from running foreign script or being framed, on every answer.

    Added last, so it wraps the Host check and the token check: their 400, 401 and 303 carry the
    headers too. Plain ASGI, so streamed and static answers are covered the same way."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def crashed_response() -> Response:
    """The answer to an unexpected exception (outside every middleware, so it sets the headers itself)."""
    return PlainTextResponse("Internal Server Error", status_code=500, headers=SECURITY_HEADERS)
