"""`brapped report today|day|wrapped|top`: the daily report, Wrapped for any period, top lists."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click

from brapped.cli.context import AppContext, emit_json, emit_rows, format_option, pass_app
from brapped.cli.report_tables import (
    album_table,
    artist_table,
    csv_item,
    emit_day,
    emit_document,
    emit_wrapped_table,
    plain_rows,
    track_table,
)
from brapped.insights import (
    KINDS,
    MAX_PARTY,
    PRESETS,
    Period,
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


def user_option(func: F) -> F:
    """`--user ID`: one account's plays when several share the database."""
    return click.option(
        "--user", "user_id", metavar="ID", help="Only this Spotify account's plays (default: every account)."
    )(func)


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
    emit_day(app, fmt, data)


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
    emit_day(app, fmt, data)


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
    return Period.parse(text, tz, presets=PRESETS)


def _period(app: AppContext, year: int | None, start: str | None, end: str | None, window: str) -> Period:
    tz = app.settings.tz
    if year is not None and (start or end):
        raise click.UsageError("give --year or --from/--to, not both")
    if window != "calendar" and (start or end):
        # It used to be ignored there: a Wrapped of other dates than the ones asked for.
        raise click.UsageError("--window goes with --year (or this year), not with --from/--to")
    if start or end:
        if not start:
            raise click.UsageError("--to needs --from")
        first = bound_day(start)
        if end:
            return Period(first, bound_day(end, last=True), tz)
        today = local_today(app.clock.now(), tz)
        if first > today:
            # Not "period ends (today) before it starts": no end was given.
            raise click.UsageError(
                f"--from {first} is after today ({today}), where the period ends without --to"
            )
        return Period(first, today, tz)
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
    if not emit_document(app, fmt, data):
        emit_wrapped_table(app, fmt, data)


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
    """Top artists, tracks, albums, genres or countries for any period (all time by default)."""
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
        emit_rows(app, fmt, [csv_item(r) for r in rows])
        return
    if kind == "artists":
        table = artist_table(rows, by)
    elif kind == "tracks":
        table = track_table(rows, by)
    elif kind == "albums":
        table = album_table(rows, by)
    elif kind == "countries":
        table = plain_rows(rows, "country", by)  # fmt: skip
    else:
        table = plain_rows(rows, "genre", by)  # fmt: skip
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
    if fmt == "csv":
        # For scripts: the winner's id, as in JSON and as --user takes it, beside the name.
        columns = ["award", "winner", "display_name", "value", "unit"]
        emit_rows(app, fmt, [{c: a[c] for c in columns} for a in data["awards"]], columns)
        return
    rows = [
        {
            "award": a["award"],
            "winner": a["display_name"] or a["winner"],
            "value": _award_value(a),
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
