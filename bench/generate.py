"""Deterministic synthetic listening histories at any scale, as a brapped database or as Spotify exports.

The default is a heavy listener's whole history: 1,000,000 plays over ~17 years, ~50,000 tracks by
~8,000 artists. What makes it realistic enough to benchmark on:

- long-tailed popularity: artists follow a Zipf-like law, tracks within an artist too, so a few
  hundred tracks hold a large share of plays and most of the catalogue is played a handful of times;
- featured artists (about one track in six), albums, EPs and singles, release dates over decades;
- listening in sessions (a playlist on shuffle, an album in order, one artist) during the day, with a
  night gap, days without music, busier weekends;
- skips (~22%), tracks stopped early, the last play of a session ending on `endplay`/`logout`,
  platforms, countries while travelling, offline and incognito sessions, a few podcast episodes.

The same `plays` and `seed` always give the same history. `generate_exports` writes it as
`Streaming_History_Audio_*.json` files (all 23 keys, split at ~12 MB like Spotify does);
`generate_database` writes what importing those files and resolving every track would give, straight
into the star schema with bulk inserts (executemany on SQLite, COPY on PostgreSQL). Timestamps are
whole seconds, as in the export; the last `api_days` days are marked as seen by both sync and export.
Every play ends before `end` (default 2026-01-01; pass the current time for a history ending today);
a day holds at most ~185 plays (about nine hours), so `plays` must fit in `days`.

    python -m bench.generate db sqlite:////tmp/brapped-bench.db --plays 1000000
    python -m bench.generate exports /tmp/export --plays 500000 --zip
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import math
import random
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import orjson

DEFAULT_PLAYS = 1_000_000
DEFAULT_SEED = 1
DEFAULT_END = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_USER = "bench_listener"
EXPORT_FILE_BYTES = 12 * 1024 * 1024
PLAYS_PER_DAY = 160  # a heavy listener: 1,000,000 plays span ~17 years
MAX_DAYS = 6200  # keeps the first play after Spotify's launch (October 2008)

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

_FIRST = (
    "Ana", "José", "Zoë", "Björn", "Chloé", "Léa", "Mateo", "Sofía", "Noah", "Amélie", "Jonas", "Maja",
    "Kai", "Inès", "Luca", "Nadia", "Oskar", "Renée", "Tomás", "Yuki", "Émile", "Ingrid", "Rafael",
    "Céline", "Dmitri", "Aoife", "Søren", "Marta", "Hugo", "Lila", "Ömer", "Priya", "Sam", "Jules",
    "Mina", "Felix", "Ada", "Theo", "Nina", "Omar", "Ivy", "Leon", "Rosa", "Elias", "Kofi", "Hana",
)  # fmt: skip
_LAST = (
    "Álvarez", "Moreau", "Lindqvist", "Okafor", "Nakamura", "Brennan", "Søndergaard", "Costa", "Weiß",
    "Dubois", "Kowalski", "Haddad", "Ramírez", "Novák", "Fischer", "Quinn", "Rossi", "Larsen", "Mendes",
    "Park", "Ó Briain", "Zielińska", "Vega", "Hart", "Bianchi", "Singh", "Muñoz", "Keller", "Ivanova",
    "Mensah", "Tanaka", "Silva", "Berg", "Novak", "Khan", "Laurent", "Byrne", "Adeyemi", "Kim", "Reyes",
)  # fmt: skip
_ADJ = (
    "Velvet", "Electric", "Silent", "Golden", "Neon", "Paper", "Midnight", "Wild", "Crystal", "Lazy",
    "Broken", "Secret", "Northern", "Rusty", "Hollow", "Lunar", "Purple", "Tiny", "Frozen", "Savage",
    "Sleepy", "Burning", "Glass", "Analog", "Static", "Wandering", "Pale", "Bright", "Cosmic", "Quiet",
)  # fmt: skip
_NOUN = (
    "Owls", "Harbours", "Machines", "Tigers", "Lanterns", "Ghosts", "Rivers", "Satellites", "Foxes",
    "Mirrors", "Horses", "Pilots", "Oceans", "Wolves", "Gardens", "Echoes", "Comets", "Daughters",
    "Sons", "Arcades", "Engines", "Parades", "Saints", "Strangers", "Giants", "Islands", "Bandits",
)  # fmt: skip
_MONO = (
    "Nova", "Kairo", "Sable", "Lumen", "Vesper", "Orchid", "Halcyon", "Mirage", "Ember", "Solace",
    "Aurora", "Basalt", "Cobalt", "Dune", "Fable", "Onyx", "Prism", "Quartz", "Rune", "Tundra",
    "Zephyr", "Juno", "Indigo", "Saffron", "Marlow", "Kestrel", "Wren", "Lyric", "Oberon", "Cirrus",
)  # fmt: skip
_WORDS = (
    "Love", "Night", "Summer", "Heart", "Fire", "Rain", "Dream", "Light", "Road", "Home", "Gold", "Blue",
    "Dance", "Shadow", "Sky", "Time", "City", "Ocean", "Storm", "Sun", "Moon", "Stars", "Wine", "Glass",
    "Corazón", "Canción", "Été", "Mañana", "Señorita", "Niño", "Über", "Café", "Forêt", "Noël", "Saudade",
    "Don’t", "Can't", "Forever", "Again", "Tonight", "Alone", "Together", "Slow", "Fast", "Wild", "Lost",
    "Paradise", "Highway", "Letters", "Paper", "Coffee", "Sugar", "Thunder", "Echo", "Neon", "Honey",
    "Midnight", "Runaway", "Ghost", "Mirror", "Velvet", "Wonder", "River", "Static", "Satellite",
)  # fmt: skip
_SUFFIXES = (" - Remastered 2011", " - Live", " - Acoustic", " - Radio Edit", " (Remix)", " - Demo")
_GENRES = (
    "indie pop", "indie rock", "latin hip hop", "mexican hip hop", "reggaeton", "k-pop", "j-pop",
    "dance pop", "edm", "house", "techno", "deep house", "jazz", "bossa nova", "classical", "soul",
    "r&b", "neo soul", "trap", "drill", "alt z", "bedroom pop", "shoegaze", "metal", "punk", "folk",
    "singer-songwriter", "country", "afrobeats", "amapiano", "lo-fi beats", "chanson", "schlager",
)  # fmt: skip
_LABELS = ("Atlantic Records", "Republic Records", "XL Recordings", "Sub Pop", "Warp", "Columbia", "4AD")
_PLATFORMS = (("android", 45), ("ios", 20), ("windows", 15), ("osx", 8), ("web_player", 7), ("linux", 5))
_TRAVEL = ("FR", "ES", "IT", "NL", "GB", "US", "PT", "AT", "PL", "SE")
_SHOWS = (
    "The Daily Digest", "Café con Ciencia", "History Hour", "Mythical Monsters", "Deep Work Radio",
    "The Psychology of your 20s", "Bobo's Void", "Football Weekly", "Science Vs", "Tech Talk Tonight",
)  # fmt: skip

SECOND = 1000
END_MARGIN_MS = 15 * 60 * SECOND  # the last play ends at least this long before `end`


# --------------------------------------------------------------------------------------------------
# The catalogue


@dataclass(slots=True)
class Artist:
    id: str
    name: str
    genres: list[str] | None
    popularity: int
    followers: int


@dataclass(slots=True)
class Album:
    id: str
    name: str
    album_type: str
    release_date: str
    precision: str
    artist: int  # index into Catalogue.artists
    tracks: list[int] = field(default_factory=list)
    label: str = ""


@dataclass(slots=True)
class Track:
    id: str
    name: str
    album: int
    duration_ms: int
    explicit: bool
    track_number: int
    isrc: str
    popularity: int
    artists: tuple[int, ...]  # position 0 = main


@dataclass(slots=True)
class Episode:
    id: str
    name: str
    show_name: str
    show_id: str
    duration_ms: int


@dataclass
class Catalogue:
    artists: list[Artist]
    albums: list[Album]
    tracks: list[Track]
    episodes: list[Episode]
    track_cum: list[float]  # cumulative popularity weights of tracks, for weighted picks
    artist_tracks: list[list[int]]
    artist_track_cum: list[list[float]]


def default_sizes(plays: int) -> tuple[int, int]:
    """(tracks, artists) for a history of `plays`: 50,000 and 8,000 at a million, sublinear below."""
    tracks = max(30, round(50_000 * (plays / 1_000_000) ** 0.8))
    return tracks, max(8, round(tracks / 6.25))


def _new_id(rng: random.Random, used: set[str]) -> str:
    while True:
        value = "".join(rng.choices(BASE62, k=22))
        if value not in used:
            used.add(value)
            return value


def _artist_name(rng: random.Random) -> str:
    shape = rng.random()
    if shape < 0.35:
        return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    if shape < 0.55:
        return f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)}"
    if shape < 0.70:
        return f"{rng.choice(_ADJ)} {rng.choice(_NOUN)}"
    if shape < 0.85:
        return rng.choice(_MONO) + rng.choice(("", "", " & the " + rng.choice(_NOUN), " Club", "X"))
    return f"{rng.choice(('DJ ', 'Lil ', 'MC ', ''))}{rng.choice(_MONO)} {rng.choice(_LAST)}"


def _title(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[0].upper() + text[1:]


def build_catalogue(tracks: int, artists: int, seed: int) -> Catalogue:
    """Artists, albums and tracks with Zipf-like popularity weights, deterministic in `seed`."""
    rng = random.Random(f"catalogue:{seed}:{tracks}:{artists}")
    used: set[str] = set()
    names: set[str] = set()
    artist_list: list[Artist] = []
    for _ in range(artists):
        name = _artist_name(rng)
        for _attempt in range(20):
            if name not in names:
                break
            name = _artist_name(rng)
        else:
            name = f"{rng.choice(_FIRST)} {rng.choice(_MONO)} {rng.choice(_LAST)}"  # a roomier pattern
        names.add(name)
        roll = rng.random()
        genres = None if roll < 0.05 else [] if roll < 0.15 else rng.sample(_GENRES, rng.randint(1, 3))
        artist_list.append(Artist(_new_id(rng, used), name, genres, 0, 0))

    # Popularity: rank r (random order) gets weight 1/(r+1)^0.85. Bigger artists also have more tracks.
    order = list(range(artists))
    rng.shuffle(order)
    artist_weight = [0.0] * artists
    for rank, index in enumerate(order):
        artist_weight[index] = 1.0 / (rank + 1) ** 0.85
        artist_list[index].popularity = max(1, min(100, int(100 - 12 * math.log(rank + 1))))
        artist_list[index].followers = int(8_000_000 / (rank + 1) ** 1.2 + rng.randint(50, 5000))
    share = [w**0.35 for w in artist_weight]
    total_share = sum(share)
    counts = [max(1, int(tracks * s / total_share)) for s in share]
    # Make the counts add up to exactly `tracks` (most popular artists absorb the difference).
    difference = tracks - sum(counts)
    by_weight = sorted(range(artists), key=lambda i: -artist_weight[i])
    cycle = itertools.cycle(by_weight)
    while difference != 0:
        index = next(cycle)
        if difference > 0:
            counts[index] += 1
            difference -= 1
        elif counts[index] > 1:
            counts[index] -= 1
            difference += 1

    album_list: list[Album] = []
    track_list: list[Track] = []
    track_weight: list[float] = []
    artist_cum = list(itertools.accumulate(artist_weight))
    for artist_index in range(artists):
        remaining = counts[artist_index]
        hit_rank = 0
        while remaining > 0:
            roll = rng.random()
            size = rng.randint(8, 16) if roll < 0.45 else rng.randint(4, 6) if roll < 0.65 else 1
            size = min(size, remaining)
            remaining -= size
            kind = "album" if size >= 7 else "single" if size <= 3 else rng.choice(("single", "album"))
            year = max(1958, 2025 - int(rng.expovariate(1 / 9)))
            precision = "year" if year < 1990 and rng.random() < 0.7 else "day"
            released = (
                str(year)
                if precision == "year"
                else (date(year, 1, 1) + timedelta(days=rng.randrange(365))).isoformat()
            )
            album = Album(
                _new_id(rng, used),
                _title(rng, rng.randint(1, 3)),
                kind,
                released,
                precision,
                artist_index,
                label=rng.choice(_LABELS),
            )
            album_index = len(album_list)
            album_list.append(album)
            for number in range(1, size + 1):
                performers = [artist_index]
                if rng.random() < 0.17:
                    for _ in range(1 if rng.random() < 0.8 else 2):
                        featured = bisect.bisect_left(artist_cum, rng.random() * artist_cum[-1])
                        featured = min(featured, artists - 1)
                        if featured not in performers:
                            performers.append(featured)
                name = _title(rng, rng.randint(1, 4))
                if len(performers) > 1 and rng.random() < 0.5:
                    name += " (feat. " + ", ".join(artist_list[p].name for p in performers[1:]) + ")"
                elif rng.random() < 0.04:
                    name += rng.choice(_SUFFIXES)
                duration = int(min(600_000, max(45_000, rng.gauss(205_000, 55_000))))
                weight = artist_weight[artist_index] / (hit_rank + 1) ** 0.85 * rng.lognormvariate(0, 0.5)
                hit_rank += 1
                album.tracks.append(len(track_list))
                track_list.append(
                    Track(
                        _new_id(rng, used),
                        name,
                        album_index,
                        duration,
                        rng.random() < 0.18,
                        number,
                        f"{rng.choice(('US', 'GB', 'DE', 'SE', 'FR'))}{rng.randrange(10**9, 10**10)}",
                        max(0, min(100, artist_list[artist_index].popularity - rng.randint(0, 25))),
                        tuple(performers),
                    )
                )
                track_weight.append(weight)

    episodes: list[Episode] = []
    for show in _SHOWS:
        show_id = _new_id(rng, used)
        for number in range(1, 31):
            episodes.append(
                Episode(
                    _new_id(rng, used),
                    f"#{number}: {_title(rng, rng.randint(2, 4))}",
                    show,
                    show_id,
                    rng.randint(15, 75) * 60_000,
                )
            )

    artist_tracks: list[list[int]] = [[] for _ in range(artists)]
    for index, track in enumerate(track_list):
        artist_tracks[track.artists[0]].append(index)
    artist_track_cum = [list(itertools.accumulate(track_weight[t] for t in ts)) for ts in artist_tracks]
    return Catalogue(
        artist_list,
        album_list,
        track_list,
        episodes,
        list(itertools.accumulate(track_weight)),
        artist_tracks,
        artist_track_cum,
    )


# --------------------------------------------------------------------------------------------------
# The history


class Play(NamedTuple):
    """One play as the export records it. `item` indexes tracks (or episodes when `episode`)."""

    episode: bool
    ts: int  # end of the play, seconds since 1970
    item: int
    ms_played: int
    platform: str
    country: str
    ip: str
    reason_start: str
    reason_end: str
    shuffle: bool
    skipped: bool
    offline: bool
    incognito: bool
    context_type: str | None
    context_uri: str | None


def default_days(plays: int) -> int:
    """How many days a history of `plays` spans (about 160 plays a day, at most ~17 years)."""
    return max(7, min(MAX_DAYS, math.ceil(plays / PLAYS_PER_DAY)))


def _daily_quotas(
    rng: random.Random, plays: int, start: date, days: int, caps: dict[int, int] | None = None
) -> list[int]:
    weights = []
    for offset in range(days):
        weekday = (start + timedelta(days=offset)).weekday()
        silent = rng.random() < 0.04
        weights.append(0.0 if silent else (1.25 if weekday >= 5 else 1.0) * rng.lognormvariate(0, 0.45))
    if not any(weights):
        weights[0] = 1.0
    total = sum(weights)
    quotas = [int(plays * w / total) for w in weights]
    # Hand out what flooring left over to the busiest days, one each.
    for index in sorted(range(days), key=lambda i: -weights[i])[: plays - sum(quotas)]:
        quotas[index] += 1
    # No day holds more than fits in its listening window (so no day spills into the next, and none
    # past `end`); the others take the rest, busiest first.
    caps = caps or {}
    excess = 0
    for index, cap in caps.items():
        excess += max(0, quotas[index] - cap)
        quotas[index] = min(quotas[index], cap)
    order = sorted(range(days), key=lambda i: -weights[i])
    while excess:
        moved = 0
        for index in order:
            if quotas[index] < caps.get(index, plays) and excess:
                quotas[index] += 1
                excess -= 1
                moved += 1
        if not moved:
            raise ValueError(f"{plays:,} plays do not fit in {days} days (about 180 a day at most)")
    return quotas


def _midnight_ms(day: date) -> int:
    return int(datetime.combine(day, datetime.min.time(), UTC).timestamp()) * SECOND


class _State:
    """Where the listener is: the clock (ms) and the last second used (export `ts` is unique)."""

    def __init__(self, cursor_ms: int) -> None:
        self.cursor_ms = cursor_ms
        self.last_ts = 0

    def finish(self, ms_played: int) -> int:
        ts = (self.cursor_ms + ms_played) // SECOND
        if ts <= self.last_ts:
            ts = self.last_ts + 1
        self.last_ts = ts
        return ts


def iter_history(
    catalogue: Catalogue,
    plays: int,
    seed: int = DEFAULT_SEED,
    *,
    end: datetime = DEFAULT_END,
    days: int | None = None,
    podcasts: bool = True,
) -> Iterator[Play]:
    """Every play in time order: exactly `plays` track plays, plus podcast episodes when `podcasts`.

    Every play ends before `end`; the last day is the one `end` falls in (or the day before, when `end`
    is midnight), so a history ending now has plays today.
    """
    rng = random.Random(f"history:{seed}:{plays}")
    days = days or default_days(plays)
    end_ms = int(end.timestamp() * 1000)
    last_day = (end - timedelta(milliseconds=1)).astimezone(UTC).date()
    first_day = last_day - timedelta(days=days - 1)
    # What fits in each day's listening window: 60% of it at the mean play length, counted from the
    # latest start of a day, leaves room for a podcast session and for longer plays than the mean.
    caps = {}
    for offset in range(days):
        midnight = _midnight_ms(first_day + timedelta(days=offset))
        window = min(midnight + 25 * 3600 * SECOND, end_ms - END_MARGIN_MS) - (midnight + 10 * 3600 * SECOND)
        caps[offset] = max(0, int(0.6 * window / (175 * SECOND)))
    quotas = _daily_quotas(rng, plays, first_day, days, caps)
    platforms = [name for name, _ in _PLATFORMS]
    platform_cum = list(itertools.accumulate(weight for _, weight in _PLATFORMS))
    playlists = [
        "spotify:playlist:" + "".join(rng.choices(BASE62, k=22))
        for _ in range(max(3, min(60, plays // 2000)))
    ]
    tracks = catalogue.tracks
    n_tracks = len(tracks)
    state = _State(_midnight_ms(first_day))
    home_ip = f"192.0.2.{rng.randint(1, 254)}"

    for offset, quota in enumerate(quotas):
        midnight_ms = _midnight_ms(first_day + timedelta(days=offset))
        day_start = midnight_ms + rng.randint(6 * 3600, 10 * 3600) * SECOND
        # Until 01:00 the next night, or shortly before `end`.
        window_end = min(midnight_ms + 25 * 3600 * SECOND, end_ms - END_MARGIN_MS)
        state.cursor_ms = max(state.cursor_ms + 30 * 60 * SECOND, day_start)
        sizes: list[int] = []
        left = quota
        while left > 0:
            size = min(left, 1 + int(rng.expovariate(1 / 11)))
            sizes.append(size)
            left -= size
        podcast_at = rng.randrange(len(sizes) + 1) if podcasts and rng.random() < 0.25 else -1
        if offset >= days - 2 and end_ms - midnight_ms < 26 * 3600 * SECOND:
            podcast_at = -1  # an episode can last over an hour: none on a day `end` cuts short
        listening = quota * 175 * SECOND + (3 * 3600 * SECOND if podcast_at >= 0 else 0)
        # The pauses between sessions share 85% of the free time, in random proportions (their sum is
        # fixed, so the day ends inside its window; plays average less than the 175 s counted).
        shares = [rng.uniform(0.2, 1.8) for _ in range(len(sizes) + 1)]
        free = max(0, window_end - state.cursor_ms - listening) * 0.85 / sum(shares)
        travelling = rng.random() < 0.05
        country = rng.choice(_TRAVEL) if travelling else "DE"

        for session_index in range(len(sizes) + 1):
            if session_index == podcast_at:
                yield from _podcast_session(rng, catalogue, state, platforms, platform_cum, country, home_ip)
            if session_index == len(sizes):
                break
            state.cursor_ms += int(free * shares[session_index]) + SECOND
            size = sizes[session_index]
            platform = platforms[bisect.bisect_left(platform_cum, rng.random() * platform_cum[-1])]
            ip = home_ip if rng.random() < 0.7 else f"198.51.100.{rng.randint(1, 254)}"
            offline = rng.random() < 0.03
            incognito = rng.random() < 0.005
            mode = rng.random()
            if mode < 0.15:  # an album, in order, from its first track
                seed_track = tracks[
                    bisect.bisect_left(catalogue.track_cum, rng.random() * catalogue.track_cum[-1])
                ]
                album = catalogue.albums[seed_track.album]
                picks = [album.tracks[i % len(album.tracks)] for i in range(size)]
                shuffle = False
                context_type, context_uri = "album", f"spotify:album:{album.id}"
            elif mode < 0.30:  # one artist's tracks
                seed_track = tracks[
                    bisect.bisect_left(catalogue.track_cum, rng.random() * catalogue.track_cum[-1])
                ]
                artist = seed_track.artists[0]
                own = catalogue.artist_tracks[artist]
                picks = rng.choices(own, cum_weights=catalogue.artist_track_cum[artist], k=size)
                shuffle = rng.random() < 0.5
                context_type = "artist"
                context_uri = f"spotify:artist:{catalogue.artists[artist].id}"
            else:  # a playlist or the liked songs
                picks = rng.choices(range(n_tracks), cum_weights=catalogue.track_cum, k=size)
                shuffle = rng.random() < 0.5
                if rng.random() < 0.7:
                    context_type, context_uri = "playlist", rng.choice(playlists)
                else:
                    context_type, context_uri = "collection", None
            reason_start = rng.choice(("clickrow", "clickrow", "playbtn", "appload", "remote"))
            for position, pick in enumerate(picks):
                duration = tracks[pick].duration_ms
                roll = rng.random()
                last = position == size - 1
                if roll < 0.22:
                    ms_played = rng.randint(300, min(duration, 40_000))
                    reason_end, skipped = ("fwdbtn" if rng.random() < 0.93 else "backbtn"), True
                elif last or roll < 0.27:
                    ms_played = rng.randint(min(duration, 30_000), duration)
                    reason_end = rng.choice(("endplay", "endplay", "logout", "unexpected-exit-while-paused"))
                    skipped = False
                else:
                    ms_played = duration - rng.randint(0, 400)
                    reason_end, skipped = "trackdone", False
                ts = state.finish(ms_played)
                yield Play(
                    False,
                    ts,
                    pick,
                    ms_played,
                    platform,
                    country,
                    ip,
                    reason_start,
                    reason_end,
                    shuffle,
                    skipped,
                    offline,
                    incognito,
                    context_type,
                    context_uri,
                )
                reason_start = reason_end if reason_end in ("trackdone", "fwdbtn", "backbtn") else "clickrow"
                state.cursor_ms = ts * SECOND + rng.randint(50, 1500)


_NO_FLAGS = (False, False, False, False, None, None)  # shuffle, skipped, offline, incognito, context


def _podcast_session(
    rng: random.Random,
    catalogue: Catalogue,
    state: _State,
    platforms: list[str],
    platform_cum: list[int],
    country: str,
    ip: str,
) -> Iterator[Play]:
    state.cursor_ms += rng.randint(5, 30) * 60 * SECOND
    platform = platforms[bisect.bisect_left(platform_cum, rng.random() * platform_cum[-1])]
    show = rng.randrange(len(_SHOWS))
    for _ in range(rng.randint(1, 2)):
        index = show * 30 + rng.randrange(30)
        duration = catalogue.episodes[index].duration_ms
        ms_played = duration if rng.random() < 0.6 else rng.randint(60_000, duration)
        ts = state.finish(ms_played)
        reason_end = "endplay" if ms_played < duration else "trackdone"
        yield Play(True, ts, index, ms_played, platform, country, ip, "clickrow", reason_end, *_NO_FLAGS)
        state.cursor_ms = ts * SECOND + rng.randint(500, 5000)


# --------------------------------------------------------------------------------------------------
# Output


@dataclass
class Summary:
    """What was generated: counts to check a benchmark measured what it meant to."""

    plays: int = 0
    episode_plays: int = 0
    tracks: int = 0
    artists: int = 0
    albums: int = 0
    episodes: int = 0
    distinct_tracks_played: int = 0
    ms_played: int = 0  # music only
    first_played_at: datetime | None = None
    last_played_at: datetime | None = None
    files: list[Path] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0

    @property
    def records(self) -> int:
        """Export records: track plays and episode plays."""
        return self.plays + self.episode_plays


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _record(catalogue: Catalogue, play: Play) -> dict[str, Any]:
    if play.episode:
        episode = catalogue.episodes[play.item]
        track_name = artist_name = album_name = track_uri = None
        episode_name, show_name = episode.name, episode.show_name
        episode_uri: str | None = f"spotify:episode:{episode.id}"
    else:
        track = catalogue.tracks[play.item]
        track_name = track.name
        artist_name = catalogue.artists[track.artists[0]].name
        album_name = catalogue.albums[track.album].name
        track_uri = f"spotify:track:{track.id}"
        episode_name = show_name = episode_uri = None
    # Key order as Spotify writes it.
    return {
        "ts": _iso(play.ts),
        "platform": play.platform,
        "ms_played": play.ms_played,
        "conn_country": play.country,
        "ip_addr": play.ip,
        "master_metadata_track_name": track_name,
        "master_metadata_album_artist_name": artist_name,
        "master_metadata_album_album_name": album_name,
        "spotify_track_uri": track_uri,
        "episode_name": episode_name,
        "episode_show_name": show_name,
        "spotify_episode_uri": episode_uri,
        "audiobook_title": None,
        "audiobook_uri": None,
        "audiobook_chapter_uri": None,
        "audiobook_chapter_title": None,
        "reason_start": play.reason_start,
        "reason_end": play.reason_end,
        "shuffle": play.shuffle,
        "skipped": play.skipped,
        "offline": play.offline,
        "offline_timestamp": play.ts - play.ms_played // SECOND,
        "incognito_mode": play.incognito,
    }


def _catalogue_for(plays: int, seed: int, tracks: int | None, artists: int | None) -> Catalogue:
    default_tracks, default_artists = default_sizes(plays)
    return build_catalogue(tracks or default_tracks, artists or default_artists, seed)


def _tally(summary: Summary, play: Play, played: set[int]) -> None:
    if play.episode:
        summary.episode_plays += 1
        return
    summary.plays += 1
    summary.ms_played += play.ms_played
    played.add(play.item)


def _finish(
    summary: Summary, catalogue: Catalogue, first: int | None, last: int | None, played: set[int]
) -> None:
    summary.tracks = len(catalogue.tracks)
    summary.artists = len(catalogue.artists)
    summary.albums = len(catalogue.albums)
    summary.episodes = len(catalogue.episodes)
    summary.distinct_tracks_played = len(played)
    if first is not None and last is not None:
        summary.first_played_at = datetime.fromtimestamp(first, UTC)
        summary.last_played_at = datetime.fromtimestamp(last, UTC)


def generate_exports(
    directory: str | Path,
    plays: int = DEFAULT_PLAYS,
    seed: int = DEFAULT_SEED,
    *,
    tracks: int | None = None,
    artists: int | None = None,
    end: datetime = DEFAULT_END,
    days: int | None = None,
    podcasts: bool = True,
    max_bytes: int = EXPORT_FILE_BYTES,
    as_zip: bool = False,
    years_in_names: bool = True,
    rewrite: Callable[[dict[str, Any]], None] | None = None,
) -> Summary:
    """Write the history as Spotify's extended streaming history files into `directory`.

    Files are `Streaming_History_Audio_<years>_<n>.json` (`Streaming_History_Audio_<n>.json` without
    `years_in_names`), JSON arrays indented like Spotify's, each at most about `max_bytes`. With
    `as_zip`, they are packed instead into `my_spotify_data.zip` under
    `Spotify Extended Streaming History/` next to a read-me PDF, as Spotify sends them. `rewrite`
    changes each record in place before it is written (other history shapes for benchmarks); the
    summary's catalogue counts then describe the catalogue before the rewrite.
    """
    started = time.perf_counter()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    catalogue = _catalogue_for(plays, seed, tracks, artists)
    summary = Summary()
    played: set[int] = set()
    first: int | None = None
    last: int | None = None
    archive = (
        zipfile.ZipFile(directory / "my_spotify_data.zip", "w", zipfile.ZIP_DEFLATED) if as_zip else None
    )
    folder = "Spotify Extended Streaming History/"

    pieces: list[bytes] = []
    size = 0
    years: list[int] = []

    def flush() -> None:
        nonlocal pieces, size, years
        if not pieces:
            return
        span = f"{years[0]}" if years[0] == years[-1] else f"{years[0]}-{years[-1]}"
        name = (
            f"Streaming_History_Audio_{span}_{files}.json"
            if years_in_names
            else f"Streaming_History_Audio_{files}.json"
        )
        # The same bytes as orjson.dumps(records, option=OPT_INDENT_2), built record by record so a
        # file's size is known while filling it.
        data = b"[\n" + b",\n".join(pieces) + b"\n]"
        if archive is not None:
            archive.writestr(folder + name, data)
        else:
            (directory / name).write_bytes(data)
            summary.files.append(directory / name)
        summary.bytes += len(data)
        pieces, size, years = [], 0, []

    files = 0
    for play in iter_history(catalogue, plays, seed, end=end, days=days, podcasts=podcasts):
        _tally(summary, play, played)
        first = play.ts if first is None else first
        last = play.ts
        record = _record(catalogue, play)
        if rewrite is not None:
            rewrite(record)
        piece = b"  " + orjson.dumps(record, option=orjson.OPT_INDENT_2).replace(b"\n", b"\n  ")
        if pieces and size + len(piece) + 2 > max_bytes:
            flush()
            files += 1
        pieces.append(piece)
        size += len(piece) + 2
        year = time.gmtime(play.ts).tm_year
        if not years or years[-1] != year:
            years.append(year)
    flush()
    if archive is not None:
        archive.writestr(folder + "ReadMeFirst_ExtendedStreamingHistory.pdf", _README_PDF)
        archive.close()
        summary.files.append(directory / "my_spotify_data.zip")
    _finish(summary, catalogue, first, last, played)
    summary.seconds = time.perf_counter() - started
    return summary


# A minimal valid PDF: the read-me Spotify puts in the zip (importers must skip it).
_README_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def _sqlite_time(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S.000", time.gmtime(ts))


def _pg_time(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(ts))


def generate_database(
    url: str,
    plays: int = DEFAULT_PLAYS,
    seed: int = DEFAULT_SEED,
    *,
    tracks: int | None = None,
    artists: int | None = None,
    end: datetime = DEFAULT_END,
    days: int | None = None,
    podcasts: bool = True,
    user_id: str = DEFAULT_USER,
    display_name: str = "Bench Listener",
    catalogue_seed: int | None = None,
    api_days: int = 30,
    batch_size: int = 20_000,
) -> Summary:
    """Fill the brapped database at `url` (migrated first; `user_id` must have no plays in it) with
    the history of `user_id`.

    Every track, album and artist is resolved, as after `brapped enrich --resolve`. Plays carry the
    export's fields and real `ms_played`; those of the last `api_days` days are `source = 'both'` with
    the context sync would have added, the others `source = 'export'`.

    A household: call it once per listener with their own `user_id` and `seed` and a common
    `catalogue_seed` (and `plays`, `tracks`, `artists`): the listeners then play the same catalogue
    (loaded by the first call) with different histories.
    """
    from sqlalchemy import func, select

    from brapped.store import open_store, tables

    started = time.perf_counter()
    catalogue = _catalogue_for(plays, seed if catalogue_seed is None else catalogue_seed, tracks, artists)
    store = open_store(url)
    try:
        with store.connect() as conn:
            existing = conn.execute(
                select(func.count()).select_from(tables.plays).where(tables.plays.c.user_id == user_id)
            ).scalar_one()
            shared = conn.execute(
                select(tables.tracks.c.id).where(tables.tracks.c.id == catalogue.tracks[0].id)
            ).first()
        if existing:
            raise ValueError(
                f"{store.url} already holds {existing} plays of {user_id!r}: generate into an empty database"
            )
        pg = store.dialect == "postgresql"
        stamp = _pg_time if pg else _sqlite_time
        now = int(time.time())
        api_from = int((end - timedelta(days=api_days)).timestamp()) if api_days else None
        summary = Summary()
        played: set[int] = set()
        first: int | None = None
        last: int | None = None

        raw = store.engine.raw_connection()
        try:
            driver: Any = raw.driver_connection
            loader = _PgLoader(driver) if pg else _SqliteLoader(driver)
            loader.begin()
            account = (user_id, display_name, "DE", stamp(now))
            loader.load("accounts", ("id", "display_name", "country", "first_seen_at"), [account])
            if shared is None:  # else an earlier listener's call loaded this very catalogue
                _load_catalogue(loader, catalogue, stamp(now), pg)

            play_cols = (
                "user_id", "played_at", "track_id", "ms_played", "ms_played_source", "source",
                "context_type", "context_uri", "platform", "conn_country", "reason_start", "reason_end",
                "shuffle", "skipped", "offline", "incognito", "offline_at",
            )  # fmt: skip
            episode_cols = (
                "user_id", "played_at", "episode_id", "ms_played", "ms_played_source", "source", "platform",
                "conn_country", "reason_start", "reason_end", "shuffle", "skipped", "offline", "incognito",
            )  # fmt: skip
            track_ids = [t.id for t in catalogue.tracks]
            episode_ids = [e.id for e in catalogue.episodes]
            music: list[tuple[Any, ...]] = []
            spoken: list[tuple[Any, ...]] = []
            b = _bool if not pg else _identity
            for play in iter_history(catalogue, plays, seed, end=end, days=days, podcasts=podcasts):
                _tally(summary, play, played)
                first = play.ts if first is None else first
                last = play.ts
                both = api_from is not None and play.ts >= api_from
                if play.episode:
                    spoken.append(
                        (
                            user_id,
                            stamp(play.ts),
                            episode_ids[play.item],
                            play.ms_played,
                            "export",
                            "both" if both else "export",
                            play.platform,
                            play.country,
                            play.reason_start,
                            play.reason_end,
                            b(play.shuffle),
                            b(play.skipped),
                            b(play.offline),
                            b(play.incognito),
                        )
                    )
                    continue
                music.append(
                    (
                        user_id,
                        stamp(play.ts),
                        track_ids[play.item],
                        play.ms_played,
                        "export",
                        "both" if both else "export",
                        play.context_type if both else None,
                        play.context_uri if both else None,
                        play.platform,
                        play.country,
                        play.reason_start,
                        play.reason_end,
                        b(play.shuffle),
                        b(play.skipped),
                        b(play.offline),
                        b(play.incognito),
                        stamp(play.ts - play.ms_played // SECOND) if play.offline else None,
                    )
                )
                if len(music) >= batch_size:
                    loader.load("plays", play_cols, music)
                    music = []
            loader.load("plays", play_cols, music)
            loader.load("episode_plays", episode_cols, spoken)
            counts = json.dumps({"generated_plays": summary.plays, "seed": seed})
            loader.load(
                "runs",
                (
                    "kind",
                    "user_id",
                    "started_at",
                    "finished_at",
                    "heartbeat_at",
                    "outcome",
                    "counts",
                    "message",
                ),
                [("import", user_id, stamp(now), stamp(now), stamp(now), "ok", counts, "bench.generate")],
            )
            loader.commit()
            if pg:
                loader.analyze()
        finally:
            raw.close()
    finally:
        store.close()
    _finish(summary, catalogue, first, last, played)
    summary.seconds = time.perf_counter() - started
    return summary


def _bool(value: bool) -> int:
    return 1 if value else 0


def _identity(value: bool) -> bool:
    return value


def _load_catalogue(loader: _Loader, catalogue: Catalogue, now: str, pg: bool) -> None:
    b = _identity if pg else _bool
    loader.load(
        "artists",
        ("id", "name", "genres", "popularity", "followers", "image_url", "uri", "enriched_at"),
        [
            (
                a.id,
                a.name,
                None if a.genres is None else json.dumps(a.genres),
                a.popularity,
                a.followers,
                f"https://i.scdn.co/image/ab6761610000e5eb{a.id.lower()[:24]}",
                f"spotify:artist:{a.id}",
                now,
            )
            for a in catalogue.artists
        ],
    )
    loader.load(
        "artist_genres",
        ("artist_id", "genre"),
        [(a.id, genre) for a in catalogue.artists for genre in (a.genres or ())],
    )
    artist_ids = [a.id for a in catalogue.artists]
    loader.load(
        "albums",
        (
            "id",
            "name",
            "album_type",
            "release_date",
            "release_date_precision",
            "total_tracks",
            "image_url",
            "uri",
            "label",
            "enriched_at",
        ),
        [
            (
                al.id,
                al.name,
                al.album_type,
                al.release_date,
                al.precision,
                len(al.tracks),
                f"https://i.scdn.co/image/ab67616d0000b273{al.id.lower()[:24]}",
                f"spotify:album:{al.id}",
                al.label,
                now,
            )
            for al in catalogue.albums
        ],
    )
    loader.load(
        "album_artists",
        ("album_id", "position", "artist_id"),
        [(al.id, 0, artist_ids[al.artist]) for al in catalogue.albums],
    )
    loader.load(
        "tracks",
        (
            "id",
            "name",
            "album_id",
            "duration_ms",
            "explicit",
            "disc_number",
            "track_number",
            "isrc",
            "uri",
            "popularity",
            "is_resolved",
        ),
        [
            (
                t.id,
                t.name,
                catalogue.albums[t.album].id,
                t.duration_ms,
                b(t.explicit),
                1,
                t.track_number,
                t.isrc,
                f"spotify:track:{t.id}",
                t.popularity,
                b(True),
            )
            for t in catalogue.tracks
        ],
    )
    loader.load(
        "track_artists",
        ("track_id", "position", "artist_id"),
        [(t.id, position, artist_ids[a]) for t in catalogue.tracks for position, a in enumerate(t.artists)],
    )
    loader.load(
        "episodes",
        ("id", "kind", "name", "show_name", "uri", "show_uri"),
        [
            (e.id, "podcast", e.name, e.show_name, f"spotify:episode:{e.id}", f"spotify:show:{e.show_id}")
            for e in catalogue.episodes
        ],
    )


class _Loader:
    def begin(self) -> None: ...
    def load(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None: ...
    def commit(self) -> None: ...
    def analyze(self) -> None: ...


class _SqliteLoader(_Loader):
    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def begin(self) -> None:
        # A generated database can be regenerated: durability of the bulk load is not worth fsyncs.
        self.connection.execute("PRAGMA synchronous=OFF")
        self.connection.execute("BEGIN IMMEDIATE")

    def load(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            marks = ", ".join("?" for _ in columns)
            self.connection.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def commit(self) -> None:
        self.connection.execute("COMMIT")
        self.connection.execute("PRAGMA synchronous=NORMAL")


class _PgLoader(_Loader):
    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def begin(self) -> None:
        self.connection.autocommit = False

    def load(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        with (
            self.connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def commit(self) -> None:
        self.connection.commit()

    def analyze(self) -> None:
        self.connection.autocommit = True
        with self.connection.cursor() as cursor:
            cursor.execute("ANALYZE")


# --------------------------------------------------------------------------------------------------
# Command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    db = sub.add_parser("db", help="fill a brapped database (sqlite:///FILE or postgresql://...)")
    db.add_argument("url")
    exports = sub.add_parser("exports", help="write Streaming_History_Audio_*.json files")
    exports.add_argument("directory", type=Path)
    exports.add_argument("--zip", action="store_true", help="pack them as Spotify's my_spotify_data.zip")
    exports.add_argument("--max-mb", type=float, default=12.0, help="size of each file (default 12)")
    for command in (db, exports):
        command.add_argument(
            "--plays", type=int, default=DEFAULT_PLAYS, help="track plays (default 1,000,000)"
        )
        command.add_argument("--seed", type=int, default=DEFAULT_SEED)
        command.add_argument("--tracks", type=int, help="catalogue size (default: 50,000 at 1M plays)")
        command.add_argument("--artists", type=int, help="artists (default: tracks / 6.25)")
        command.add_argument("--days", type=int, help="days of history (default: ~160 plays a day)")
        command.add_argument("--no-podcasts", action="store_true", help="music only")
    args = parser.parse_args(argv)
    common: dict[str, Any] = {
        "tracks": args.tracks,
        "artists": args.artists,
        "days": args.days,
        "podcasts": not args.no_podcasts,
    }
    if args.what == "db":
        summary = generate_database(args.url, args.plays, args.seed, **common)
    else:
        summary = generate_exports(
            args.directory,
            args.plays,
            args.seed,
            max_bytes=int(args.max_mb * 1024 * 1024),
            as_zip=args.zip,
            **common,
        )
    print(
        f"{summary.plays:,} plays ({summary.distinct_tracks_played:,} distinct tracks of {summary.tracks:,}, "
        f"{summary.artists:,} artists, {summary.albums:,} albums), {summary.episode_plays:,} episode plays, "
        f"{summary.first_played_at:%Y-%m-%d} to {summary.last_played_at:%Y-%m-%d}, in {summary.seconds:.1f} s"
    )
    if summary.files:
        print(
            f"{len(summary.files)} file(s), {summary.bytes / 1e6:,.1f} MB in {Path(summary.files[0]).parent}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
