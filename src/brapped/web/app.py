"""The dashboard as an ASGI app: `create_app(store, settings)` wires pages, API, assets and security.

Only the entry points import this module (`brapped.web`, and through it `brapped serve` and
`brapped run --serve`); the views receive the Dashboard (brapped.web.dashboard) instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import Response

from brapped import __version__
from brapped.clock import Clock, SystemClock
from brapped.config import Settings
from brapped.errors import BrappedError
from brapped.insights import NotFound
from brapped.store import Store
from brapped.web import api, household, pages, pwa
from brapped.web.dashboard import Dashboard
from brapped.web.encoding import DataResponse, jsonable
from brapped.web.security import (
    SecurityHeadersMiddleware,
    TokenMiddleware,
    check_bind,
    crashed_response,
    is_loopback,
)

STATIC = Path(__file__).resolve().parent / "static"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


def create_app(
    store: Store,
    settings: Settings,
    clock: Clock | None = None,
    *,
    trusted_hosts: Sequence[str] | None = None,
) -> FastAPI:
    """The dashboard on `store`. A configured `settings.dashboard_token` is required on every request.

    `trusted_hosts` limits the Host header (serve sets it on loopback so a web page elsewhere cannot
    reach the dashboard by DNS rebinding).
    """
    app = FastAPI(
        title="brapped dashboard API",
        version=__version__,
        description="The numbers behind the brapped dashboard: the same JSON as the CLI's `--format json`.",
        # Swagger UI would load from a CDN: the document itself is at /openapi.json.
        docs_url=None,
        redoc_url=None,
        default_response_class=DataResponse,
    )
    dashboard = Dashboard(store, settings, clock or SystemClock())
    app.state.dashboard = dashboard
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(pwa.router)
    app.include_router(household.router)

    @app.exception_handler(BrappedError)
    async def brapped_error(request: Request, exc: BrappedError) -> Response:
        status = 404 if isinstance(exc, NotFound) else 400
        return _error(request, dashboard, status, str(exc))

    @app.exception_handler(DataError)
    async def bad_data(request: Request, exc: DataError) -> Response:
        # A value the database refuses (validation should have stopped it first): the request's fault.
        return _error(request, dashboard, 400, "the database cannot use a value in this request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        response = _error(request, dashboard, exc.status_code, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith("/api/"):
            return DataResponse({"detail": jsonable(exc.errors())}, status_code=422)
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return _error(request, dashboard, 422, problems or "invalid request")

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        return crashed_response()

    # Middleware runs outside-in in reverse order of adding: headers, then host check, then token.
    token = settings.values.get("dashboard_token")
    if token:
        app.add_middleware(TokenMiddleware, token=str(token))
    if trusted_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(trusted_hosts))
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def _error(request: Request, dashboard: Dashboard, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return DataResponse({"detail": message}, status_code=status)
    return dashboard.render(request, "error.html", {"status": status, "message": message}, status_code=status)


def app_for_host(store: Store, settings: Settings, clock: Clock | None, host: str) -> FastAPI:
    """The dashboard as it must be served on `host`: what `brapped serve` (and `run --serve`) use.

    Refuses a non-loopback `host` without a dashboard token (UnsafeBind); on loopback without a
    token, only loopback Host headers are accepted (no DNS rebinding).
    """
    token = settings.values.get("dashboard_token")
    check_bind(host, token)
    trusted = [*LOOPBACK_NAMES, host] if is_loopback(host) and not token else None
    return create_app(store, settings, clock, trusted_hosts=trusted)
