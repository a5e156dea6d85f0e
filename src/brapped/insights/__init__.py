"""Insights: the SQL behind every report, shared by the CLI and the dashboard.

Every function takes an open SQLAlchemy `Connection` and returns plain JSON-ready dicts/lists
(dates as ISO text, instants as aware datetimes); keys are documented in docs/reports.md.

- `Period(start, end, timezone)`: local days start..end inclusive in an IANA zone; `.start_utc`,
  `.end_utc` (exclusive) are DST-correct. `Period.day(d, tz)`, `Period.year(y, tz, window=
  "calendar"|"spotify")`, `Period.parse("2024" | "2024-03" | "2024-03-31" | "A..B", tz)`.
- `Scope.of(period | None, user_id=None, stream_threshold_ms=30000)`: whose plays, which instants.
- `day_report(conn, day, timezone, *, user_id=None, stream_threshold_ms=30000, limit=5)`.
- `wrapped(conn, period, *, user_id=None, stream_threshold_ms=30000, session_gap_minutes=30, limit=100)`.
- `kept_wrapped(conn, period, ...)`: the same, kept in the database for closed periods
  (brapped.insights.report_cache).
- `top(conn, kind, scope, *, by="plays"|"streams"|"minutes", limit=10)` with kind in
  "artists" | "tracks" | "albums" | "genres"; also `top_artists`, `top_tracks`, `top_albums`, `top_genres`.
- `search(conn, query, *, user_id=None, limit=10)`: tracks, artists, albums you played (needs a
  connection that may write: it refreshes the `search_names` table; use `store.begin()`).
- `artist_story(conn, name_or_id, timezone, *, user_id=None, stream_threshold_ms=30000, limit=10)`,
  `track_story(conn, name_or_id, timezone, *, user_id=None, stream_threshold_ms=30000)`
  (also write: they may refresh `search_names` to match a name).
Errors: `PeriodError` (bad zone/period), `ReportError` (unknown kind/ordering), `NotFound`
(search/story found nothing), all `BrappedError`s.
"""

from __future__ import annotations

from brapped.insights.daily import average_day, day_report
from brapped.insights.period import LocalTime, Period, PeriodError
from brapped.insights.scope import Scope
from brapped.insights.search import NotFound, fold, refresh_search_names, resolve, search
from brapped.insights.stories import artist_story, track_story
from brapped.insights.top import KINDS, ReportError, top, top_albums, top_artists, top_genres, top_tracks
from brapped.insights.totals import spoken_word, totals
from brapped.insights.wrapped import kept_wrapped, wrapped

__all__ = [
    "KINDS",
    "LocalTime",
    "NotFound",
    "Period",
    "PeriodError",
    "ReportError",
    "Scope",
    "artist_story",
    "average_day",
    "day_report",
    "fold",
    "kept_wrapped",
    "refresh_search_names",
    "resolve",
    "search",
    "spoken_word",
    "top",
    "top_albums",
    "top_artists",
    "top_genres",
    "top_tracks",
    "totals",
    "track_story",
    "wrapped",
]
