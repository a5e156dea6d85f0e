"""What a history file becomes: its format's name, its plays as rows (or columns), the parsed file.

Times come out as UTC text `YYYY-MM-DD HH:MM:SS.fff` (the order-preserving form brapped stores).
Two plays of one track that end within the export's precision (the same second in extended history,
the same minute in account data: rapid skips) would be one row under the plays table's unique key,
so the n-th of them, ordered by content, ends n milliseconds later (`spread_ends`). Ordering by
content rather than by position keeps that stable when the same plays arrive again in another download.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any, NamedTuple, TypeVar

EXTENDED = "extended"  # Streaming_History_Audio_*.json / Streaming_History_Video_*.json
ENDSONG = "endsong"  # the older extended format, endsong_N.json / endvideo_N.json
ACCOUNT_MUSIC = "account_music"  # StreamingHistory_music_N.json, StreamingHistoryN.json
ACCOUNT_PODCAST = "account_podcast"
ACCOUNT_AUDIOBOOK = "account_audiobook"
FORMATS = (EXTENDED, ENDSONG, ACCOUNT_MUSIC, ACCOUNT_PODCAST, ACCOUNT_AUDIOBOOK)
ACCOUNT_FORMATS = (ACCOUNT_MUSIC, ACCOUNT_PODCAST, ACCOUNT_AUDIOBOOK)

R = TypeVar("R", "MusicRow", "EpisodeRow")

SKIP_NO_CONTENT = "no track, episode or chapter"
SKIP_LOCAL = "local file or track without a Spotify URI"
SKIP_NO_NAMES = "no track or artist name"
SKIP_OTHER_URI = "unrecognised URI"


class MusicRow(NamedTuple):
    """One music play, ready for the `plays` table (plus the names its dimension rows need)."""

    played_at: str
    track_id: str
    track_name: str
    artist_id: str | None
    artist_name: str | None
    album_id: str | None
    album_name: str | None
    uri: str | None
    ms_played: int
    platform: str | None
    conn_country: str | None
    reason_start: str | None
    reason_end: str | None
    shuffle: bool | None
    skipped: bool | None
    offline: bool | None
    incognito: bool | None
    offline_ms: int | None  # Unix ms the play started offline (SQL turns it into `offline_at`)
    ip_addr: str | None
    user_agent: str | None
    origin: str  # 'extended' (real track id) or 'account' (name-based id)
    # Unix ms the export reported the play (`ts`) when `played_at` is not that: an offline play
    # moved to its real end (`brapped.imports.fields.offline_end`; SQL turns it into `reported_at`).
    reported_ms: int | None = None


class EpisodeRow(NamedTuple):
    """One podcast-episode or audiobook-chapter play, for `episode_plays` and `episodes`."""

    played_at: str
    episode_id: str
    kind: str  # 'podcast' | 'audiobook'
    name: str
    show_name: str | None
    uri: str | None
    show_uri: str | None
    ms_played: int
    platform: str | None
    conn_country: str | None
    reason_start: str | None
    reason_end: str | None
    shuffle: bool | None
    skipped: bool | None
    offline: bool | None
    incognito: bool | None
    ip_addr: str | None
    user_agent: str | None
    origin: str


# A music play's few-valued fields, in `MusicRow`'s order: a file has a few hundred distinct ones.
PROFILE_FIELDS = (
    "platform",
    "conn_country",
    "reason_start",
    "reason_end",
    "shuffle",
    "skipped",
    "offline",
    "incognito",
    "ip_addr",
    "user_agent",
    "origin",
)
# A music play's track, album and artist fields, in `MusicRow`'s order: one per distinct track.
DIMENSION_FIELDS = ("track_id", "track_name", "artist_id", "artist_name", "album_id", "album_name", "uri")
# The fields of a dimension as one text (`dimension_key`): a bulk load compares a file's few
# thousand with the ones it loaded, and one text is cheaper to hash and to send between processes
# than a tuple of seven (docs/decisions.md, "Import staging"). No accepted value holds a control
# character (the readers refuse names with one, ids and URIs are checked), so these two cannot
# clash with a value.
FIELD_SEPARATOR = "\x1f"
ABSENT = "\x00"


def dimension_key(fields: Sequence[str | None]) -> str:
    """The dimension fields (`DIMENSION_FIELDS`) as one text; `dimension_fields` reads it back."""
    return FIELD_SEPARATOR.join(ABSENT if value is None else value for value in fields)


def dimension_fields(key: str) -> tuple[str | None, ...]:
    """The dimension fields `dimension_key` made `key` of."""
    return tuple(None if value == ABSENT else value for value in key.split(FIELD_SEPARATOR))


@dataclass
class MusicColumns:
    """A file's music plays a column at a time, as a bulk load stages them (`brapped.imports.worker`).

    The same plays as a list of `MusicRow` (`rows`), in the same order: each play's own values, and
    the numbers of its profile (`PROFILE_FIELDS`) and of its dimension fields (`DIMENSION_FIELDS`)
    among the distinct ones (a number is where the value first occurs; the dictionaries are in
    that order). Built from the rows (`of`), or by the fast reading of
    extended history straight from the decoded records, which never makes the rows at all.
    """

    played_at: list[str]
    track_id: list[str]
    ms_played: list[int]
    offline_ms: list[int | None]
    profile: list[int]
    profiles: dict[int, tuple[Any, ...]]
    dimension: list[int]
    dimensions: dict[int, str]  # each as `dimension_key` gives it
    reported_ms: list[int | None]  # `MusicRow.reported_ms`: None but for offline plays moved

    def __len__(self) -> int:
        return len(self.played_at)

    @classmethod
    def of(cls, rows: Sequence[MusicRow]) -> MusicColumns:
        """The columns of `rows` (numbered in first-seen order, with C-level passes only)."""
        profile, profiles = numbered(list(map(_profile_fields, rows)))
        dimension, dimensions = numbered(list(map(_dimension_fields, rows)))
        keys = {number: dimension_key(fields) for number, fields in dimensions.items()}
        played_at, track_id, ms_played, offline_ms, reported_ms = (
            list(map(get, rows)) for get in _play_columns
        )
        return cls(
            played_at, track_id, ms_played, offline_ms, profile, profiles, dimension, keys, reported_ms
        )

    def row(self, index: int) -> MusicRow:
        """The play at `index` as a row."""
        fields = dimension_fields(self.dimensions[self.dimension[index]])
        profile = self.profiles[self.profile[index]]
        return music_row(
            self.played_at[index],
            self.track_id[index],
            self.ms_played[index],
            self.offline_ms[index],
            profile,
            fields,
            self.reported_ms[index],
        )

    def rows(self) -> list[MusicRow]:
        """The plays as rows."""
        profiles = self.profiles
        dimensions = {number: dimension_fields(key) for number, key in self.dimensions.items()}
        return [
            music_row(p, t, m, o, profiles[pn], dimensions[dn], r)
            for p, t, m, o, pn, dn, r in zip(
                self.played_at,
                self.track_id,
                self.ms_played,
                self.offline_ms,
                self.profile,
                self.dimension,
                self.reported_ms,
                strict=True,
            )
        ]


def numbered(values: list[tuple[Any, ...]]) -> tuple[list[int], dict[int, tuple[Any, ...]]]:
    """Each value's number (the position where it first occurs) and the distinct values by number.

    One dictionary lookup a value: `setdefault` keeps the first position it was given."""
    first: dict[tuple[Any, ...], int] = {}
    numbers = list(map(first.setdefault, values, range(len(values))))
    return numbers, {number: value for value, number in first.items()}


def music_row(
    played_at: str,
    track_id: str,
    ms_played: int,
    offline_ms: int | None,
    profile: tuple[Any, ...],
    dimension: tuple[Any, ...],
    reported_ms: int | None = None,
) -> MusicRow:
    """A play's row from its own values, its profile and its dimension fields (`MusicColumns`)."""
    fields = dict(zip(PROFILE_FIELDS, profile, strict=True))
    fields.update(zip(DIMENSION_FIELDS, dimension, strict=True))
    fields.update(
        played_at=played_at,
        track_id=track_id,
        ms_played=ms_played,
        offline_ms=offline_ms,
        reported_ms=reported_ms,
    )
    return MusicRow(**fields)


@dataclass
class ParsedFile:
    """A file that is listening history, all of it valid."""

    name: str
    sha256: str
    format: str
    records: int
    music: list[MusicRow] = field(default_factory=list)
    episodes: list[EpisodeRow] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    username: str | None = None
    # The music plays as columns instead of `music` (which is then empty): only when asked for
    # (`parse_file(columns=True)`), and only from the fast reading of extended history.
    music_columns: MusicColumns | None = None

    @property
    def first(self) -> str | None:
        """Earliest play end in the file (UTC text), None when it holds no plays."""
        times = [min(ends) for ends in self._ends()]
        return min(times) if times else None

    @property
    def last(self) -> str | None:
        times = [max(ends) for ends in self._ends()]
        return max(times) if times else None

    def _ends(self) -> list[Iterable[str]]:
        """The play ends of each kind of play the file holds (none for a kind it has none of)."""
        ends: list[Iterable[str]] = [map(_played_at, rows) for rows in (self.music, self.episodes) if rows]
        if self.music_columns is not None and len(self.music_columns):
            ends.append(self.music_columns.played_at)
        return ends


def stored_text(when: datetime) -> str:
    """An instant as the UTC text brapped stores."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S") + f".{when.microsecond // 1000:03d}"


def parse_stored(text: str) -> datetime:
    """The instant a stored UTC text stands for."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def spread_ends(parsed: ParsedFile) -> None:
    """Give the file's plays of one item that end at the same stored instant distinct ends."""
    parsed.music = _spread(parsed.music, _music_key, _music_order)
    parsed.episodes = _spread(parsed.episodes, _episode_key, _episode_order)


# (played_at, item id): the key the unique constraint of plays and episode_plays holds per user;
# itemgetter, not a function, so that `_spread` builds the keys at C speed.
_music_key: Callable[[MusicRow], tuple[str, str]] = itemgetter(0, 1)
_episode_key: Callable[[EpisodeRow], tuple[str, str]] = itemgetter(0, 1)


def _music_order(row: MusicRow) -> tuple[Any, ...]:
    return (
        row.ms_played,
        row.offline_ms or 0,
        row.reason_start or "",
        row.reason_end or "",
        row.reported_ms or 0,
    )


def _episode_order(row: EpisodeRow) -> tuple[Any, ...]:
    return (row.ms_played, row.reason_start or "", row.reason_end or "")


def _spread(
    rows: list[R], key: Callable[[R], tuple[str, str]], order: Callable[[R], tuple[Any, ...]]
) -> list[R]:
    """Give plays of one item that end at the same stored instant distinct ends, 1 ms apart."""
    keys = list(map(key, rows))
    if len(set(keys)) == len(keys):  # the usual case, checked at C speed
        return rows
    groups: dict[tuple[str, str], list[int]] = {}
    for position, k in enumerate(keys):
        groups.setdefault(k, []).append(position)
    taken = {k for k in groups}
    for positions in groups.values():
        if len(positions) < 2:
            continue
        ranked = sorted(positions, key=lambda p: (order(rows[p]), p))
        base = parse_stored(rows[ranked[0]].played_at)
        step = 0
        for position in ranked[1:]:
            # Skip instants another play of the same item already holds (a genuine play 1 ms later).
            while True:
                step += 1
                candidate = stored_text(base + timedelta(milliseconds=step))
                if (candidate, key(rows[position])[1]) not in taken:
                    break
            taken.add((candidate, key(rows[position])[1]))
            rows[position] = rows[position]._replace(played_at=candidate)
    return rows


_played_at = itemgetter(0)  # of a MusicRow or an EpisodeRow
_profile_fields = itemgetter(*(MusicRow._fields.index(c) for c in PROFILE_FIELDS))
_dimension_fields = itemgetter(*(MusicRow._fields.index(c) for c in DIMENSION_FIELDS))
_play_columns = [
    itemgetter(MusicRow._fields.index(c))
    for c in ("played_at", "track_id", "ms_played", "offline_ms", "reported_ms")
]
