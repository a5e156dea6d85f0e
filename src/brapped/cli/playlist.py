"""`brapped playlist wrapped`: "Your Top Songs" of a year, in your Spotify account or as files."""

from __future__ import annotations

from pathlib import Path

import click

from brapped.cli.auth import spotify_client
from brapped.cli.context import AppContext, emit_json, pass_app, safe, summary_format_option
from brapped.insights import reportable_year, require_listener
from brapped.insights import today as local_today
from brapped.pipeline.playlist import publish, summary, top_songs, write_csv, write_m3u


@click.group("playlist")
def playlist() -> None:
    """Playlists made from your history."""


@playlist.command("wrapped")
@click.option("--year", type=int, help="Calendar year (default: this year).")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True, help="How many songs.")
@click.option(
    "--m3u",
    "m3u_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write an M3U playlist file instead of creating the playlist on Spotify.",
)
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write a CSV file (rank, track, artists, plays, uri) instead of creating the playlist.",
)
@click.option("--user", "user_id", metavar="ID", help="Only this Spotify account's plays.")
@summary_format_option
@pass_app
def wrapped_playlist(
    app: AppContext,
    year: int | None,
    limit: int,
    m3u_file: Path | None,
    csv_file: Path | None,
    user_id: str | None,
    fmt: str,
) -> None:
    """Your top songs of a year, ranked by streams as Wrapped ranks them, as a PRIVATE playlist in
    your Spotify account (needs `brapped auth --scope playlist` once), or with --m3u/--csv as files,
    offline. Tracks known only by name (no Spotify id) are passed over."""
    settings = app.settings
    chosen = reportable_year(year) if year is not None else local_today(app.clock.now(), settings.tz).year
    with app.store().connect() as conn:
        require_listener(conn, user_id)
        songs = top_songs(
            conn,
            chosen,
            settings.tz,
            limit=limit,
            user_id=user_id,
            stream_threshold_ms=settings.stream_threshold_ms,
        )
    if not songs.songs:
        raise click.ClickException(f"no streamed tracks with a Spotify id in {chosen}: nothing to list")
    saved = None
    try:
        if m3u_file is not None:
            write_m3u(songs, m3u_file)
        if csv_file is not None:
            write_csv(songs, csv_file)
    except OSError as exc:
        raise click.ClickException(f"cannot write {exc.filename}: {exc.strerror}") from exc
    if m3u_file is None and csv_file is None:
        with spotify_client(app) as client:
            saved = publish(client, songs)
    if fmt == "json":
        emit_json(app, summary(songs, saved))
        return
    skipped = f" ({songs.passed_over} known only by name passed over)" if songs.passed_over else ""
    count = f"{len(songs.songs)} songs{skipped}"
    if saved is not None:
        click.echo(f"Created the private playlist {safe(songs.title)} with {count}: {saved.url}")
    for path in (m3u_file, csv_file):
        if path is not None:
            click.echo(f"Wrote {count} to {path}.")


commands: list[click.Command] = [playlist]
