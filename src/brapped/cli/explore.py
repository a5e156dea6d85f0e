"""`brapped search`, `brapped artist`, `brapped track`: find things in your history and their stories."""

from __future__ import annotations

from typing import Any

import click

from brapped.cli.context import (
    AppContext,
    emit_json,
    emit_rows,
    format_option,
    local_minute,
    minute_in,
    pass_app,
    printable_text,
    safe,
)
from brapped.cli.report import user_option
from brapped.cli.report_tables import artists_text, emit_document
from brapped.insights import artist_story, require_listener, search, track_story
from brapped.serialise import instant_text


def _when(value: Any) -> str:
    return instant_text(value, "seconds") if value is not None else ""


@click.command("search")
@click.argument("query", callback=printable_text)
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1), help="Most results per kind.")
@user_option
@format_option
@pass_app
def search_cmd(app: AppContext, query: str, limit: int, user_id: str | None, fmt: str) -> None:
    """Tracks, artists and albums you played whose name contains QUERY (case and accents ignored)."""
    with app.store().begin() as conn:
        require_listener(conn, user_id)
        found = search(conn, query, user_id=user_id, limit=limit)
    if fmt == "json":
        emit_json(app, found)
        return
    if fmt == "table":
        _emit_found(app, found, query)
        return
    rows = [
        {
            "kind": kind[:-1],
            "name": item["name"],
            "artists": artists_text(item.get("artists", [])),
            "plays": item["plays"],
            "last_played": _when(item["last_played"]),
            "id": item["id"],
        }
        for kind in ("artists", "tracks", "albums")
        for item in found[kind]
    ]
    emit_rows(app, fmt, rows, ["kind", "name", "artists", "plays", "last_played", "id"])


def _emit_found(app: AppContext, found: dict[str, Any], query: str) -> None:
    """Search results as a table a kind: ids whole (they are what `artist` and `track` take when
    names repeat), the last play to the minute in the report's zone."""
    if not any(found[kind] for kind in ("artists", "tracks", "albums")):
        click.echo(f"Nothing you played matches {query!r}.")
        return
    for kind in ("artists", "tracks", "albums"):
        if not found[kind]:
            continue
        rows = [
            {
                "name": item["name"],
                **({} if kind == "artists" else {"artists": artists_text(item.get("artists", []))}),
                "plays": item["plays"],
                "last played": minute_in(item["last_played"], app.settings.tz),
                "id": item["id"],
            }
            for item in found[kind]
        ]
        emit_rows(app, "table", rows, title=kind.capitalize(), whole=("id", "last played"))


def _echo_others(story: dict[str, Any], command: str) -> None:
    """The other names the query matched, after the page: a line each, with the id that picks it."""
    others = story["also_matched"]
    if not others:
        return
    click.echo(f"\nAlso matched (brapped {command} ID for one of them):")
    for o in others:
        by = f" by {artists_text(o['artists'], o['name'])}" if o.get("artists") else ""
        click.echo(safe(f"  {o['name']}{by}  {o['id']}"))


@click.command("artist")
@click.argument("name_or_id", metavar="NAME|ID", callback=printable_text)
@click.option(
    "--limit",
    default=10,
    show_default=True,
    type=click.IntRange(1),
    help="Top tracks and companions to list.",
)
@user_option
@format_option
@pass_app
def artist_cmd(app: AppContext, name_or_id: str, limit: int, user_id: str | None, fmt: str) -> None:
    """An artist's story: first and last play, plays, rank, main vs featured, months, top tracks."""
    settings = app.settings
    with app.store().begin() as conn:
        require_listener(conn, user_id)
        story = artist_story(
            conn,
            name_or_id,
            settings.tz,
            user_id=user_id,
            stream_threshold_ms=settings.stream_threshold_ms,
            limit=limit,
        )
    if emit_document(app, fmt, story):
        return
    artist = story["artist"]
    summary = [
        ("first played", local_minute(story["first_played_local"])),
        ("last played", local_minute(story["last_played_local"])),
        ("rank (plays, all artists)", story["rank"] if story["rank"] is not None else "not ranked"),
        ("plays", story["plays"]),
        ("  as main artist", story["main_plays"]),
        ("  as featured artist", story["featured_plays"]),
        ("streams", story["streams"]),
        ("minutes", story["minutes"]),
        ("  as main artist", story["main_minutes"]),
        ("  as featured artist", story["featured_minutes"]),
        ("genres", ", ".join(artist["genres"])),
    ]
    if artist["tags"]:
        summary.append(("tags (MusicBrainz, no genre known)", ", ".join(artist["tags"])))
    mb = artist["musicbrainz"]
    if mb:
        origin = ", ".join(x for x in (mb["area"], mb["country"]) if x)
        years = (
            f"{mb['begin_year'] or '?'}-{mb['end_year'] or ''}" if mb["begin_year"] or mb["end_year"] else ""
        )
        summary += [
            ("type", mb["type"] or ""),
            ("origin", origin),
            ("active", years),
            ("MusicBrainz", mb["url"]),
        ]
    emit_rows(
        app,
        fmt,
        [{"": k, "value": v} for k, v in summary],
        title=f"{artist['name']} ({artist['id']})",
    )
    tracks = [
        {
            "rank": t["rank"],
            "track": t["name"],
            "artists": artists_text(t["artists"]),
            "plays": t["plays"],
            "minutes": t["minutes"],
        }
        for t in story["top_tracks"]
    ]
    emit_rows(app, fmt, tracks, title="Top tracks")
    if story["featured_with"]:
        emit_rows(app, fmt, story["featured_with"], ["name", "plays", "tracks"], title="Featured with")
    emit_rows(app, fmt, story["months"], title="Month by month")
    _echo_others(story, "artist")


@click.command("track")
@click.argument("name_or_id", metavar="NAME|ID", callback=printable_text)
@user_option
@format_option
@pass_app
def track_cmd(app: AppContext, name_or_id: str, user_id: str | None, fmt: str) -> None:
    """A track's story: first and last play, plays, rank, skips, busiest day, month by month."""
    settings = app.settings
    with app.store().begin() as conn:
        require_listener(conn, user_id)
        story = track_story(
            conn, name_or_id, settings.tz, user_id=user_id, stream_threshold_ms=settings.stream_threshold_ms
        )
    if emit_document(app, fmt, story):
        return
    track = story["track"]
    busiest = story["busiest_day"]
    unit = "play" if busiest["plays"] == 1 else "plays"
    summary = [
        ("artists", artists_text(track["artists"])),
        ("album", track["album"]["name"] if track["album"] else ""),
        ("first played", local_minute(story["first_played_local"])),
        ("last played", local_minute(story["last_played_local"])),
        ("rank (plays, all tracks)", story["rank"]),
        ("plays", story["plays"]),
        ("streams", story["streams"]),
        ("skipped", story["skipped"]),
        ("minutes", story["minutes"]),
        ("busiest day", f"{busiest['date']} ({busiest['plays']:,} {unit})"),
    ]
    emit_rows(
        app,
        fmt,
        [{"": k, "value": v} for k, v in summary],
        title=f"{track['name']} ({track['id']})",
    )
    emit_rows(app, fmt, story["months"], title="Month by month")
    _echo_others(story, "track")


commands: list[click.Command] = [search_cmd, artist_cmd, track_cmd]
