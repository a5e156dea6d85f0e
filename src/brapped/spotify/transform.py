"""Pure functions from Web API payloads to table rows (no HTTP, no database).

Export files have their own readers and transforms in `brapped.imports`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from brapped.store.types import to_utc_ms

Row = dict[str, Any]

# Spotify's answers are trusted for what they mean, not for their shape. A value of the wrong type
# or size (text for a number, an int past 32 bits, a NUL, which PostgreSQL refuses, a text longer
# than its column) would fail the whole sync at the database, and again at every sync until the
# plays left recently-played: such a value becomes NULL, and an item without a usable id or time
# is skipped with a reason.
_ID = re.compile(r"[^\x00-\x20/]{1,64}")
_INT_MAX = 2**31 - 1  # the Integer columns
# A play's time: Spotify began in 2008, and reports end in 2999 (later ones overflow date sums).
_EARLIEST = datetime(2008, 1, 1, tzinfo=UTC)
_LATEST = datetime(2999, 12, 31, tzinfo=UTC)


def usable_id(value: Any) -> str | None:
    """A Spotify id as the store keeps one (up to 64 characters, no space, slash or control), else None."""
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def _count(value: Any, top: int = _INT_MAX) -> int | None:
    """A non-negative int that fits its column, else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= top else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _text(value: Any, size: int | None = None) -> str | None:
    """Text without NUL; None when it is not text or longer than its column's `size`."""
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "")
    return value if size is None or len(value) <= size else None


def _name(obj: Mapping[str, Any]) -> str:
    return _text(obj.get("name")) or ""


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant from Spotify ("2026-06-24T14:48:02.110Z") as aware UTC, in ms."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return to_utc_ms(value)


def epoch_ms(value: datetime) -> int:
    """Milliseconds since 1970 of an aware instant (the unit of recently-played's cursors)."""
    return int(to_utc_ms(value).timestamp() * 1000 + 0.5)


def _image(obj: Mapping[str, Any]) -> str | None:
    images = obj.get("images")
    if not isinstance(images, list) or not images:
        return None
    # Spotify lists the largest first, but say so explicitly: widths may be missing.
    best = max(
        (img for img in images if isinstance(img, dict) and _text(img.get("url"))),
        key=lambda img: _count(img.get("width")) or 0,
        default=None,
    )
    return _text(best["url"]) if best else None


def artist_row(artist: Mapping[str, Any], *, full: bool = False, now: datetime | None = None) -> Row:
    """An `artists` row. Simplified artists (inside tracks) carry only id and name; a `full`
    artist (GET /artists) also gives images and, when Spotify still sends them, genres,
    popularity and followers. `now` sets `enriched_at` for full artists."""
    row: Row = {"id": str(artist["id"]), "name": _name(artist), "uri": _text(artist.get("uri"))}
    if full:
        genres = artist.get("genres")
        followers = artist.get("followers")
        row.update(
            genres=json.dumps(sorted({t for g in genres if (t := _text(g))}), ensure_ascii=False)
            if isinstance(genres, list)
            else None,
            popularity=_count(artist.get("popularity")),
            followers=_count(followers.get("total"), 2**63 - 1) if isinstance(followers, dict) else None,
            image_url=_image(artist),
            enriched_at=now,
        )
    return row


def artist_genre_rows(artist: Mapping[str, Any]) -> list[Row]:
    """`artist_genres` rows of a full artist (none when Spotify withheld genres)."""
    genres = artist.get("genres")
    if not isinstance(genres, list):
        return []
    texts = {text[:200] for g in genres if (text := _text(g))}
    return [{"artist_id": str(artist["id"]), "genre": g} for g in sorted(texts)]


def album_row(album: Mapping[str, Any], *, full: bool = False, now: datetime | None = None) -> Row:
    """An `albums` row; a `full` album (GET /albums) adds label and popularity."""
    row: Row = {
        "id": str(album["id"]),
        "name": _name(album),
        "album_type": _text(album.get("album_type"), 32),
        "release_date": _text(album.get("release_date"), 10),
        "release_date_precision": _text(album.get("release_date_precision"), 8),
        "total_tracks": _count(album.get("total_tracks")),
        "image_url": _image(album),
        "uri": _text(album.get("uri")),
    }
    if full:
        row.update(
            label=_text(album.get("label")), popularity=_count(album.get("popularity")), enriched_at=now
        )
    return row


def _positions(owner_key: str, owner_id: str, artists: Any) -> list[Row]:
    rows: list[Row] = []
    seen: set[str] = set()
    for artist in _list(artists):
        if not isinstance(artist, dict) or not usable_id(artist.get("id")) or artist["id"] in seen:
            continue
        seen.add(artist["id"])
        rows.append({owner_key: owner_id, "position": len(rows), "artist_id": str(artist["id"])})
    return rows


def album_artist_rows(album: Mapping[str, Any]) -> list[Row]:
    """`album_artists` rows, positions in Spotify's order (0 = main artist)."""
    return _positions("album_id", str(album["id"]), album.get("artists"))


def track_artist_rows(track: Mapping[str, Any]) -> list[Row]:
    """`track_artists` rows, positions in Spotify's order (0 = main, 1.. = featured)."""
    return _positions("track_id", str(track["id"]), track.get("artists"))


def track_row(track: Mapping[str, Any]) -> Row:
    """A `tracks` row from a full track object (as recently-played and GET /tracks give)."""
    album = track.get("album")
    external = track.get("external_ids")
    return {
        "id": str(track["id"]),
        "name": _name(track),
        "album_id": usable_id(album.get("id")) if isinstance(album, dict) else None,
        "duration_ms": _count(track.get("duration_ms")),
        "explicit": _flag(track.get("explicit")),
        "disc_number": _count(track.get("disc_number")),
        "track_number": _count(track.get("track_number")),
        "isrc": _text(external.get("isrc"), 16) if isinstance(external, dict) else None,
        "uri": _text(track.get("uri")),
        "popularity": _count(track.get("popularity")),
        "is_resolved": True,
    }


@dataclass
class Entities:
    """Catalogue rows from one or more full track objects, each entity once."""

    tracks: dict[str, Row] = field(default_factory=dict)
    albums: dict[str, Row] = field(default_factory=dict)
    artists: dict[str, Row] = field(default_factory=dict)
    track_artists: dict[str, list[Row]] = field(default_factory=dict)
    album_artists: dict[str, list[Row]] = field(default_factory=dict)

    def add_track(self, track: Mapping[str, Any]) -> None:
        tid = str(track["id"])
        self.tracks[tid] = track_row(track)
        self.track_artists[tid] = track_artist_rows(track)
        for artist in _list(track.get("artists")):
            if isinstance(artist, dict) and usable_id(artist.get("id")):
                self.artists.setdefault(artist["id"], artist_row(artist))
        album = track.get("album")
        if isinstance(album, dict) and usable_id(album.get("id")):
            self.albums[album["id"]] = album_row(album)
            self.album_artists[album["id"]] = album_artist_rows(album)
            for artist in _list(album.get("artists")):
                if isinstance(artist, dict) and usable_id(artist.get("id")):
                    self.artists.setdefault(artist["id"], artist_row(artist))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass
class PlayBatch:
    """What a set of recently-played items becomes."""

    plays: list[Row] = field(default_factory=list)
    entities: Entities = field(default_factory=Entities)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _usable_track(track: Any) -> bool:
    return (
        isinstance(track, dict)
        and track.get("type", "track") == "track"
        and usable_id(track.get("id")) is not None
        and not track.get("is_local")
    )


def _unusable(track: Any) -> str:
    """Why a recently-played item's track is passed over."""
    if not isinstance(track, dict) or track.get("type", "track") != "track":
        return "not a track"
    return "local file" if track.get("is_local") else "bad track id"


def recently_played(
    items: Iterable[Mapping[str, Any]], user_id: str, latest: datetime | None = None
) -> PlayBatch:
    """Plays and catalogue rows from recently-played items; one play per (played_at, track).

    `latest`: a play said to end after it is skipped ("played in the future"): stored, it would
    be the newest play, and every later sync would ask only for plays after it."""
    batch = PlayBatch()
    seen: set[tuple[datetime, str]] = set()
    for item in items:
        track = item.get("track")
        if not _usable_track(track):
            batch.skip(_unusable(track))
            continue
        assert isinstance(track, dict)
        try:
            played_at = parse_instant(str(item["played_at"]))
        except (KeyError, ValueError):
            batch.skip("bad played_at")
            continue
        if not _EARLIEST <= played_at <= _LATEST:
            batch.skip("bad played_at")
            continue
        if latest is not None and played_at > latest:
            batch.skip("played in the future")
            continue
        key = (played_at, str(track["id"]))
        if key in seen:
            continue
        seen.add(key)
        batch.entities.add_track(track)
        context = item.get("context") if isinstance(item.get("context"), dict) else None
        batch.plays.append(
            {
                "user_id": user_id,
                "played_at": played_at,
                "track_id": str(track["id"]),
                "ms_played": None,
                "ms_played_source": None,
                "source": "api",
                "context_type": _text(context.get("type"), 32) if context else None,
                "context_uri": _text(context.get("uri")) if context else None,
            }
        )
    return batch
