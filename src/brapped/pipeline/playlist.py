"""`brapped playlist wrapped`: "Your Top Songs" of a year, as a private Spotify playlist or as files.

The songs are the year's tracks ranked by streams (plays of at least the stream threshold), as
Spotify's Wrapped ranks them; tracks known only by name (synthetic ids, see brapped.identity) have
no Spotify URI and are passed over, the next ones taking their places.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from brapped.identity import is_synthetic
from brapped.insights import Period, Scope, top
from brapped.spotify import SpotifyClient
from brapped.spotify.playlists import SavedPlaylist, save_playlist
from brapped.store.tables import tracks

OPEN_TRACK = "https://open.spotify.com/track/"
MAX_LIMIT = 1_000  # the longest playlist offered, and how far down the top list it looks


@dataclass(frozen=True)
class TopSong:
    """One song of the playlist: its rank in the year's top list and what the files show of it."""

    rank: int
    track_id: str
    name: str
    artists: str
    streams: int
    duration_ms: int | None

    @property
    def uri(self) -> str:
        return f"spotify:track:{self.track_id}"

    @property
    def url(self) -> str:
        return OPEN_TRACK + self.track_id


@dataclass(frozen=True)
class TopSongs:
    """The playlist's songs in rank order, and how many top tracks were passed over (no URI)."""

    year: int
    period: Period
    songs: list[TopSong]
    passed_over: int

    @property
    def title(self) -> str:
        return f"Your Top Songs {self.year}"

    @property
    def description(self) -> str:
        return (
            f"Your {len(self.songs)} most streamed songs of {self.year} "
            f"({self.period.start} to {self.period.end}), by brapped."
        )


def top_songs(
    conn: Connection,
    year: int,
    timezone: str,
    *,
    limit: int = 100,
    user_id: str | None = None,
    stream_threshold_ms: int = 30_000,
) -> TopSongs:
    """The year's `limit` most streamed tracks that have a Spotify id, in rank order."""
    period = Period.year(year, timezone)
    scope = Scope.of(period, user_id, stream_threshold_ms)
    asked = limit
    while True:
        rows = top(conn, "tracks", scope, by="streams", limit=min(asked, MAX_LIMIT))
        streamed = [row for row in rows if row["streams"] > 0]
        playable = [row for row in streamed if not is_synthetic(row["id"])]
        # Fewer rows than asked for, or a track without streams: every streamed track is in.
        # Else ask for as many more as were passed over.
        exhausted = len(rows) < asked or len(streamed) < len(rows)
        if len(playable) >= limit or exhausted or asked >= MAX_LIMIT:
            break
        asked += limit - len(playable)
    chosen = playable[:limit]
    last_rank = chosen[-1]["rank"] if len(chosen) == limit else MAX_LIMIT + 1
    passed_over = sum(1 for row in streamed if is_synthetic(row["id"]) and row["rank"] < last_rank)
    durations = _durations(conn, [row["id"] for row in chosen])
    songs = [
        TopSong(
            rank=int(row["rank"]),
            track_id=str(row["id"]),
            name=str(row["name"]),
            artists=", ".join(a["name"] for a in row["artists"]),
            streams=int(row["streams"]),
            duration_ms=durations.get(row["id"]),
        )
        for row in chosen
    ]
    return TopSongs(year=year, period=period, songs=songs, passed_over=passed_over)


def _durations(conn: Connection, ids: Sequence[str]) -> dict[str, int | None]:
    if not ids:
        return {}
    rows = conn.execute(select(tracks.c.id, tracks.c.duration_ms).where(tracks.c.id.in_(list(ids))))
    return {r.id: r.duration_ms for r in rows}


def publish(client: SpotifyClient, songs: TopSongs) -> SavedPlaylist:
    """Create the private playlist in the listener's account with the songs in rank order."""
    return save_playlist(client, songs.title, songs.description, [song.uri for song in songs.songs])


def _one_line(text: str) -> str:
    # A line break in a name would end the #EXTINF line early and turn the rest into a path.
    return " ".join(text.split())


def m3u_text(songs: TopSongs) -> str:
    """Extended M3U: one `#EXTINF:seconds,artists - title` line and the track's open.spotify.com URL
    per song (seconds -1 when the duration is unknown), in rank order."""
    lines = ["#EXTM3U", f"#PLAYLIST:{_one_line(songs.title)}"]
    for song in songs.songs:
        seconds = round(song.duration_ms / 1000) if song.duration_ms else -1
        lines.append(f"#EXTINF:{seconds},{_one_line(song.artists)} - {_one_line(song.name)}")
        lines.append(song.url)
    return "\n".join(lines) + "\n"


CSV_COLUMNS = ("rank", "track", "artists", "plays", "uri")


def write_m3u(songs: TopSongs, path: Path) -> None:
    path.write_text(m3u_text(songs), encoding="utf-8")


def write_csv(songs: TopSongs, path: Path) -> None:
    """rank, track, artists, plays (streams: the count the list is ranked by), uri."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for song in songs.songs:
            writer.writerow([song.rank, song.name, song.artists, song.streams, song.uri])


def summary(songs: TopSongs, saved: SavedPlaylist | None) -> dict[str, Any]:
    """The JSON document `brapped playlist wrapped --format json` prints."""
    return {
        "year": songs.year,
        "period": songs.period.as_dict(),
        "name": songs.title,
        "tracks": len(songs.songs),
        "passed_over": songs.passed_over,
        "playlist": None
        if saved is None
        else {"id": saved.id, "url": saved.url, "uri": saved.uri, "requests": saved.requests},
        "songs": [
            {"rank": s.rank, "track": s.name, "artists": s.artists, "plays": s.streams, "uri": s.uri}
            for s in songs.songs
        ],
    }
