"""`brapped enrich`: fill in artist images and genres, album details, and resolve imported tracks."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from brapped.cli.auth import household_clients
from brapped.cli.context import AppContext, emit_json, pass_app, summary_format_option
from brapped.cli.progress import stage_bars
from brapped.pipeline.accounts import enrich_with_any
from brapped.pipeline.artist_facts import FactsResult, enrich_artist_facts
from brapped.pipeline.lookups import EnrichProgress


@contextmanager
def _progress_bar(app: AppContext) -> Iterator[EnrichProgress | None]:
    """A Rich progress bar per stage on a terminal; nothing otherwise (pipes, CI, tests)."""
    if not sys.stderr.isatty():
        yield None
        return
    with stage_bars(app) as update:
        yield update


@click.command("enrich")
@click.option(
    "--resolve",
    is_flag=True,
    help="Also resolve tracks imported from exports: full metadata by id, search for name-only rows.",
)
@click.option(
    "--max-calls",
    type=click.IntRange(1),
    default=None,
    help="Stop after this many API calls (default: no limit). Run again to continue.",
)
@click.option(
    "--no-musicbrainz",
    is_flag=True,
    help="Skip the MusicBrainz pass (genres, type, origin) this time; `musicbrainz = false` in the "
    "config turns it off for good.",
)
@summary_format_option
@pass_app
def enrich_command(
    app: AppContext, resolve: bool, max_calls: int | None, no_musicbrainz: bool, fmt: str
) -> None:
    """Look up what is missing, most-played first: artist images and genres (when Spotify still
    sends them), album label and details, and with --resolve every unresolved track.

    Then, unless turned off, MusicBrainz: genres, type, origin and active years of your artists,
    most-played first, at one request per second (sends Spotify artist ids and names).

    Progress is committed as it goes, so an interrupted or rate-limited run resumes where it
    stopped. Batch lookups are used when Spotify allows them for your app (detected once).
    --max-calls counts Spotify and MusicBrainz requests together.
    Exit codes: 0 done (or --max-calls reached), 75 rate limited, 77 authorisation needed.
    """
    store = app.store()
    # The catalogue is shared: any account whose authorisation works looks it up.
    with household_clients(app) as clients, _progress_bar(app) as progress:
        result = enrich_with_any(store, clients, max_calls=max_calls, resolve=resolve, progress=progress)
    facts: FactsResult | None = None
    calls_left = None if max_calls is None else max_calls - result.api_calls
    if app.settings.musicbrainz and not no_musicbrainz and result.rate_limited is None and calls_left != 0:
        facts = _musicbrainz(app, calls_left)
    from brapped.insights import try_refresh

    # Resolving merges name-only tracks into real ones: older plays change track, the sums go stale.
    try_refresh(store, app.settings.tz, app.settings.stream_threshold_ms, app.clock.now())
    if fmt == "json":
        emit_json(
            app,
            {
                **result.counts(),
                "backlog": result.backlog,
                "tracks_resolved_total": result.resolved_total,
                "tracks_total": result.tracks_total,
                "batch_allowed": result.batch_allowed,
                "resume_after": result.rate_limited.resume_at if result.rate_limited else None,
                "musicbrainz": None
                if facts is None
                else {**facts.counts(), "coverage": facts.coverage, "error": facts.error},
            },
        )
    else:
        lines = [
            f"Artists enriched: {result.artists_enriched:,}; albums enriched: {result.albums_enriched:,}.",
        ]
        if resolve:
            lines.append(
                f"Tracks resolved: {result.tracks_resolved + result.tracks_merged:,} "
                f"({result.tracks_merged:,} by search, {result.plays_moved:,} plays moved, "
                f"{result.plays_dropped:,} duplicates dropped); not found: {result.tracks_unmatched:,}."
            )
        left = result.backlog
        tracks_left = left.get("tracks_unresolved", 0) - left.get("tracks_unresolvable", 0)
        lines.append(
            f"{result.resolved_total:,} of {result.tracks_total:,} tracks resolved; "
            f"left: {left.get('artists', 0):,} artists, {left.get('albums', 0):,} albums, "
            f"{tracks_left:,} tracks."
        )
        lines.append(f"API calls: {result.api_calls:,}.")
        if facts is not None:
            lines.append(f"MusicBrainz: {facts.summary()} ({facts.requests:,} requests).")
            if facts.error:
                lines.append(f"MusicBrainz stopped: {facts.error}; run again later to continue.")
        if result.stopped == "budget" or (facts is not None and facts.stopped == "budget"):
            lines.append("Stopped at --max-calls; run again to continue.")
        for line in lines:
            click.echo(line)
    if result.rate_limited is not None:
        raise result.rate_limited


def _musicbrainz(app: AppContext, max_calls: int | None) -> FactsResult:
    """The MusicBrainz pass, with its own progress line on a terminal."""
    from brapped.musicbrainz import connect

    store = app.store()
    client = connect(app.settings, app.clock, store)
    try:
        with _progress_bar(app) as progress:
            return enrich_artist_facts(store, client, max_calls=max_calls, progress=progress)
    finally:
        client.http.close()


commands: list[click.Command] = [enrich_command]
