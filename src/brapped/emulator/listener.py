"""The simulated listener: realistic days of plays, each day generated from its own seeded RNG.

A day's plays depend only on (seed, date), so history is identical whenever it is asked for and
any day can be generated on its own in about a millisecond. A play's `played_at` is the moment it
ENDED (as Spotify's recently-played reports it); sessions start between 06:00 and 24:00 listener
local time and last at most ~3 hours, so no session of one day runs into the next day's first.
"""

from __future__ import annotations

import bisect
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from brapped.emulator.catalogue import Catalogue, new_id

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMEZONES: tuple[tuple[float, str], ...] = (  # (offset hours, conn_country)
    (-5, "US"),
    (-6, "MX"),
    (0, "GB"),
    (1, "SE"),
    (1, "FR"),
    (5.5, "IN"),
    (9, "JP"),
    (-3, "BR"),
)


@dataclass(frozen=True, slots=True)
class PlayContext:
    """Where a play was started from, as the Web API's context object names it."""

    type: str  # playlist | album | artist
    uri: str


@dataclass(frozen=True, slots=True)
class TruePlay:
    """One play as it really happened (the ground truth the API and the exports are views of)."""

    played_at: datetime  # the moment the play ENDED, millisecond precision, UTC
    started_at: datetime
    kind: str  # track | episode | chapter
    id: str
    uri: str
    ms_played: int
    duration_ms: int
    context: PlayContext | None
    platform: str  # android | ios | windows | osx | web_player
    reason_start: str
    reason_end: str
    shuffle: bool
    skipped: bool
    offline: bool
    incognito: bool
    video: bool
    conn_country: str
    ip_addr: str
    # When the app reported the play, if not as it ended: the plays of an offline session are
    # reported together once the device is back online (the export's `ts`; docs/emulator.md).
    reported_at: datetime | None = None

    @property
    def played_at_ms(self) -> int:
        """`played_at` as Unix milliseconds (the unit of recently-played cursors)."""
        return _to_ms(self.played_at)


def _to_ms(when: datetime) -> int:
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


class Listener:
    """One Spotify user with tastes, habits and playlists drawn from the seed."""

    def __init__(self, catalogue: Catalogue, seed: int, cache_days: int = 128) -> None:
        self.catalogue = catalogue
        self.seed = seed
        rng = random.Random(f"brapped-listener:{seed}")
        self.user_id = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(25))
        self.account_id = new_id(rng)[:10]
        self.display_name = rng.choice(("Listener", "Ana", "sam", "Jules ✨", "Zoë", "mateo_"))
        self.username = self.user_id
        self.utc_offset_hours, self.country = rng.choice(_TIMEZONES)
        self.member_since = date(rng.randint(2016, 2020), rng.randint(1, 12), rng.randint(1, 28))
        self.product = "premium"
        self.phone = rng.choice(("android", "ios"))
        self.desktop = rng.choice(("windows", "osx"))
        self.ip_v4 = f"192.0.2.{rng.randint(2, 254)}"
        self.ip_v6 = f"2001:db8::{rng.getrandbits(16):x}"
        tracks = catalogue.track_list
        artist_ids = [a for a in catalogue.artists if a != catalogue.various_artists_id]
        # Taste: a Zipf-weighted set of favourite artists, and tracks from them.
        self.favourite_artists = rng.sample(artist_ids, 45)
        self.artist_weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(self.favourite_artists))]
        self.favourite_tracks = [t for a in self.favourite_artists for t in catalogue.artist_tracks[a]]
        self._favourite_set = frozenset(self.favourite_tracks)
        self.playlists: list[tuple[str, str, list[str]]] = []
        for i in range(12):
            size = rng.randint(15, 80)
            picks = rng.sample(self.favourite_tracks, min(size * 2 // 3, len(self.favourite_tracks)))
            picks += rng.sample(tracks, size - len(picks))
            rng.shuffle(picks)
            name = f"{rng.choice(('Morning', 'Gym', 'Focus', 'Roadtrip', 'Sad', 'Party', 'Chill'))} {i + 1}"
            self.playlists.append((new_id(rng), name, picks))
        self.shows = rng.sample(list(catalogue.shows), 3)
        self.audiobook = rng.choice(list(catalogue.audiobooks))
        self._days: OrderedDict[date, list[TruePlay]] = OrderedDict()
        self._cache_days = cache_days
        # The served emulator and a test thread may ask for days at the same time.
        self._lock = threading.Lock()

    # -- public views -------------------------------------------------------------------------

    def day(self, day: date) -> list[TruePlay]:
        """Every play of sessions that started on `day` (listener local date), in order."""
        with self._lock:
            plays = self._days.get(day)
            if plays is None:
                plays = self._generate(day)
                self._days[day] = plays
                if len(self._days) > self._cache_days:
                    self._days.popitem(last=False)
            else:
                self._days.move_to_end(day)
            return plays

    def plays_between(self, start: datetime, end: datetime) -> list[TruePlay]:
        """Every play that ended in [start, end), oldest first."""
        if end <= start:
            return []
        out: list[TruePlay] = []
        first = self._local_date(start) - timedelta(days=1)
        last = self._local_date(end)
        d = first
        while d <= last:
            for play in self.day(d):
                if start <= play.played_at < end:
                    out.append(play)
            d += timedelta(days=1)
        return out

    def recent(self, now: datetime, count: int) -> list[TruePlay]:
        """The `count` most recent plays that count as recently played, ended at or before `now`.

        Newest first. Only tracks played for at least 30 s outside a private session count, as on
        Spotify (episodes, audiobook chapters, skips under 30 s and incognito plays never show).
        """
        out: list[TruePlay] = []
        now_ms = _to_ms(now)
        d = self._local_date(now)
        # A day starts no earlier than the account; scan back until enough plays are found.
        while len(out) < count and d >= self.member_since - timedelta(days=1):
            plays = [p for p in self.day(d) if _counts_as_recent(p)]
            ends = [p.played_at_ms for p in plays]
            upto = bisect.bisect_right(ends, now_ms)
            out.extend(reversed(plays[:upto]))
            d -= timedelta(days=1)
        return out[:count]

    def _local_date(self, when: datetime) -> date:
        return (when + timedelta(hours=self.utc_offset_hours)).date()

    # -- generation ---------------------------------------------------------------------------

    def _generate(self, day: date) -> list[TruePlay]:
        if day < self.member_since:
            return []
        rng = random.Random(f"brapped-day:{self.seed}:{day.isoformat()}")
        weekend = day.weekday() >= 5
        local_midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(
            hours=self.utc_offset_hours
        )
        midnight_ms = _to_ms(local_midnight)
        windows = [
            (7.0, 8.5),
            (9.0, 11.5),
            (12.0, 13.5),
            (14.0, 16.0),
            (16.5, 18.5),
            (19.0, 21.0),
            (21.0, 23.0),
        ]
        if weekend:
            windows = [(9.5, 11.0), (11.5, 13.0), (13.5, 16.0), (16.5, 19.0), (19.5, 23.5)]
        if rng.random() < 0.12:
            windows.append((23.0, 23.9))  # a late night
        sessions = [w for w in windows if rng.random() < 0.75]
        plays: list[TruePlay] = []
        cursor_ms = midnight_ms + 6 * 3_600_000
        podcast_today = rng.random() < 0.3
        book_today = rng.random() < 0.05
        for index, (lo, hi) in enumerate(sessions):
            start_ms = midnight_ms + int(rng.uniform(lo, hi) * 3_600_000)
            start_ms = max(start_ms, cursor_ms + rng.randint(600_000, 2_400_000))
            if start_ms >= midnight_ms + 24 * 3_600_000:
                break
            if index == 0 and podcast_today and not weekend:
                cursor_ms = self._spoken_session(rng, plays, start_ms, "episode")
            elif book_today and lo >= 19.0:
                cursor_ms = self._spoken_session(rng, plays, start_ms, "chapter")
                book_today = False
            else:
                first = len(plays)
                cursor_ms = self._music_session(rng, plays, start_ms, lo)
                if plays[first:] and plays[first].offline:
                    plays[first:] = self._reported_later(plays[first:])
        return plays

    def _reported_later(self, session: list[TruePlay]) -> list[TruePlay]:
        """An offline session's plays, all reported when the device is back online: from a minute
        to eight hours after the last one ended (its own RNG, so the day's other plays stay)."""
        last = session[-1].played_at
        rng = random.Random(f"brapped-online:{self.seed}:{last.isoformat()}")
        online = last + timedelta(milliseconds=rng.randint(60_000, 8 * 3_600_000))
        # Video plays stay: their records carry no offline flag or start (as the real Video file's).
        return [play if play.video else replace(play, reported_at=online) for play in session]

    def _platform(self, rng: random.Random, hour: float) -> str:
        if 9.0 <= hour < 18.5 and rng.random() < 0.55:
            return self.desktop
        return self.phone if rng.random() < 0.93 else "web_player"

    def _pick_track(self, rng: random.Random) -> str:
        roll = rng.random()
        if roll < 0.08:  # a discovery: anything in the catalogue
            return rng.choice(self.catalogue.track_list)
        artist = rng.choices(self.favourite_artists, self.artist_weights)[0]
        return rng.choice(self.catalogue.artist_tracks[artist])

    def _queue(self, rng: random.Random) -> tuple[PlayContext | None, list[str], bool]:
        cat = self.catalogue
        roll = rng.random()
        shuffle = rng.random() < 0.35
        if roll < 0.4:
            pid, _name, tracks = rng.choice(self.playlists)
            queue = list(tracks)
            if shuffle:
                rng.shuffle(queue)
            else:
                start = rng.randrange(len(queue))
                queue = queue[start:] + queue[:start]
            return PlayContext("playlist", f"spotify:playlist:{pid}"), queue, shuffle
        if roll < 0.65:
            artist = rng.choices(self.favourite_artists, self.artist_weights)[0]
            albums = cat.artist_albums[artist] or [cat.tracks[cat.artist_tracks[artist][0]].album_id]
            album = cat.albums[rng.choice(albums)]
            queue = list(album.track_ids)
            if shuffle:
                rng.shuffle(queue)
            return PlayContext("album", f"spotify:album:{album.id}"), queue, shuffle
        if roll < 0.75:
            artist = rng.choices(self.favourite_artists, self.artist_weights)[0]
            queue = list(cat.artist_tracks[artist])
            rng.shuffle(queue)
            return PlayContext("artist", f"spotify:artist:{artist}"), queue * 2, True
        # Liked songs, search results, a friend's link: the API reports no context.
        return None, [self._pick_track(rng) for _ in range(60)], shuffle

    def _music_session(self, rng: random.Random, plays: list[TruePlay], start_ms: int, hour: float) -> int:
        cat = self.catalogue
        platform = self._platform(rng, hour)
        offline = rng.random() < 0.03
        incognito = rng.random() < 0.02
        budget_ms = int(rng.uniform(15, 100) * 60_000)
        context, queue, shuffle = self._queue(rng)
        # The track of the week: replayed more than anything else.
        week = random.Random(f"brapped-week:{self.seed}:{(start_ms // 604_800_000)}")
        on_repeat = week.choice(self.favourite_tracks)
        t_ms = start_ms
        reason_start = rng.choice(("clickrow", "clickrow", "clickrow", "playbtn", "appload"))
        position = 0
        while t_ms - start_ms < budget_ms:
            if context is None and rng.random() < 0.12:
                track_id = on_repeat
            else:
                if position >= len(queue):
                    break
                track_id = queue[position]
                position += 1
            track = cat.tracks[track_id]
            favourite = track_id in self._favourite_set
            last = t_ms - start_ms + track.duration_ms >= budget_ms
            roll = rng.random()
            if roll < (0.1 if favourite else 0.28):
                ms = int(rng.expovariate(1 / 14_000)) if rng.random() < 0.8 else rng.randint(30_000, 90_000)
                ms = min(ms, track.duration_ms - 1)
                reason_end = "fwdbtn" if rng.random() < 0.92 else "backbtn"
            elif last and rng.random() < 0.6:
                ms = rng.randint(5_000, track.duration_ms - 1)
                reason_end = rng.choice(("endplay", "endplay", "logout", "unexpected-exit-while-paused"))
            else:
                ms, reason_end = track.duration_ms, "trackdone"
            end_ms = t_ms + ms
            plays.append(
                TruePlay(
                    played_at=_from_ms(end_ms),
                    started_at=_from_ms(t_ms),
                    kind="track",
                    id=track_id,
                    uri=f"spotify:track:{track_id}",
                    ms_played=ms,
                    duration_ms=track.duration_ms,
                    context=context,
                    platform=platform,
                    reason_start=reason_start,
                    reason_end=reason_end,
                    shuffle=shuffle,
                    skipped=reason_end in ("fwdbtn", "backbtn"),
                    offline=offline,
                    incognito=incognito,
                    video=rng.random() < 0.005,
                    conn_country=self.country,
                    ip_addr=self.ip_v6 if platform == self.phone and rng.random() < 0.4 else self.ip_v4,
                )
            )
            if reason_end not in ("trackdone", "fwdbtn", "backbtn"):
                return end_ms
            reason_start = reason_end
            t_ms = end_ms + rng.randint(0, 1_200)
        return t_ms

    def _spoken_session(self, rng: random.Random, plays: list[TruePlay], start_ms: int, kind: str) -> int:
        cat = self.catalogue
        platform = self._platform(rng, 8.0)
        t_ms = start_ms
        for _ in range(rng.choice((1, 1, 2))):
            if kind == "episode":
                show = cat.shows[rng.choice(self.shows)]
                item_id = rng.choice(show.episode_ids)
                duration = cat.episodes[item_id].duration_ms
            else:
                book = cat.audiobooks[self.audiobook]
                day_index = (start_ms // 86_400_000) % len(book.chapter_ids)
                item_id = book.chapter_ids[day_index]
                duration = cat.chapters[item_id].duration_ms
            finished = rng.random() < 0.4
            ms = duration if finished else rng.randint(60_000, duration - 1)
            end_ms = t_ms + ms
            plays.append(
                TruePlay(
                    played_at=_from_ms(end_ms),
                    started_at=_from_ms(t_ms),
                    kind=kind,
                    id=item_id,
                    uri=f"spotify:{kind}:{item_id}",
                    ms_played=ms,
                    duration_ms=duration,
                    context=None,
                    platform=platform,
                    reason_start=rng.choice(("clickrow", "playbtn")),
                    reason_end="trackdone" if finished else "endplay",
                    shuffle=False,
                    skipped=False,
                    offline=False,
                    incognito=False,
                    video=kind == "episode" and rng.random() < 0.05,
                    conn_country=self.country,
                    ip_addr=self.ip_v4,
                )
            )
            t_ms = end_ms + rng.randint(500, 5_000)
        return t_ms


def _counts_as_recent(play: TruePlay) -> bool:
    return play.kind == "track" and not play.incognito and play.ms_played >= 30_000
