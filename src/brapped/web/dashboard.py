"""The Dashboard every view receives: the store, the settings, the clock, the result cache and the
templates. Views get it as a parameter (`Board`, read from `app.state`), so none imports the app."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import date
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy import Connection
from starlette.responses import Response

from brapped import __version__
from brapped.clock import Clock
from brapped.config import Settings
from brapped.insights import Period, first_play_at, refresh_search_names, try_refresh
from brapped.store import Store
from brapped.web import reports
from brapped.web.cache import ResultCache, Warmer, data_version
from brapped.web.picker import pick
from brapped.web.rendering import environment
from brapped.web.security import session_key

# The years the Wrapped page offers, this one first.
WRAPPED_YEARS = 6
T = TypeVar("T")


class Dashboard:
    """What every route needs: the store, the settings, the clock, the templates."""

    def __init__(self, store: Store, settings: Settings, clock: Clock) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.templates = Jinja2Templates(env=environment())
        self.cache = ResultCache()
        self.warmer: Warmer | None = None

    def report(self, conn: Connection, function: Callable[..., T], *args: Hashable) -> T:
        """`function(conn, *args)`, remembered until the data changes (see brapped.web.cache)."""
        return self.cache.get_or_compute(conn, (function.__qualname__, args), lambda: function(conn, *args))

    def warm(self) -> tuple[Any, ...]:
        """Compute what people open first (unless the data is unchanged since the last warm-up)."""
        with self.store.connect() as conn:
            version = data_version(conn)
        if self.warmer is not None and self.warmer.warmed_version == version:
            return version
        settings, today = self.settings, self.today()
        threshold = settings.stream_threshold_ms
        # Search folds every new name once (docs/decisions.md, "Dashboard"): here rather than in
        # the first search someone types.
        # IMMEDIATE: it reads, then writes (see brapped.insights.search, `_refresh_if_possible`).
        with self.store.begin(immediate=True) as conn:
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
            # A household: each listener's first pages too (read directly: no cache entry of its own).
            people = [p["id"] for p in reports.household(conn)]
            if len(people) > 1:
                self.report(conn, reports.household)  # the listener picker every page shows
                this_year = Period.year(today.year, self.timezone)
                for user in people:
                    self.report(conn, reports.day, today, self.timezone, threshold, user)
                    period = reports.period_of(conn, pick("30d", today), self.timezone, user)
                    self.report(conn, reports.overview, period, threshold, user)
                    self.report(
                        conn,
                        reports.wrapped_report,
                        this_year,
                        threshold,
                        settings.session_gap_minutes,
                        100,
                        user,
                    )
        return version

    def status(self) -> dict[str, Any]:
        """The dashboard's own state: its result cache and background warm-up."""
        return {
            "cache": self.cache.stats(),
            "warm_rounds": self.warmer.rounds if self.warmer is not None else None,
        }

    def start_warming(self, interval: float = 5.0) -> Warmer:
        """Keep the usual pages computed in a background thread (checked every `interval` seconds).

        A check only reads the data version (docs/decisions.md, "Dashboard"), so it can be frequent: the
        pages are recomputed within seconds of a sync in another process, before most visitors ask
        for them."""
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
        base = {
            "version": __version__,
            "timezone": self.timezone,
            "today": self.today(),
            "nav": name,
            **self.household(request),
        }
        values = {**base, **context}
        response = self.templates.TemplateResponse(request, name, values, status_code=status_code)
        # Which page cache the service worker may keep this page in (brapped.web.pwa).
        response.headers["X-Brapped-Session"] = session_key(
            str(self.settings.values.get("dashboard_token") or "") or None
        )
        return response

    def household(self, request: Request) -> dict[str, Any]:
        """The user picker's state: every listener, and the one `?user=` chose (None: everyone)."""
        user = request.query_params.get("user") or None
        try:
            with self.store.connect() as conn:
                listeners = self.report(conn, reports.household)
        except Exception:  # an error page must render even when the database cannot answer
            listeners = []
        return {"user": user, "users": listeners, "user_query": urlencode({"user": user}) if user else ""}


def from_request(request: Request) -> Dashboard:
    """The Dashboard `brapped.web.app.create_app` put in the app's state."""
    board: Dashboard = request.app.state.dashboard
    return board


# A route parameter annotated `Board` receives the Dashboard.
Board = Annotated[Dashboard, Depends(from_request)]
