"""The emulated catalogue: artists, albums, tracks, podcast episodes and audiobook chapters, from a seed.

Shaped like the real payloads: Spotify base62 ids, featured artists, singles and EPs next to albums,
a "Various Artists" compilation artist, release dates over decades with year-only precision for old
records, artists who share a name, names with accents and one track name holding HTML.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
VARIOUS_ARTISTS = "Various Artists"
HTML_TRACK_NAME = "<script>alert(1)</script>"

_FIRST = (
    "Ana",
    "José",
    "Zoë",
    "Björn",
    "Chloé",
    "Léa",
    "Mateo",
    "Sofía",
    "Noah",
    "Amélie",
    "Jonas",
    "Maja",
    "Kai",
    "Inès",
    "Luca",
    "Nadia",
    "Oskar",
    "Renée",
    "Tomás",
    "Yuki",
    "Émile",
    "Ingrid",
    "Rafael",
    "Céline",
    "Dmitri",
    "Aoife",
    "Søren",
    "Marta",
    "Hugo",
    "Lila",
    "Ömer",
    "Priya",
    "Sam",
    "Jules",
)
_LAST = (
    "Álvarez",
    "Moreau",
    "Lindqvist",
    "Okafor",
    "Nakamura",
    "Brennan",
    "Søndergaard",
    "Costa",
    "Weiß",
    "Dubois",
    "Kowalski",
    "Haddad",
    "Ramírez",
    "Novák",
    "Fischer",
    "Quinn",
    "Rossi",
    "Larsen",
    "Mendes",
    "Park",
    "Ó Briain",
    "Zielińska",
    "Vega",
    "Hart",
    "Bianchi",
    "Singh",
    "Muñoz",
    "Keller",
    "Ivanova",
)
_ADJ = (
    "Velvet",
    "Electric",
    "Silent",
    "Golden",
    "Neon",
    "Paper",
    "Midnight",
    "Wild",
    "Crystal",
    "Lazy",
    "Broken",
    "Secret",
    "Northern",
    "Rusty",
    "Hollow",
    "Lunar",
    "Purple",
    "Tiny",
    "Frozen",
    "Savage",
)
_NOUN = (
    "Owls",
    "Harbours",
    "Machines",
    "Tigers",
    "Lanterns",
    "Ghosts",
    "Rivers",
    "Satellites",
    "Foxes",
    "Mirrors",
    "Horses",
    "Pilots",
    "Oceans",
    "Wolves",
    "Gardens",
    "Echoes",
    "Comets",
    "Daughters",
)
_MONO = (
    "Nova",
    "Kairo",
    "Sable",
    "Lumen",
    "Vesper",
    "Orchid",
    "Halcyon",
    "Mirage",
    "Ember",
    "Solace",
    "Aurora",
    "Basalt",
    "Cobalt",
    "Dune",
    "Fable",
    "Onyx",
    "Prism",
    "Quartz",
    "Rune",
    "Tundra",
)
_WORDS = (
    "Love",
    "Night",
    "Summer",
    "Heart",
    "Fire",
    "Rain",
    "Dream",
    "Light",
    "Road",
    "Home",
    "Gold",
    "Blue",
    "Dance",
    "Shadow",
    "Sky",
    "Time",
    "City",
    "Ocean",
    "Storm",
    "Sun",
    "Moon",
    "Stars",
    "Wine",
    "Glass",
    "Corazón",
    "Canción",
    "Été",
    "Mañana",
    "Señorita",
    "Niño",
    "Über",
    "Café",
    "Forêt",
    "Noël",
    "Saudade",
    "Don’t",
    "Can't",
    "Forever",
    "Again",
    "Tonight",
    "Alone",
    "Together",
    "Slow",
    "Fast",
    "Wild",
    "Lost",
)
_GENRES = (
    "indie pop",
    "indie rock",
    "latin hip hop",
    "mexican hip hop",
    "reggaeton",
    "k-pop",
    "j-pop",
    "dance pop",
    "edm",
    "house",
    "techno",
    "deep house",
    "jazz",
    "bossa nova",
    "classical",
    "soul",
    "r&b",
    "neo soul",
    "trap",
    "drill",
    "alt z",
    "bedroom pop",
    "shoegaze",
    "metal",
    "punk",
    "folk",
    "singer-songwriter",
    "country",
    "afrobeats",
    "amapiano",
    "lo-fi beats",
    "chanson",
    "schlager",
)
_LABELS = (
    "Sony Music Latin",
    "Atlantic Records",
    "Republic Records",
    "XL Recordings",
    "Sub Pop",
    "Warp",
    "Rimas Entertainment",
    "Columbia",
    "Interscope",
    "Domino Recording Co",
    "Blue Note",
    "4AD",
)
_SHOWS = (
    ("Mythical Monsters ", "Spotify Studios"),
    ("The Daily Digest", "Newsroom Audio"),
    ("Café con Ciencia", "Radio Ñ"),
    ("The Psychology of your 20s", "iHeartPodcasts"),
    ("Bobo's Void", "Bobo"),
    ("History Hour", "Backlist Media"),
)
_AUDIOBOOKS = (
    ("How to Keep House While Drowning", "KC Davis LPC"),
    ("Everything I Know About Love", "Dolly Alderton"),
    ("The Age of Magical Overthinking", "Amanda Montell"),
)


@dataclass(frozen=True, slots=True)
class Artist:
    id: str
    name: str
    genres: tuple[str, ...]
    popularity: int
    followers: int
    image_key: str | None


@dataclass(slots=True)
class Album:
    id: str
    name: str
    album_type: str  # album | single | compilation
    artist_ids: tuple[str, ...]
    release_date: str
    release_date_precision: str
    image_key: str
    label: str
    popularity: int
    upc: str
    year: int
    track_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Track:
    id: str
    name: str
    album_id: str
    artist_ids: tuple[str, ...]
    disc_number: int
    track_number: int
    duration_ms: int
    explicit: bool
    isrc: str
    popularity: int
    has_preview: bool


@dataclass(frozen=True, slots=True)
class Show:
    id: str
    name: str
    publisher: str
    episode_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Episode:
    id: str
    name: str
    show_id: str
    duration_ms: int


@dataclass(frozen=True, slots=True)
class Audiobook:
    id: str
    title: str
    author: str
    chapter_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Chapter:
    id: str
    title: str
    audiobook_id: str
    duration_ms: int


def new_id(rng: random.Random) -> str:
    """A 22-character base62 id like Spotify's (62**22 is just above 2**130)."""
    n = rng.getrandbits(130)
    chars = []
    for _ in range(22):
        n, r = divmod(n, 62)
        chars.append(BASE62[r])
    return "".join(chars)


def is_base62_id(value: str) -> bool:
    """True when `value` looks like a Spotify id (22 base62 characters)."""
    return len(value) == 22 and all(c in BASE62 for c in value)


class Catalogue:
    """Everything that can be played, generated deterministically from `seed`."""

    def __init__(self, seed: int, n_artists: int = 520) -> None:
        self.seed = seed
        self.artists: dict[str, Artist] = {}
        self.albums: dict[str, Album] = {}
        self.tracks: dict[str, Track] = {}
        self.shows: dict[str, Show] = {}
        self.episodes: dict[str, Episode] = {}
        self.audiobooks: dict[str, Audiobook] = {}
        self.chapters: dict[str, Chapter] = {}
        self.artist_albums: dict[str, list[str]] = {}
        self.artist_tracks: dict[str, list[str]] = {}
        rng = random.Random(f"brapped-catalogue:{seed}")
        self._build_artists(rng, n_artists)
        self._build_releases(rng)
        self._build_compilations(rng)
        self._build_spoken(rng)
        self.track_list: list[str] = list(self.tracks)

    # -- generation ---------------------------------------------------------------------------

    def _artist_name(self, rng: random.Random) -> str:
        roll = rng.random()
        if roll < 0.35:
            return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        if roll < 0.6:
            return f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)}"
        if roll < 0.8:
            return rng.choice(_MONO) if rng.random() < 0.5 else f"{rng.choice(_MONO)} {rng.choice(_NOUN)}"
        if roll < 0.9:
            return f"{rng.choice(_ADJ)} {rng.choice(_NOUN)}"
        return (
            f"DJ {rng.choice(_MONO)}"
            if rng.random() < 0.5
            else f"{rng.choice(_FIRST)} & The {rng.choice(_NOUN)}"
        )

    def _build_artists(self, rng: random.Random, n: int) -> None:
        names: list[str] = []
        for i in range(n):
            # Every 40th artist reuses an earlier name: real catalogues hold several "Nova"s.
            name = rng.choice(names) if i % 40 == 39 and names else self._artist_name(rng)
            names.append(name)
            self._add_artist(rng, name)
        self.various_artists_id = self._add_artist(rng, VARIOUS_ARTISTS, genres=(), image=False).id

    def _add_artist(
        self, rng: random.Random, name: str, genres: tuple[str, ...] | None = None, image: bool = True
    ) -> Artist:
        if genres is None:
            genres = tuple(rng.sample(_GENRES, rng.choice((0, 1, 1, 2, 2, 3))))
        popularity = min(100, int(rng.paretovariate(1.6) * 12))
        artist = Artist(
            id=new_id(rng),
            name=name,
            genres=genres,
            popularity=popularity,
            followers=int(popularity**3.2 * rng.uniform(0.5, 2.0)),
            image_key=f"{rng.getrandbits(96):024x}" if image and rng.random() < 0.93 else None,
        )
        self.artists[artist.id] = artist
        self.artist_albums[artist.id] = []
        self.artist_tracks[artist.id] = []
        return artist

    def _release_date(self, rng: random.Random, year: int) -> tuple[str, str]:
        if year < 1995 and rng.random() < 0.6:
            return str(year), "year"
        month = rng.randint(1, 12)
        if rng.random() < 0.03:
            return f"{year}-{month:02d}", "month"
        return f"{year}-{month:02d}-{rng.randint(1, 28):02d}", "day"

    def _track_name(self, rng: random.Random) -> str:
        words = rng.sample(_WORDS, rng.choice((1, 1, 2, 2, 3)))
        name = " ".join(words)
        roll = rng.random()
        if roll < 0.04:
            name += " - Remastered"
        elif roll < 0.06:
            name += " - Live"
        elif roll < 0.08:
            name += " (Acoustic)"
        return name

    def _build_releases(self, rng: random.Random) -> None:
        artist_ids = [a for a in self.artists if a != self.various_artists_id]
        html_placed = False
        for artist_id in artist_ids:
            start_year = rng.randint(1962, 2024)
            n_releases = rng.choice((1, 1, 2, 2, 3, 3, 4, 5))
            for _ in range(n_releases):
                year = min(2026, start_year + int(rng.expovariate(0.25)))
                kind = rng.random()
                if kind < 0.45:
                    album_type, n_tracks = "album", rng.randint(7, 16)
                elif kind < 0.85:
                    album_type, n_tracks = "single", rng.choice((1, 1, 1, 2, 3))
                else:  # Spotify files EPs as singles
                    album_type, n_tracks = "single", rng.randint(4, 6)
                album = self._add_album(rng, album_type, (artist_id,), year)
                for number in range(1, n_tracks + 1):
                    name = album.name if album_type == "single" and number == 1 else self._track_name(rng)
                    if not html_placed:
                        name, html_placed = HTML_TRACK_NAME, True
                    artists: tuple[str, ...] = (artist_id,)
                    if rng.random() < 0.2:
                        featured = tuple(rng.sample(artist_ids, rng.choice((1, 1, 2))))
                        artists += tuple(f for f in featured if f != artist_id)
                        if len(artists) > 1 and rng.random() < 0.7:
                            label = "feat." if rng.random() < 0.7 else "with"
                            name += f" ({label} {self.artists[artists[1]].name})"
                    self._add_track(rng, album, name, artists, number)

    def _add_album(self, rng: random.Random, album_type: str, artists: tuple[str, ...], year: int) -> Album:
        date, precision = self._release_date(rng, year)
        name = self._track_name(rng)
        if album_type == "album" and rng.random() < 0.1:
            name += " (Deluxe Edition)"
        album = Album(
            id=new_id(rng),
            name=name,
            album_type=album_type,
            artist_ids=artists,
            release_date=date,
            release_date_precision=precision,
            image_key=f"{rng.getrandbits(96):024x}",
            label=rng.choice(_LABELS),
            popularity=rng.randint(0, 90),
            upc=f"{rng.randint(0, 10**12 - 1):012d}",
            year=year,
        )
        self.albums[album.id] = album
        for artist_id in artists:
            self.artist_albums[artist_id].append(album.id)
        return album

    def _add_track(
        self, rng: random.Random, album: Album, name: str, artists: tuple[str, ...], number: int
    ) -> Track:
        country = rng.choice(("US", "GB", "SE", "MX", "FR", "DE", "KR", "BR", "NG", "IN"))
        track = Track(
            id=new_id(rng),
            name=name,
            album_id=album.id,
            artist_ids=artists,
            disc_number=1,
            track_number=number,
            duration_ms=max(45_000, int(rng.gauss(205_000, 45_000))),
            explicit=rng.random() < 0.25,
            isrc=f"{country}{rng.choice(('UM7', 'A17', 'SM1', 'WB1', 'RC3', 'Z03'))}"
            f"{album.year % 100:02d}{rng.randint(0, 99999):05d}",
            popularity=rng.randint(0, 95),
            has_preview=rng.random() < 0.3,
        )
        self.tracks[track.id] = track
        album.track_ids.append(track.id)
        for artist_id in artists:
            self.artist_tracks[artist_id].append(track.id)
        return track

    def _build_compilations(self, rng: random.Random) -> None:
        pool = [a for a in self.artists if a != self.various_artists_id]
        for _ in range(15):
            album = self._add_album(rng, "compilation", (self.various_artists_id,), rng.randint(1975, 2025))
            album.name = f"{rng.choice(('Best of', 'Hits', 'Classics', 'Chill', 'Party'))} {album.year}"
            for number in range(1, rng.randint(12, 24) + 1):
                self._add_track(rng, album, self._track_name(rng), (rng.choice(pool),), number)

    def _build_spoken(self, rng: random.Random) -> None:
        for show_name, publisher in _SHOWS:
            show_id = new_id(rng)
            episodes = []
            for i in range(1, 41):
                ep = Episode(
                    new_id(rng), f"{i}. {self._track_name(rng)}", show_id, rng.randint(900, 4800) * 1000
                )
                self.episodes[ep.id] = ep
                episodes.append(ep.id)
            self.shows[show_id] = Show(show_id, show_name, publisher, tuple(episodes))
        for title, author in _AUDIOBOOKS:
            book_id = new_id(rng)
            chapters = []
            for i in range(1, 21):
                ch = Chapter(new_id(rng), f"Chapter {i}", book_id, rng.randint(600, 2400) * 1000)
                self.chapters[ch.id] = ch
                chapters.append(ch.id)
            self.audiobooks[book_id] = Audiobook(book_id, title, author, tuple(chapters))


@functools.lru_cache(maxsize=8)
def catalogue_for(seed: int) -> Catalogue:
    """The catalogue of `seed`, built once per process: it is never changed after it is built,
    so emulators with the same seed share it (docs/decisions.md, "Emulator")."""
    return Catalogue(seed)
