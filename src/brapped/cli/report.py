"""`brapped report today|day|wrapped|top`: the daily report, Wrapped for any period, top lists."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click

from brapped.cli.context import AppContext, emit_json, emit_rows, format_option, local_minute, pass_app
from brapped.insights import (
    KINDS,
    MAX_PARTY,
    PRESETS,
    Period,
    PeriodError,
    Scope,
    bound_day,
    day_report,
    genre_coverage,
    kept_wrapped,
    party,
    preset_days,
    reportable_day,
    reportable_year,
    require_listener,
    top,
)
from brapped.insights import today as local_today

F = TypeVar("F", bound=Callable[..., Any])
TABLE_TOP = 5  # rows of each top list shown as a table (JSON and CSV carry every row)


def user_option(func: F) -> F:
    """`--user ID`: one account's plays when several share the database."""
    return click.option(
        "--user", "user_id", metavar="ID", help="Only this Spotify account's plays (default: every account)."
    )(func)


def flatten(data: Any, prefix: str = "") -> list[dict[str, Any]]:
    """A nested report as key/value rows ("top_tracks.1.name"), the CSV form of one report."""
    rows: list[dict[str, Any]] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            rows.extend(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(data, list) and any(isinstance(v, (Mapping, list)) for v in data):
        for index, value in enumerate(data, 1):
            rows.extend(flatten(value, f"{prefix}.{index}"))
    elif isinstance(data, list):
        rows.append({"key": prefix, "value": " ".join(str(v) for v in data)})
    else:
        rows.append({"key": prefix, "value": data})
    return rows


def _artists_text(credits: list[dict[str, Any]], title: str = "") -> str:
    """The artists, featured ones after "feat."; those the track's `title` names already left out
    there (Spotify's titles often say "(feat. ...)")."""
    main = [a["name"] for a in credits if a.get("role", "main") == "main"]
    featured = [a["name"] for a in credits if a.get("role") == "featured" and a["name"] not in title]
    return ", ".join(main) + (f" (feat. {', '.join(featured)})" if featured else "")


def _minutes(value: float) -> str:
    return f"{value:,.1f} min"


def _streams(row: dict[str, Any], by: str) -> dict[str, Any]:
    # A list ranked by streams shows them: its plays alone can look out of order.
    return {"streams": row["streams"]} if by == "streams" else {}


def _track_table(rows: list[dict[str, Any]], by: str = "plays") -> list[dict[str, Any]]:
    return [
        {
            "rank": t["rank"],
            "track": t["name"],
            "artists": _artists_text(t["artists"]),
            "plays": t["plays"],
            **_streams(t, by),
            "minutes": t["minutes"],
        }
        for t in rows
    ]


def _artist_table(rows: list[dict[str, Any]], by: str = "plays") -> list[dict[str, Any]]:
    return [
        {
            "rank": a["rank"],
            "artist": a["name"],
            "plays": a["plays"],
            "as_main": a["main_plays"],
            "as_featured": a["featured_plays"],
            **_streams(a, by),
            "minutes": a["minutes"],
            # A number, shown as every figure is (1,234.5): `:g` went to 1.23457e+06 past a million.
            **({"credit": float(a["credit"])} if "credit" in a else {}),
        }
        for a in rows
    ]


def _album_table(rows: list[dict[str, Any]], by: str = "plays") -> list[dict[str, Any]]:
    return [
        {
            "rank": a["rank"],
            "album": a["name"],
            "artists": _artists_text(a["artists"]),
            "plays": a["plays"],
            **_streams(a, by),
            "minutes": a["minutes"],
        }
        for a in rows
    ]


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:+.0f}%"


def _emit_day(app: AppContext, fmt: str, report: dict[str, Any]) -> None:
    if fmt == "json":
        emit_json(app, report)
        return
    if fmt == "csv":
        emit_rows(app, fmt, flatten(report), ["key", "value"])
        return
    average = report["average_day"]
    summary = [
        {
            "": "minutes listened",
            "value": report["minutes_listened"],
            "vs average day": _pct(report["vs_average"]["minutes_listened"]),
        },
        {"": "plays", "value": report["plays"], "vs average day": _pct(report["vs_average"]["plays"])},
        {"": "streams (>= threshold)", "value": report["streams"], "vs average day": ""},
        {"": "distinct tracks", "value": report["distinct_tracks"], "vs average day": ""},
        {"": "distinct artists", "value": report["distinct_artists"], "vs average day": ""},
        {"": "new tracks", "value": report["discoveries"]["new_tracks"], "vs average day": ""},
        {"": "new artists", "value": report["discoveries"]["new_artists"], "vs average day": ""},
        {
            "": "estimated share of time",
            "value": _pct_plain(report["time_sources"]["estimated_share"]),
            "vs average day": "",
        },
    ]
    title = f"{report['date']} ({report['timezone']}, {report['hours_in_day']} h)"
    if average["days"]:
        title += f"; average day over {average['days']} days: {average['minutes_listened']} min"
    emit_rows(app, fmt, summary, title=title)
    if report["top_tracks"]:
        emit_rows(app, fmt, _track_table(report["top_tracks"]), title="Top tracks")
    if report["top_artists"]:
        emit_rows(app, fmt, _artist_table(report["top_artists"]), title="Top artists")
    if report["plays"]:
        peak = max(report["hours"]) or 1.0
        hours = [
            {"hour": f"{h:02d}", "minutes": m, "": "█" * round(30 * m / peak)}
            for h, m in enumerate(report["hours"])
        ]
        emit_rows(app, fmt, hours, title="Minutes per local hour")


def _pct_plain(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


@click.group("report")
def report() -> None:
    """Reports in your timezone: a day, Wrapped for any period, top lists."""


@report.command("today")
@user_option
@format_option
@pass_app
def today_cmd(app: AppContext, user_id: str | None, fmt: str) -> None:
    """Today's listening so far, in your timezone, compared with your average day."""
    tz = app.settings.tz
    day = local_today(app.clock.now(), tz)
    with app.store().connect() as conn:
        require_listener(conn, user_id)
        data = day_report(
            conn, day, tz, user_id=user_id, stream_threshold_ms=app.settings.stream_threshold_ms
        )
    _emit_day(app, fmt, data)


@report.command("day")
@click.argument("day", metavar="YYYY-MM-DD")
@user_option
@format_option
@pass_app
def day_cmd(app: AppContext, day: str, user_id: str | None, fmt: str) -> None:
    """One local day: minutes, streams, discoveries, top 5, minutes per hour, vs your average day."""
    try:
        parsed = date.fromisoformat(day)
    except ValueError as exc:
        raise click.BadParameter(f"{day!r} is not a date like 2024-10-27", param_hint="DAY") from exc
    reportable_day(parsed)
    with app.store().connect() as conn:
        require_listener(conn, user_id)
        data = day_report(
            conn,
            parsed,
            app.settings.tz,
            user_id=user_id,
            stream_threshold_ms=app.settings.stream_threshold_ms,
        )
    _emit_day(app, fmt, data)


FROM_HELP = "First local day: YYYY-MM-DD, or YYYY-MM / YYYY for its first day."
TO_HELP = "Last local day, inclusive: YYYY-MM-DD, or YYYY-MM / YYYY for its last day (default: today)."
PERIOD_HELP = "today, 7d, 30d, year, all, or YYYY, YYYY-MM, YYYY-MM-DD or A..B (default: all time)."


def period_option(app: AppContext, text: str | None) -> Period | None:
    """`--period`: the dashboard's presets (up to today, local) or a date or range; None: all time."""
    if text is None:
        return None
    tz = app.settings.tz
    if text in PRESETS:
        first, last = preset_days(text, local_today(app.clock.now(), tz))
        return None if first is None else Period(first, last, tz)
    try:
        return Period.parse(text, tz)
    except PeriodError as exc:
        raise PeriodError(f"{exc} (or {', '.join(PRESETS)})") from exc


def _period(app: AppContext, year: int | None, start: str | None, end: str | None, window: str) -> Period:
    tz = app.settings.tz
    if year is not None and (start or end):
        raise click.UsageError("give --year or --from/--to, not both")
    if start or end:
        if not start:
            raise click.UsageError("--to needs --from")
        first = bound_day(start)
        last = bound_day(end, last=True) if end else local_today(app.clock.now(), tz)
        return Period(first, last, tz)
    if year is None:
        year = local_today(app.clock.now(), tz).year
    return Period.year(reportable_year(year), tz, window=window)


@report.command("wrapped")
@click.option("--year", type=int, help="Calendar year (default: this year).")
@click.option("--from", "start", metavar="DATE", help=FROM_HELP)
@click.option("--to", "end", metavar="DATE", help=TO_HELP)
@click.option(
    "--window",
    type=click.Choice(["calendar", "spotify"]),
    default="calendar",
    show_default=True,
    help="With --year: the whole year, or Spotify's window (1 January to 15 November).",
)
@click.option("--limit", default=100, show_default=True, help="Length of each top list in JSON/CSV.")
@click.option(
    "--html",
    "html_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write a static share page (index.html and assets/) of the story cards to this folder.",
)
@user_option
@format_option
@pass_app
def wrapped_cmd(
    app: AppContext,
    year: int | None,
    start: str | None,
    end: str | None,
    window: str,
    limit: int,
    html_dir: Path | None,
    user_id: str | None,
    fmt: str,
) -> None:
    """Your Wrapped for any period: totals, top lists, listening clock, streaks, sessions and more."""
    period = _period(app, year, start, end, window)
    settings = app.settings
    with app.store().connect() as conn:
        require_listener(conn, user_id)
        data = kept_wrapped(
            conn,
            period,
            user_id=user_id,
            stream_threshold_ms=settings.stream_threshold_ms,
            session_gap_minutes=settings.session_gap_minutes,
            limit=limit,
        )
    if html_dir is not None:
        # Imported here: the dashboard's templates load only when a page is asked for.
        from brapped.web.share import write_share_page

        try:
            index = write_share_page(data, html_dir)
        except OSError as exc:
            raise click.ClickException(
                f"cannot write the share page: {exc.strerror} ({exc.filename})"
            ) from exc
        click.echo(f"Share page written to {index} (open it, or publish the folder).", err=True)
    if fmt == "json":
        emit_json(app, data)
        return
    if fmt == "csv":
        emit_rows(app, fmt, flatten(data), ["key", "value"])
        return
    _emit_wrapped_table(app, fmt, data)


def _emit_wrapped_table(app: AppContext, fmt: str, data: dict[str, Any]) -> None:
    p = data["period"]
    streak = data["longest_streak"] or {}
    session = data["longest_session"] or {}
    busiest = data["busiest_day"] or {}
    repeated = data["most_repeated_track_in_a_day"] or {}
    age = data["listening_age"]
    change = data["change"]
    summary = [
        ("minutes listened", data["minutes_listened"], _pct(change["minutes_listened"])),
        ("plays", data["plays"], _pct(change["plays"])),
        ("streams", data["streams"], _pct(change["streams"])),
        ("distinct tracks", data["distinct_tracks"], _pct(change["distinct_tracks"])),
        ("distinct artists", data["distinct_artists"], _pct(change["distinct_artists"])),
        ("distinct albums", data["distinct_albums"], ""),
        ("new artists", data["discoveries"]["new_artists"], ""),
        (
            "busiest day",
            f"{busiest.get('date', '')} ({_minutes(busiest.get('minutes', 0))})" if busiest else "",
            "",
        ),
        ("longest streak", f"{streak['days']} days from {streak['start']}" if streak else "", ""),
        (
            "longest session",
            f"{_minutes(session['minutes'])} from {local_minute(session['start'])}" if session else "",
            "",
        ),
        (
            "most repeated in a day",
            f"{repeated['track']['name']} x{repeated['plays']} on {repeated['date']}" if repeated else "",
            "",
        ),
        ("median release year", f"{age['median_release_year']:g}" if age["median_release_year"] else "", ""),
        ("skip rate", _pct_plain(data["skip_rate"]["rate"]), ""),
        ("estimated share of time", _pct_plain(data["estimated_share"]), ""),
        ("podcast minutes", data["spoken_word"]["podcasts"]["minutes"], ""),
        ("audiobook minutes", data["spoken_word"]["audiobooks"]["minutes"], ""),
    ]
    emit_rows(
        app,
        fmt,
        [{"": k, "value": v, "vs previous period": c} for k, v, c in summary],
        title=f"Wrapped {p['start']} to {p['end']} ({p['timezone']})",
    )
    emit_rows(app, fmt, _artist_table(data["top_artists"][:TABLE_TOP]), title="Top artists (by credit)")
    tracks = _track_table(data["top_tracks"][:TABLE_TOP], by="streams")
    emit_rows(app, fmt, tracks, title="Top tracks (by streams)")
    emit_rows(app, fmt, _album_table(data["top_albums"][:TABLE_TOP]), title="Top albums")
    if data["top_genres"]:
        emit_rows(app, fmt, _plain(data["top_genres"][:TABLE_TOP], "genre"), title="Top genres")
    months = [
        {"month": m["month"], "artist": m["artist"]["name"], "plays": m["plays"]}
        for m in data["top_artist_by_month"]
    ]
    if months:
        emit_rows(app, fmt, months, title="Top artist of each month")
    _emit_wrapped_figures(app, fmt, data)


def _emit_wrapped_figures(app: AppContext, fmt: str, data: dict[str, Any]) -> None:
    """Wrapped's 2025 cards: obsession, rediscovery, forgotten favourite, listening age, new
    albums and the artist race (its leader after each frame)."""
    rows: list[tuple[str, str]] = []
    obsession = data.get("obsession")
    if obsession:
        track = obsession["track"]
        rows.append(
            (
                "obsession",
                f"{track['name']} by {_artists_text(track['artists'], track['name'])}, "
                f"x{obsession['plays']} from {obsession['start']} to {obsession['end']}",
            )
        )
    back = data.get("rediscovery")
    if back:
        rows.append(
            (
                "rediscovery",
                f"{back['artist']['name']}: back on {back['back_on']} after {back['days_silent']} days "
                f"(last played {back['last_played_before']})",
            )
        )
    gone = data.get("forgotten_favourite")
    if gone:
        rows.append(
            (
                "forgotten favourite",
                f"{gone['artist']['name']}: once your #{gone['former_rank']}, "
                f"last played {gone['last_played'] or 'unknown'}",
            )
        )
    age = data.get("listening_age") or {}
    window = age.get("window")
    if window:
        rows.append(
            (
                "listening age",
                f"{age['age']}: music of {window['start']}-{window['end']} "
                f"({window['index']:.1f}x its share of the tracks you played before)",
            )
        )
    if rows:
        emit_rows(app, fmt, [{"": k, "value": v} for k, v in rows], title="Highlights")
    albums = data.get("top_new_albums") or []
    if albums:
        emit_rows(
            app,
            fmt,
            [
                {
                    "rank": a["rank"],
                    "album": a["name"],
                    "artists": _artists_text(a["artists"]),
                    "released": a["release_date"],
                    "tracks streamed": f"{a['tracks_streamed']}/{a['total_tracks']}",
                    "streams": a["streams"],
                }
                for a in albums[:TABLE_TOP]
            ],
            title="Top new albums",
        )
    race = data.get("artist_race") or {}
    leaders = [
        {
            race.get("step", "frame"): f["label"],
            "leader": f["ranking"][0]["name"],
            "credit": float(f["ranking"][0]["credit"]),
            "top 3": ", ".join(a["name"] for a in f["ranking"][:3]),
        }
        for f in race.get("frames", [])
        if f["ranking"]
    ]
    if leaders:
        emit_rows(app, fmt, leaders, title="Artist race (so far, after each)")


def _plain(rows: list[dict[str, Any]], name: str, by: str = "plays") -> list[dict[str, Any]]:
    return [
        {"rank": r["rank"], name: r[name], "plays": r["plays"], **_streams(r, by), "minutes": r["minutes"]}
        for r in rows
    ]


@report.command("top")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--from", "start", metavar="DATE", help=FROM_HELP)
@click.option("--to", "end", metavar="DATE", help=TO_HELP)
@click.option("--period", metavar="PERIOD", help=PERIOD_HELP)
@click.option(
    "--by",
    type=click.Choice(["plays", "streams", "minutes", "credit"]),
    default="plays",
    show_default=True,
    help="Rank by; credit (artists only): streams, featured credits weighted 0.5.",
)
@click.option("--limit", default=10, show_default=True, help="How many.")
@user_option
@format_option
@pass_app
def top_cmd(
    app: AppContext,
    kind: str,
    start: str | None,
    end: str | None,
    period: str | None,
    by: str,
    limit: int,
    user_id: str | None,
    fmt: str,
) -> None:
    """Top artists, tracks, albums or genres for any period (all time by default)."""
    chosen: Period | None = None
    if period and (start or end):
        raise click.UsageError("give --period or --from/--to, not both")
    if period:
        chosen = period_option(app, period)
    elif start or end:
        chosen = _period(app, None, start, end, "calendar")
    scope = Scope.of(chosen, user_id, app.settings.stream_threshold_ms)
    with app.store().connect() as conn:
        require_listener(conn, user_id)
        rows = top(conn, kind, scope, by=by, limit=limit)  # type: ignore[arg-type]
        coverage = genre_coverage(conn, scope) if kind == "genres" else None
    document = {"kind": kind, "by": by, "period": chosen.as_dict() if chosen else None, "items": rows}
    if coverage is not None:
        document["genres_known"] = coverage
    if fmt == "json":
        emit_json(app, document)
        return
    if fmt == "csv":
        emit_rows(app, fmt, [_csv_item(r) for r in rows])
        return
    if kind == "artists":
        table = _artist_table(rows, by)
    elif kind == "tracks":
        table = _track_table(rows, by)
    elif kind == "albums":
        table = _album_table(rows, by)
    elif kind == "countries":
        table = _plain(rows, "country", by)  # fmt: skip
    else:
        table = _plain(rows, "genre", by)  # fmt: skip
    span = f"{chosen.start} to {chosen.end}" if chosen else "all time"
    if table:
        emit_rows(app, fmt, table, title=f"Top {kind} by {by}, {span}")
    else:  # Rich prints nothing at all for a table without rows
        click.echo(f"No {kind} to rank, {span}.")
    if coverage is not None and coverage["share"] is not None:
        # Honest about what the list covers: artists without a known genre count for none.
        click.echo(
            f"Genres known for {100 * coverage['share']:.0f}% of these plays "
            f"({coverage['plays_with_genres']:,} of {coverage['plays']:,})."
        )


def _csv_item(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    if "artists" in out:
        out["artists"] = _artists_text(out["artists"])
    if isinstance(out.get("album"), dict):
        out["album"] = out["album"]["name"]
    return out


commands: list[click.Command] = [report]


@report.command("party")
@click.option("--year", type=int, help="Calendar year (default: this year).")
@click.option("--from", "start", metavar="DATE", help=FROM_HELP)
@click.option("--to", "end", metavar="DATE", help=TO_HELP)
@click.option(
    "--window",
    type=click.Choice(["calendar", "spotify"]),
    default="calendar",
    show_default=True,
    help="With --year: the whole year, or Spotify's window (1 January to 15 November).",
)
@click.option(
    "--user",
    "user_ids",
    metavar="ID",
    multiple=True,
    help=f"A member (repeat, up to {MAX_PARTY}; default: everyone who listened in the period).",
)
@format_option
@pass_app
def party_cmd(
    app: AppContext,
    year: int | None,
    start: str | None,
    end: str | None,
    window: str,
    user_ids: tuple[str, ...],
    fmt: str,
) -> None:
    """A Wrapped party for the household: awards (explorer, picky_listener, loyalist, early_bird,
    night_owl, marathoner, obsessed), each with its winner and value, and a label for the group."""
    if len(user_ids) > MAX_PARTY:
        raise click.UsageError(f"a party has at most {MAX_PARTY} members")
    period = _period(app, year, start, end, window)
    settings = app.settings
    with app.store().connect() as conn:
        data = party(
            conn,
            period,
            user_ids=list(user_ids) or None,
            stream_threshold_ms=settings.stream_threshold_ms,
            session_gap_minutes=settings.session_gap_minutes,
        )
    if fmt == "json":
        emit_json(app, data)
        return
    span = f"{data['period']['start']} to {data['period']['end']}"
    if fmt == "table" and not data["members"]:
        click.echo(f"Party {span}: nobody listened in this period.")
        return
    rows = [
        {
            "award": a["award"],
            "winner": a["display_name"] or a["winner"],
            "value": _award_value(a) if fmt == "table" else a["value"],
            "unit": a["unit"],
        }
        for a in data["awards"]
    ]
    group = data["group"]
    title = f"Party {span}: {group['label']}"
    if group["mean_score"] is not None:
        title += f" (mean compatibility {group['mean_score']})"
    emit_rows(app, fmt, rows, ["award", "winner", "value", "unit"], title=title)


def _award_value(award: dict[str, Any]) -> Any:
    # A share as a percentage, as the dashboard shows it: 0.0939 as one decimal was "0.1".
    if award["unit"] == "share" and award["value"] is not None:
        return f"{award['value'] * 100:.0f}%"
    return award["value"]
