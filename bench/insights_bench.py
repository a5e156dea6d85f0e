"""Report latency on a heavy listener's history, on SQLite and PostgreSQL, against pandas.

A synthetic database from `bench.generate` (1,000,000 plays over ~17 years, ~50,000 tracks, ~8,000
artists) on each database. Measured, median of several runs in one process:

- `report wrapped` for the last full year (`brapped.insights.wrapped`, every number of the report),
  from scratch: the kept results of closed periods (`brapped.insights.report_cache`; here the year
  before's totals) are deleted before each run;
- `report today` for the last day with plays (`brapped.insights.day_report`);
- `search` for an artist-name fragment (`brapped.insights.search`);
- `report top artists` for the same year, top 100 (`brapped.insights.top_artists`);
- `report top artists` over all time, top 100, with the report summaries built as `brapped import`,
  `brapped run` and the dashboard keep them (`brapped.insights.rollups`: sums of the plays older
  than a week, plus the plays since); pandas reads every play.

The baseline computes the same numbers with pandas from the same database in the same run: it reads
the rows it needs (the period's plays, the dimension tables, every play's track and time for
"first play ever") with `pandas.read_sql` and does the rest in DataFrames. Before timing, the bench
checks that pandas and brapped agree (plays, minutes, top artists and tracks, the hour profile,
search hits), so both compute the same thing. Ratio = pandas time / brapped time.

PostgreSQL gets a `VACUUM (ANALYZE)` after the bulk load: what autovacuum does shortly after an
import (since PostgreSQL 13 inserts alone trigger it); the vacuum sets the visibility map, without
which index-only scans (search counts plays from the (track_id, played_at) index) visit every row.
SQLite is measured as brapped leaves it (no `ANALYZE`). The machine is shared: the load average at the
start is in the header, and timings on an idle machine are lower.
"""

from __future__ import annotations

import shutil
import tempfile
import unicodedata
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report import Result, Unavailable, faster_ratio, measure, postgres_database

TITLE = "Insights"
NOTES = __doc__.split("\n", 2)[2].strip()

TZ = "Europe/Berlin"
YEAR = 2025  # the generator's history ends on 2026-01-01: 2025 is its last full year
DAY = date(2025, 12, 31)
QUERY = "lindqvist"  # a surname the generator gives to some artists; also appears in no title
THRESHOLD = 30_000
GAP_S = 30 * 60
TARGETS = {"wrapped": 1.0, "today": 0.2, "search": 0.1}  # seconds, from the issue


def run(quick: bool) -> list[Result]:
    plays = 20_000 if quick else 1_000_000
    repeat = 1 if quick else 5
    results: list[Result] = []
    folder = Path(tempfile.mkdtemp(prefix="brapped-bench-insights-"))
    try:
        results += _bench(f"sqlite:///{folder / 'bench.db'}", "SQLite", plays, repeat)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    try:
        with postgres_database("brapped_bench_insights") as url:
            results += _bench(url, "PostgreSQL", plays, repeat)
    except Unavailable as exc:
        results.append(Result("PostgreSQL", 0.0, "s", notes=f"skipped: {exc}"))
    return results


def _bench(url: str, label: str, plays: int, repeat: int) -> list[Result]:
    from sqlalchemy import delete

    from bench.generate import generate_database
    from brapped.insights import Period, Scope, day_report, search, top_artists, wrapped
    from brapped.store import open_store
    from brapped.store.tables import kept_reports

    summary = generate_database(url, plays=plays)
    assert summary.plays == plays
    store = open_store(url)
    if store.dialect == "postgresql":
        # What autovacuum does minutes after a big import: without statistics the planner guesses,
        # without the visibility map index-only scans read the table.
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")
    period = Period.year(YEAR, TZ)
    from brapped.insights.rollups import refresh_store

    refresh_store(store, TZ, THRESHOLD, datetime.now().astimezone())
    try:
        with store.connect() as conn:
            mine = wrapped(conn, period)
            day = day_report(conn, DAY, TZ)
        with store.begin() as conn:
            found = search(conn, QUERY)  # also folds every name once (first search of a database)
        with store.connect() as conn:
            theirs = _pandas_wrapped(conn, period)
            their_day = _pandas_day(conn, DAY)
            their_search = _pandas_search(conn, QUERY)
        _agree(mine, theirs, day, their_day, found, their_search)
        with store.connect() as conn:
            my_top = top_artists(conn, Scope.of(period), limit=100)
            their_top = _pandas_top(conn, period)
        if [(a["id"], a["plays"]) for a in my_top] != [
            (r.artist_id, int(r.plays)) for r in their_top.itertuples()
        ]:
            raise AssertionError("brapped and pandas disagree on the top 100 artists")
        with store.connect() as conn:
            my_all = top_artists(conn, Scope(), limit=100)
            their_all = _pandas_top_all(conn)
        if [(a["id"], a["plays"]) for a in my_all] != [
            (r.artist_id, int(r.plays)) for r in their_all.itertuples()
        ]:
            raise AssertionError("brapped and pandas disagree on the all-time top 100 artists")

        def run_wrapped() -> None:
            # From scratch: no kept results (the previous year's totals would be read back), the
            # delete counted in the time.
            with store.begin() as conn:
                conn.execute(delete(kept_reports))
            with store.connect() as conn:
                wrapped(conn, period)

        def run_today() -> None:
            with store.connect() as conn:
                day_report(conn, DAY, TZ)

        def run_search() -> None:
            with store.begin() as conn:
                search(conn, QUERY)

        def run_top() -> None:
            with store.connect() as conn:
                top_artists(conn, Scope.of(period), limit=100)

        def run_top_all() -> None:
            with store.connect() as conn:
                top_artists(conn, Scope(), limit=100)

        def pandas_top_all() -> None:
            with store.connect() as conn:
                _pandas_top_all(conn)

        def pandas_top() -> None:
            with store.connect() as conn:
                _pandas_top(conn, period)

        def pandas_wrapped() -> None:
            with store.connect() as conn:
                _pandas_wrapped(conn, period)

        def pandas_today() -> None:
            with store.connect() as conn:
                _pandas_day(conn, DAY)

        def pandas_search() -> None:
            with store.connect() as conn:
                _pandas_search(conn, QUERY)

        results = []
        for name, action, baseline, what in (
            ("wrapped", run_wrapped, pandas_wrapped, f"Wrapped {YEAR}, {mine['plays']:,} plays"),
            ("today", run_today, pandas_today, f"day report {DAY}, {day['plays']} plays"),
            ("search", run_search, pandas_search, f"search {QUERY!r}"),
            ("top", run_top, pandas_top, f"top 100 artists of {YEAR}"),
            ("top all time", run_top_all, pandas_top_all, "top 100 artists of all time, summaries built"),
        ):
            value, samples = measure(action, repeat)
            base, _ = measure(baseline, max(1, repeat // 2))
            target = TARGETS.get(name)
            verdict = (
                f"target < {target} s: " + ("met" if value < target else "NOT met")
                if target is not None
                else "no latency target in the issue (ratio only)"
            )
            results.append(
                Result(
                    f"{label}: {name}",
                    round(value, 3),
                    "s",
                    baseline=round(base, 3),
                    ratio=round(faster_ratio(value, base), 1),
                    notes=f"{what} ({plays:,}-play database); {verdict}",
                    samples=[round(s, 3) for s in samples],
                )
            )
        return results
    finally:
        store.close()


# -- pandas: the same numbers, computed in DataFrames --------------------------------------------


def _read(conn: Any, query: Any) -> Any:
    import pandas as pd

    return pd.read_sql(query, conn)


def _utc(series: Any) -> Any:
    import pandas as pd

    return pd.to_datetime(series, utc=True, format="ISO8601")


def _dimensions(conn: Any) -> dict[str, Any]:
    from sqlalchemy import select

    from brapped.store.tables import album_artists, albums, artist_genres, artists, track_artists, tracks

    return {
        "tracks": _read(conn, select(tracks.c.id, tracks.c.name, tracks.c.album_id)),
        "credits": _read(
            conn, select(track_artists.c.track_id, track_artists.c.position, track_artists.c.artist_id)
        ),
        "artists": _read(conn, select(artists.c.id, artists.c.name)),
        "albums": _read(conn, select(albums.c.id, albums.c.name, albums.c.release_date)),
        "album_artists": _read(conn, select(album_artists.c.album_id, album_artists.c.artist_id)),
        "genres": _read(conn, select(artist_genres.c.artist_id, artist_genres.c.genre)),
    }


def _plays(conn: Any, start: datetime, end: datetime) -> Any:
    from sqlalchemy import select

    from brapped.store.tables import plays

    frame = _read(
        conn,
        select(
            plays.c.user_id,
            plays.c.played_at,
            plays.c.track_id,
            plays.c.ms_played,
            plays.c.ms_played_source,
            plays.c.skipped,
        ).where(plays.c.played_at >= start, plays.c.played_at < end),
    )
    frame["played_at"] = _utc(frame["played_at"])
    frame["ms"] = frame["ms_played"].fillna(0).astype("int64")
    frame["local"] = frame["played_at"].dt.tz_convert(TZ)
    return frame


def _first_plays(conn: Any) -> Any:
    from sqlalchemy import select

    from brapped.store.tables import plays

    frame = _read(conn, select(plays.c.track_id, plays.c.played_at))
    frame["played_at"] = _utc(frame["played_at"])
    return frame.groupby("track_id")["played_at"].min()


def _top_artists(p: Any, dims: dict[str, Any], limit: int, by: str = "plays") -> Any:
    """By plays, or by = "credit": Wrapped's rule (streams, main artist 1, featured 0.5)."""
    credited = p.merge(dims["credits"], on="track_id").merge(
        dims["artists"], left_on="artist_id", right_on="id"
    )
    credited = credited[
        (credited["artist_id"] != "0LyfQWJT6nXafLPZqxe9Of")
        & (credited["name"].str.lower() != "various artists")
    ]
    credited["main"] = (credited["position"] == 0).astype("int64")
    credited["main_ms"] = credited["ms"] * credited["main"]
    credited["streamed"] = (credited["ms"] >= THRESHOLD).astype("int64")
    credited["weight"] = credited["streamed"] * credited["main"].map({1: 1.0, 0: 0.5})
    grouped = credited.groupby(["artist_id", "name"]).agg(
        plays=("ms", "size"),
        ms=("ms", "sum"),
        main_plays=("main", "sum"),
        main_ms=("main_ms", "sum"),
        streams=("streamed", "sum"),
        credit=("weight", "sum"),
    )
    grouped["featured_plays"] = grouped["plays"] - grouped["main_plays"]
    keys = ["credit", "streams"] if by == "credit" else []
    grouped = grouped.reset_index().sort_values(
        [*keys, "plays", "ms", "name", "artist_id"],
        ascending=[*(False for _ in keys), False, False, True, True],
    )
    return grouped.head(limit)


def _top_tracks(p: Any, dims: dict[str, Any], limit: int, by: str = "plays") -> Any:
    """By plays, or by = "streams" (Wrapped's rule: plays of 30 s or more)."""
    p = p.assign(streamed=(p["ms"] >= THRESHOLD).astype("int64"))
    grouped = (
        p.groupby("track_id")
        .agg(plays=("ms", "size"), ms=("ms", "sum"), streams=("streamed", "sum"))
        .reset_index()
    )
    grouped = grouped.merge(dims["tracks"], left_on="track_id", right_on="id")
    keys = ["streams"] if by == "streams" else []
    return grouped.sort_values(
        [*keys, "plays", "ms", "name", "track_id"],
        ascending=[*(False for _ in keys), False, False, True, True],
    ).head(limit)


def _pandas_wrapped(conn: Any, period: Any) -> dict[str, Any]:
    import pandas as pd

    dims = _dimensions(conn)
    p = _plays(conn, period.start_utc, period.end_utc)
    previous = period.previous()
    prev = _plays(conn, previous.start_utc, previous.end_utc)
    first = _first_plays(conn)
    p["stream"] = p["ms_played"].fillna(0) >= THRESHOLD
    joined = p.merge(dims["tracks"], left_on="track_id", right_on="id")
    result: dict[str, Any] = {
        "plays": len(p),
        "ms_played": int(p["ms"].sum()),
        "streams": int(p["stream"].sum()),
        "distinct_tracks": p["track_id"].nunique(),
        "distinct_albums": joined["album_id"].nunique(),
        "estimated_ms": int(p.loc[p["ms_played_source"] == "estimate", "ms"].sum()),
        "previous_plays": len(prev),
        "previous_distinct_tracks": prev["track_id"].nunique(),
    }
    artists_all = _top_artists(p, dims, 10**9, by="credit")
    result["distinct_artists"] = len(artists_all)
    result["top_artists"] = artists_all.head(100)
    result["top_tracks"] = _top_tracks(p, dims, 100, by="streams")
    albums = joined.groupby("album_id").agg(plays=("ms", "size"), ms=("ms", "sum")).reset_index()
    albums = albums.merge(dims["albums"], left_on="album_id", right_on="id")
    result["top_albums"] = albums.sort_values(["plays", "ms", "name"], ascending=[False, False, True]).head(
        100
    )
    mains = p.merge(dims["credits"][dims["credits"]["position"] == 0], on="track_id")
    genres = mains.merge(dims["genres"], on="artist_id").groupby("genre")["ms"].agg(["size", "sum"])
    result["top_genres"] = genres.sort_values(["size", "sum"], ascending=False).head(100)
    local = p["local"]
    p["day"] = local.dt.date
    p["hour"] = local.dt.hour
    p["weekday"] = local.dt.day_of_week
    result["clock"] = p.groupby(["weekday", "hour"])["ms"].sum()
    per_day = p.groupby("day")["ms"].sum()
    result["busiest_day"] = per_day.idxmax() if len(per_day) else None
    days = sorted(set(p.loc[p["stream"], "day"]))
    best = run = 0
    for i, d in enumerate(days):
        run = run + 1 if i and d == days[i - 1] + timedelta(days=1) else 1
        best = max(best, run)
    result["longest_streak"] = best
    p["month"] = local.dt.strftime("%Y-%m")
    monthly = p.merge(dims["credits"], on="track_id").groupby(["month", "artist_id"]).size()
    result["top_artist_by_month"] = monthly.groupby(level=0).idxmax()
    result["most_repeated"] = p.groupby(["day", "track_id"]).size().idxmax() if len(p) else None
    ordered = p.sort_values(["user_id", "played_at"], kind="stable")
    end_s = (ordered["played_at"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    start_s = end_s - ordered["ms"] / 1000
    prev_end = end_s.groupby(ordered["user_id"]).shift()
    new = prev_end.isna() | ((start_s - prev_end) >= GAP_S)
    session = new.cumsum()
    spans = end_s.groupby(session).max() - start_s.groupby(session).min()
    result["longest_session_minutes"] = round(float(spans.max()) / 60, 2) if len(spans) else None
    result["busiest_day_minutes"] = round(int(per_day.max()) / 60_000, 2) if len(per_day) else None
    credited_first = dims["credits"].merge(first.rename("first").reset_index(), on="track_id")
    artist_first = credited_first.groupby("artist_id")["first"].min()
    new_artists = artist_first[(artist_first >= period.start_utc) & (artist_first < period.end_utc)]
    result["new_artists"] = len(set(new_artists.index) & set(artists_all["artist_id"]))
    years = joined.merge(dims["albums"], left_on="album_id", right_on="id", suffixes=("", "_album"))
    release = pd.to_numeric(years["release_date"].str[:4], errors="coerce").dropna()
    result["median_release_year"] = float(release.median()) if len(release) else None
    known = p["skipped"].dropna()
    result["skip_rate"] = float(known.astype(bool).mean()) if len(known) else None
    return result


def _pandas_top_all(conn: Any) -> Any:
    """`report top artists` over all time, in DataFrames (every play read)."""
    return _top_artists(
        _plays(conn, datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)),
        _dimensions(conn),
        100,
    )


def _pandas_top(conn: Any, period: Any) -> Any:
    """`report top artists` for the period, in DataFrames."""
    return _top_artists(_plays(conn, period.start_utc, period.end_utc), _dimensions(conn), 100)


def _pandas_day(conn: Any, day: date) -> dict[str, Any]:
    from brapped.insights import Period

    period = Period.day(day, TZ)
    dims = _dimensions(conn)
    p = _plays(conn, period.start_utc, period.end_utc)
    window = Period(day - timedelta(days=365), day - timedelta(days=1), TZ)
    before = _plays(conn, window.start_utc, window.end_utc)
    first = _first_plays(conn)
    hours = [0] * 24
    for hour, ms in p.groupby(p["local"].dt.hour)["ms"].sum().items():
        hours[int(hour)] = int(ms)
    new_tracks = [t for t in p["track_id"].unique() if first[t] >= period.start_utc]
    return {
        "plays": len(p),
        "ms_played": int(p["ms"].sum()),
        "streams": int((p["ms_played"].fillna(0) >= THRESHOLD).sum()),
        "hours_ms": hours,
        "top_artists": _top_artists(p, dims, 5),
        "top_tracks": _top_tracks(p, dims, 5),
        "new_tracks": len(new_tracks),
        "average_ms": before["ms"].sum() / 365,
    }


def _fold(series: Any) -> Any:
    def one(text: str) -> str:
        decomposed = unicodedata.normalize("NFKD", text.casefold())
        return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())

    return series.map(one)


def _pandas_search(conn: Any, query: str) -> dict[str, Any]:
    from sqlalchemy import select

    from brapped.store.tables import plays

    dims = _dimensions(conn)
    counts = _read(conn, select(plays.c.track_id)).value_counts("track_id").rename("plays").reset_index()
    needle = _fold(__import__("pandas").Series([query]))[0]
    tracks = dims["tracks"][_fold(dims["tracks"]["name"]).str.contains(needle, regex=False)]
    artists = dims["artists"][_fold(dims["artists"]["name"]).str.contains(needle, regex=False)]
    artist_plays = (
        dims["credits"][dims["credits"]["artist_id"].isin(artists["id"])]
        .merge(counts, on="track_id")
        .groupby("artist_id")["plays"]
        .sum()
        .sort_values(ascending=False)
    )
    track_plays = counts[counts["track_id"].isin(tracks["id"])].sort_values("plays", ascending=False)
    return {"tracks": set(track_plays["track_id"]), "artists": set(artist_plays.index)}


def _agree(
    mine: dict[str, Any],
    theirs: dict[str, Any],
    day: dict[str, Any],
    their_day: dict[str, Any],
    found: dict[str, Any],
    their_search: dict[str, Any],
) -> None:
    """Fail loudly when the baseline does not compute what brapped computes."""
    checks = {
        "plays": (mine["plays"], theirs["plays"]),
        "ms": (mine["ms_played"], theirs["ms_played"]),
        "streams": (mine["streams"], theirs["streams"]),
        "distinct tracks": (mine["distinct_tracks"], theirs["distinct_tracks"]),
        "distinct albums": (mine["distinct_albums"], theirs["distinct_albums"]),
        "distinct artists": (mine["distinct_artists"], theirs["distinct_artists"]),
        "top artists": (
            [(a["id"], a["plays"], a["main_plays"]) for a in mine["top_artists"][:20]],
            [
                (r.artist_id, int(r.plays), int(r.main_plays))
                for r in theirs["top_artists"].head(20).itertuples()
            ],
        ),
        "top tracks": (
            [(t["id"], t["plays"]) for t in mine["top_tracks"][:20]],
            [(r.track_id, int(r.plays)) for r in theirs["top_tracks"].head(20).itertuples()],
        ),
        "longest streak": ((mine["longest_streak"] or {}).get("days", 0), theirs["longest_streak"]),
        "new artists": (mine["discoveries"]["new_artists"], theirs["new_artists"]),
        "longest session": (
            (mine["longest_session"] or {}).get("minutes"),
            theirs["longest_session_minutes"],
        ),
        "busiest day": (
            ((mine["busiest_day"] or {}).get("date"), (mine["busiest_day"] or {}).get("minutes")),
            (str(theirs["busiest_day"]), theirs["busiest_day_minutes"]),
        ),
        "most repeated": (
            (
                (mine["most_repeated_track_in_a_day"] or {}).get("date"),
                ((mine["most_repeated_track_in_a_day"] or {}).get("track") or {}).get("id"),
            ),
            (str(theirs["most_repeated"][0]), theirs["most_repeated"][1])
            if theirs["most_repeated"]
            else (None, None),
        ),
        "median release year": (mine["listening_age"]["median_release_year"], theirs["median_release_year"]),
        "previous plays": (mine["previous_period"]["plays"], theirs["previous_plays"]),
        "day plays": (day["plays"], their_day["plays"]),
        "day hours": (day["hours"], [round(ms / 60_000, 2) for ms in their_day["hours_ms"]]),
        "day top tracks": (
            [t["id"] for t in day["top_tracks"]],
            list(their_day["top_tracks"]["track_id"]),
        ),
        "day new tracks": (day["discoveries"]["new_tracks"], their_day["new_tracks"]),
        "search artists": (
            (len(found["artists"]), {a["id"] for a in found["artists"]} <= their_search["artists"]),
            (min(10, len(their_search["artists"])), True),
        ),
        "search tracks": (
            (len(found["tracks"]), {t["id"] for t in found["tracks"]} <= their_search["tracks"]),
            (min(10, len(their_search["tracks"])), True),
        ),
    }
    wrong = {name: pair for name, pair in checks.items() if pair[0] != pair[1]}
    if wrong:
        raise AssertionError(f"pandas and brapped disagree on {sorted(wrong)}: {wrong}")
