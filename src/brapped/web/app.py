"""The dashboard as an ASGI app: `create_app(store, settings)` wires pages, API, assets and security."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Connection
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import Response

from brapped import __version__
from brapped.clock import Clock, SystemClock
from brapped.config import Settings
from brapped.errors import BrappedError
from brapped.insights import NotFound, Period, first_play_at, refresh_search_names, try_refresh
from brapped.store import Store
from brapped.web.cache import ResultCache, Warmer, data_version
from brapped.web.encoding import DataResponse, jsonable
from brapped.web.picker import pick
from brapped.web.security import SecurityHeadersMiddleware, TokenMiddleware

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
# The years the Wrapped page offers, this one first.
WRAPPED_YEARS = 6
STATIC = HERE / "static"
T = TypeVar("T")


class Dashboard:
    """What every route needs: the store, the settings, the clock, the templates."""

    def __init__(self, store: Store, settings: Settings, clock: Clock) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.templates = Jinja2Templates(env=_environment())
        self.cache = ResultCache()
        self.warmer: Warmer | None = None

    def report(self, conn: Connection, function: Callable[..., T], *args: Hashable) -> T:
        """`function(conn, *args)`, remembered until the data changes (see brapped.web.cache)."""
        return self.cache.get_or_compute(conn, (function.__qualname__, args), lambda: function(conn, *args))

    def warm(self) -> tuple[Any, ...]:
        """Compute what people open first (unless the data is unchanged since the last warm-up)."""
        from brapped.web import reports

        with self.store.connect() as conn:
            version = data_version(conn)
        if self.warmer is not None and self.warmer.warmed_version == version:
            return version
        settings, today = self.settings, self.today()
        threshold = settings.stream_threshold_ms
        # Search folds every new name once (seconds for a first import of a big history): here
        # rather than in the first search someone types.
        with self.store.begin() as conn:
            refresh_search_names(conn)
        # The sums long-period reports read (brapped.insights.rollups): rebuilt here when an
        # import, enrich or settings change made them stale, before the pages that read them.
        try_refresh(self.store, self.timezone, threshold, self.clock.now())
        with self.store.connect() as conn:
            self.report(conn, reports.day, today, self.timezone, threshold)
            for key in ("30d", "7d", "today", "year", "all"):
                period = reports.period_of(conn, pick(key, today), self.timezone)
                self.report(conn, reports.overview, period, threshold)
            # Every year the Wrapped page offers that has plays: past years are kept in the database
            # once computed (brapped.insights.report_cache), so after the first warm-up they cost a read.
            first = first_play_at(conn, None)
            first_year = first.astimezone(ZoneInfo(self.timezone)).year if first else today.year
            for year in range(today.year, max(first_year, today.year - WRAPPED_YEARS + 1) - 1, -1):
                period = Period.year(year, self.timezone)
                self.report(
                    conn, reports.wrapped_report, period, threshold, settings.session_gap_minutes, 100
                )
            tops = {}
            for kind in ("artists", "tracks", "albums", "genres"):
                tops[kind] = self.report(conn, reports.top_document, kind, None, "plays", 10, threshold)
            # The pages people click first from the overview: the all-time top 5 of each.
            for row in tops["artists"]["items"][:5]:
                self.report(conn, reports.artist, row["id"], self.timezone, threshold)
            for row in tops["tracks"]["items"][:5]:
                self.report(conn, reports.track, row["id"], self.timezone, threshold)
            for row in tops["albums"]["items"][:5]:
                self.report(conn, reports.album, row["id"], threshold)
        return version

    def status(self) -> dict[str, Any]:
        """The dashboard's own state: its result cache and background warm-up."""
        return {
            "cache": self.cache.stats(),
            "warm_rounds": self.warmer.rounds if self.warmer is not None else None,
        }

    def start_warming(self, interval: float = 5.0) -> Warmer:
        """Keep the usual pages computed in a background thread (checked every `interval` seconds).

        A check reads the data version (two indexed max() queries, under a millisecond), so it can be
        frequent: the pages are recomputed within seconds of a sync in another process, before most
        visitors ask for them."""
        self.warmer = Warmer(self.warm, interval)
        self.warmer.start()
        return self.warmer

    @property
    def timezone(self) -> str:
        return self.settings.tz

    def today(self) -> date:
        """The local date now, in the report timezone."""
        return self.clock.now().astimezone(ZoneInfo(self.timezone)).date()

    def render(
        self, request: Request, name: str, context: dict[str, Any], status_code: int = 200
    ) -> Response:
        base = {"version": __version__, "timezone": self.timezone, "today": self.today(), "nav": name}
        return self.templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def _minutes(value: Any) -> str:
    """Minutes as a readable amount: 1,234 min, or 12.5 min under a hundred."""
    if value is None:
        return "–"
    number = float(value)
    return f"{number:,.0f}" if number >= 100 else f"{number:,.1f}".rstrip("0").rstrip(".")


def _hours(value: Any) -> str:
    if value is None:
        return "–"
    total = float(value)
    return f"{total / 60:,.1f} h" if total >= 60 else f"{total:,.0f} min"


def _number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{int(value):,}"


def _percent(value: Any) -> str:
    if value is None:
        return "–"
    return f"{float(value) * 100:.0f}%"


def _signed_percent(value: Any) -> str:
    if value is None:
        return "–"
    return f"{float(value) * 100:+.0f}%"


def _when(value: Any) -> str:
    """An instant as 'YYYY-MM-DD HH:MM UTC' (or a date as is)."""
    if value is None:
        return "never"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return str(value)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        # Every value from the data is escaped: names can contain HTML.
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        minutes=_minutes,
        hours=_hours,
        number=_number,
        percent=_percent,
        signed_percent=_signed_percent,
        when=_when,
        jsonable=jsonable,
    )
    return env


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
    from brapped.web import api, pages

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

    # Middleware runs outside-in in reverse order of adding: host check, then token, then headers.
    app.add_middleware(SecurityHeadersMiddleware)
    token = settings.values.get("dashboard_token")
    if token:
        app.add_middleware(TokenMiddleware, token=str(token))
    if trusted_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(trusted_hosts))
    return app


def _error(request: Request, dashboard: Dashboard, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return DataResponse({"detail": message}, status_code=status)
    return dashboard.render(request, "error.html", {"status": status, "message": message}, status_code=status)


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


def app_for_host(store: Store, settings: Settings, clock: Clock | None, host: str) -> FastAPI:
    """The dashboard as it must be served on `host`: what `brapped serve` (and `run --serve`) use.

    Refuses a non-loopback `host` without a dashboard token (UnsafeBind); on loopback without a
    token, only loopback Host headers are accepted (no DNS rebinding).
    """
    from brapped.web.security import check_bind, is_loopback

    token = settings.values.get("dashboard_token")
    check_bind(host, token)
    trusted = [*LOOPBACK_NAMES, host] if is_loopback(host) and not token else None
    return create_app(store, settings, clock, trusted_hosts=trusted)
