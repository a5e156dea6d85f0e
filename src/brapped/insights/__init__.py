"""Insights: the SQL behind every report, shared by the CLI and the dashboard.

Every function takes an open SQLAlchemy `Connection` and returns plain JSON-ready dicts/lists
(dates as ISO text, instants as aware datetimes); keys are documented in docs/reports.md.
cli/, web/ and pipeline/ import only what `__all__` lists (tests/insights/test_public_api.py).

The modules, each importing only those before it (docs/decisions.md, "Insights"):
`period` and `scope` (local time, whose plays), `aggregates` (sums several reports share),
`rollups` (those sums stored for older plays), `report_cache` (results of closed periods kept),
then the reports: `totals`, `top`, `search`, `stories`, `daily`, `overview`, `race` (Wrapped's
artist race), `highlights` (Wrapped's obsession, rediscovery, forgotten favourite, new albums,
listening age), `wrapped`, and for a household `compare`, `party_sums` (every member's party numbers
from one grouped read, by Wrapped's definitions) and `party`.

Reports:
- `Period(start, end, timezone)`: local days start..end inclusive in an IANA zone; `.start_utc`,
  `.end_utc` (exclusive) are DST-correct. `Period.day(d, tz)`, `Period.year(y, tz, window=
  "calendar"|"spotify")`, `Period.parse("2024" | "2024-03" | "2024-03-31" | "A..B", tz)`;
  `bound_day("2024-03", last=False|True)`: the first/last day a `--from`/`--to` (or `from`/`to`) means.
- `Scope.of(period | None, user_id=None, stream_threshold_ms=30000)`: whose plays, which instants.
- `day_report(conn, day, timezone, *, user_id=None, stream_threshold_ms=30000, limit=5)`;
  `today(now, timezone)`: the local date to ask it for.
- `wrapped(conn, period, *, user_id=None, stream_threshold_ms=30000, session_gap_minutes=30, limit=100)`.
- `kept_wrapped(conn, period, ...)`: the same, kept in the database for closed periods.
- `overview(conn, period, *, user_id=None, stream_threshold_ms=30000, limit=10)`: the dashboard's
  first page: totals and top lists, milliseconds per local day, the listening clock.
- `top(conn, kind, scope, *, by="plays"|"streams"|"minutes"|"credit", limit=10)` with kind in
  "artists" | "tracks" | "albums" | "genres" | "countries" (`KINDS`, types `Kind` and `By`); also
  `top_artists`, `top_tracks`, `top_albums`, `top_genres`, `top_countries`; `genre_coverage` (the
  share of plays with a known genre).
- `search(conn, query, *, user_id=None, limit=10)`: tracks, artists, albums you played (needs a
  connection that may write: it refreshes the `search_names` table; use `store.begin()`).
- `artist_story(conn, name_or_id, timezone, *, user_id=None, stream_threshold_ms=30000, limit=10)`,
  `track_story(conn, name_or_id, timezone, *, user_id=None, stream_threshold_ms=30000)`
  (also write: they may refresh `search_names` to match a name).
- `compare(conn, user_a, user_b, period=None, *, limit=10)`: compatibility score, shared and
  one-sided artists and tracks, who discovered shared artists first; `compatibility(plays_a, plays_b)`
  is the score alone (plays per artist in, 0-100 out); `listeners(conn)`: every user id with plays
  or an account (`id`, `display_name`, `account`).
- `party(conn, period, *, user_ids=None, stream_threshold_ms=30000, session_gap_minutes=30)`: awards
  (`AWARD_IDS`) for up to `MAX_PARTY` members and the group label.
- `totals`, `spoken_word`, `average_day`, `first_play_at`: parts of the reports above.

Building blocks for a page of its own (the dashboard's album page): `per_track_of` (per-track sums
of a scope), `track_query`, `track_rows`, `album_credits`, `minutes`, `date_to_day`, `day_to_date`.

Upkeep: `try_refresh(store, timezone, stream_threshold_ms, now)` rebuilds the stored sums when they
are missing or stale; `describe(conn)` says what they and the kept results hold (for status pages);
`refresh_search_names`, `fold`, `resolve`: the search index.

Errors: `PeriodError` (bad zone/period), `ReportError` (unknown kind/ordering), `NotFound`
(search/story found nothing), `CompareError` (unknown or repeated listener, too many for a party),
all `BrappedError`s.
"""

from __future__ import annotations

from brapped.insights.aggregates import album_credits
from brapped.insights.compare import CompareError, compare, listeners, require_listener
from brapped.insights.compare import score as compatibility
from brapped.insights.daily import average_day, day_report, today
from brapped.insights.overview import overview
from brapped.insights.party import AWARD_IDS, party
from brapped.insights.party import MAX_MEMBERS as MAX_PARTY
from brapped.insights.period import (
    FIRST_DAY,
    FIRST_YEAR,
    LAST_DAY,
    LAST_YEAR,
    PRESETS,
    LocalTime,
    Period,
    PeriodError,
    bound_day,
    date_to_day,
    day_to_date,
    preset_days,
    reportable_day,
    reportable_year,
)
from brapped.insights.report_cache import describe
from brapped.insights.rollups import per_track_of, try_refresh
from brapped.insights.scope import Scope, minutes
from brapped.insights.search import NotFound, fold, refresh_search_names, resolve, search
from brapped.insights.stories import artist_story, track_story
from brapped.insights.top import (
    KINDS,
    By,
    Kind,
    ReportError,
    genre_coverage,
    top,
    top_albums,
    top_artists,
    top_countries,
    top_genres,
    top_tracks,
    track_query,
    track_rows,
)
from brapped.insights.totals import first_play_at, spoken_word, totals
from brapped.insights.wrapped import kept_wrapped, wrapped

__all__ = [
    "AWARD_IDS",
    "FIRST_DAY",
    "FIRST_YEAR",
    "KINDS",
    "LAST_DAY",
    "LAST_YEAR",
    "MAX_PARTY",
    "PRESETS",
    "By",
    "CompareError",
    "Kind",
    "LocalTime",
    "NotFound",
    "Period",
    "PeriodError",
    "ReportError",
    "Scope",
    "album_credits",
    "artist_story",
    "average_day",
    "bound_day",
    "compare",
    "compatibility",
    "date_to_day",
    "day_report",
    "day_to_date",
    "describe",
    "first_play_at",
    "fold",
    "genre_coverage",
    "kept_wrapped",
    "listeners",
    "minutes",
    "overview",
    "party",
    "per_track_of",
    "preset_days",
    "refresh_search_names",
    "reportable_day",
    "reportable_year",
    "require_listener",
    "resolve",
    "search",
    "spoken_word",
    "today",
    "top",
    "top_albums",
    "top_artists",
    "top_countries",
    "top_genres",
    "top_tracks",
    "totals",
    "track_query",
    "track_rows",
    "track_story",
    "try_refresh",
    "wrapped",
]
