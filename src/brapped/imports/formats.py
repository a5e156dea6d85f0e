"""Spotify's export formats: detection by content, validation, and records turned into rows.

No database here: a file's bytes go in, a `ParsedFile` (rows ready for loading) or a `Skipped`
comes out, or `ImportFileError` names the file and the record that is wrong. A file is accepted
whole or not at all, so a bad record stops the file, never half of it.

Times come out as UTC text `YYYY-MM-DD HH:MM:SS.fff` (the order-preserving form brapped stores).
Two plays of one track that end within the export's precision (the same second in extended history,
the same minute in account data: rapid skips) would be one row under the plays table's unique key,
so the n-th of them, ordered by content, ends n milliseconds later. Ordering by content rather than
by position keeps that stable when the same plays arrive again in another download.
"""

from __future__ import annotations

import gc
import hashlib
import heapq
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from itertools import compress, repeat
from operator import attrgetter, contains, itemgetter, mul
from typing import Annotated, Any, NamedTuple, TypeVar, cast

import msgspec
import orjson

from brapped import identity
from brapped.imports.sources import ImportFileError, Skipped

EXTENDED = "extended"  # Streaming_History_Audio_*.json / Streaming_History_Video_*.json
ENDSONG = "endsong"  # the older extended format, endsong_N.json / endvideo_N.json
ACCOUNT_MUSIC = "account_music"  # StreamingHistory_music_N.json, StreamingHistoryN.json
ACCOUNT_PODCAST = "account_podcast"
ACCOUNT_AUDIOBOOK = "account_audiobook"
FORMATS = (EXTENDED, ENDSONG, ACCOUNT_MUSIC, ACCOUNT_PODCAST, ACCOUNT_AUDIOBOOK)
ACCOUNT_FORMATS = (ACCOUNT_MUSIC, ACCOUNT_PODCAST, ACCOUNT_AUDIOBOOK)

# Spotify launched in October 2008: anything earlier is not a Spotify play.
EARLIEST = datetime(2008, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
MAX_MS_PLAYED = 2_147_483_647  # the column is a 32-bit integer (24 days)
MAX_NAME = 2000

_HISTORY_NAME = re.compile(r"(streaming_?history|endsong|endvideo)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ID = re.compile(r"^[0-9A-Za-z]{1,64}$")
_TS_FAST = re.compile(r"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\dZ")
# JSON cannot hold a raw control character in a string, only an escape of one.
_ESCAPED_CONTROL = re.compile(rb"\\(?:u00[01][0-9a-fA-F]|u007[fF]|[bfnrt])")
# Whole columns checked by one regex each (values joined by newlines, which neither form holds):
# the same records the per-record fast path of `_Reader.extended` accepts, ASCII digits only.
_TS_COLUMN = re.compile(r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z\n)*")
_TRACK_URI_COLUMN = re.compile(r"(?:spotify:track:[0-9A-Za-z]{22}\n)*")

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


_Flag = bool | None
# Text no longer than the careful path keeps unchanged (it refuses longer names and URIs, and cuts
# longer countries and reasons): a file with a longer one is read the careful way.
_Name = Annotated[str, msgspec.Meta(max_length=MAX_NAME)] | None
_Uri = Annotated[str, msgspec.Meta(max_length=200)] | None


class _ExtendedRecord(msgspec.Struct, gc=False):
    """An extended-history record as msgspec decodes it: every key the readers below look at.

    A file whose records do not fit these types (a float for milliseconds, a number for a name,
    a value out of range or too long) is read the careful way instead, which reports or accepts it
    exactly as before; so these types only decide which files take the fast way, never what a file
    means. Absent keys read as None there, as `dict.get` does; UNSET tells absent from null where
    the format detection needs it.
    """

    ts: str
    ms_played: Annotated[int, msgspec.Meta(ge=0, le=MAX_MS_PLAYED)]
    platform: _Name = None
    conn_country: Annotated[str, msgspec.Meta(max_length=8)] | None = None
    reason_start: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    reason_end: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    master_metadata_track_name: _Name = None
    master_metadata_album_artist_name: _Name = None
    master_metadata_album_album_name: _Name = None
    spotify_track_uri: _Uri = None
    spotify_episode_uri: _Uri = None
    episode_name: _Name = None
    episode_show_name: _Name = None
    audiobook_title: _Name = None
    audiobook_uri: _Uri = None
    audiobook_chapter_uri: _Uri = None
    audiobook_chapter_title: _Name = None
    shuffle: _Flag = None
    skipped: _Flag = None
    offline: _Flag = None
    incognito_mode: _Flag = None
    # Within 64 bits: orjson reads bigger numbers as floats, which the careful reader refuses.
    offline_timestamp: Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)] | None = None
    username: str | msgspec.UnsetType | None = msgspec.UNSET
    ip_addr_decrypted: Any = msgspec.UNSET
    user_agent_decrypted: Any = msgspec.UNSET


_EXTENDED_DECODER = msgspec.json.Decoder(list[_ExtendedRecord])
_RECORD_FIELDS = _ExtendedRecord.__struct_fields__


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
# thousand with the ones it loaded, and one text hashes and travels between processes several
# times faster than a tuple of seven. No accepted value holds a control character (the readers
# refuse names with one, ids and URIs are checked), so these two cannot clash with a value.
_FIELD_SEPARATOR = "\x1f"
_ABSENT = "\x00"


def dimension_key(fields: Sequence[str | None]) -> str:
    """The dimension fields (`DIMENSION_FIELDS`) as one text; `dimension_fields` reads it back."""
    return _FIELD_SEPARATOR.join(_ABSENT if value is None else value for value in fields)


def dimension_fields(key: str) -> tuple[str | None, ...]:
    """The dimension fields `dimension_key` made `key` of."""
    return tuple(None if value == _ABSENT else value for value in key.split(_FIELD_SEPARATOR))


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

    def __len__(self) -> int:
        return len(self.played_at)

    @classmethod
    def of(cls, rows: Sequence[MusicRow]) -> MusicColumns:
        """The columns of `rows` (numbered in first-seen order, with C-level passes only)."""
        profile, profiles = _numbered(list(map(_profile_fields, rows)))
        dimension, dimensions = _numbered(list(map(_dimension_fields, rows)))
        keys = {number: dimension_key(fields) for number, fields in dimensions.items()}
        played_at, track_id, ms_played, offline_ms = (list(map(get, rows)) for get in _play_columns)
        return cls(played_at, track_id, ms_played, offline_ms, profile, profiles, dimension, keys)

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
        )

    def rows(self) -> list[MusicRow]:
        """The plays as rows."""
        profiles = self.profiles
        dimensions = {number: dimension_fields(key) for number, key in self.dimensions.items()}
        return [
            music_row(p, t, m, o, profiles[pn], dimensions[dn])
            for p, t, m, o, pn, dn in zip(
                self.played_at,
                self.track_id,
                self.ms_played,
                self.offline_ms,
                self.profile,
                self.dimension,
                strict=True,
            )
        ]


def _numbered(values: list[tuple[Any, ...]]) -> tuple[list[int], dict[int, tuple[Any, ...]]]:
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
) -> MusicRow:
    """A play's row from its own values, its profile and its dimension fields (`MusicColumns`)."""
    fields = dict(zip(PROFILE_FIELDS, profile, strict=True))
    fields.update(zip(DIMENSION_FIELDS, dimension, strict=True))
    fields.update(played_at=played_at, track_id=track_id, ms_played=ms_played, offline_ms=offline_ms)
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


def _base_name(name: str) -> str:
    """The file's own name, without folders or the zip it came from."""
    return name.replace("\\", "/").rsplit("!", 1)[-1].rsplit("/", 1)[-1]


def looks_like_history_name(name: str) -> bool:
    """True when a file's name is one Spotify gives listening history (used to judge odd content)."""
    base = _base_name(name)
    return bool(_HISTORY_NAME.search(base)) and base.lower().endswith(".json")


def parse_file(
    name: str, data: bytes, now: datetime, *, keep_personal: bool = False, columns: bool = False
) -> ParsedFile | Skipped:
    """Detect the format of one file by its content and turn its records into rows.

    `columns`: the music plays may come back as `ParsedFile.music_columns` instead of rows (a bulk
    load's staging takes them so; see `MusicColumns`)."""
    # A file is hundreds of thousands of new objects and no reference cycles: the cycle
    # collector would rescan them again and again (it doubled the time), so it waits.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse_file(name, data, now, keep_personal, columns)
    finally:
        if enabled:
            gc.enable()


def _parse_file(
    name: str, data: bytes, now: datetime, keep_personal: bool, columns: bool = False
) -> ParsedFile | Skipped:
    history_name = looks_like_history_name(name)
    is_json_name = name.lower().endswith(".json")
    head = data[:64].lstrip()
    if head.startswith(b"\xef\xbb\xbf"):
        data = data.lstrip()[3:]
        head = data[:64].lstrip()
    if not is_json_name and not head.startswith((b"[", b"{")):
        return Skipped(name, "not a JSON file")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFileError(f"{name}: UTF-16 text; Spotify's exports are UTF-8")
    if not keep_personal:
        fast = _parse_extended_fast(name, data, now, columns)
        if fast is not None:
            return fast
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise ImportFileError(
                f"{name}: not UTF-8 text (byte 0x{data[bad.start]:02x} at offset {bad.start})"
            ) from bad
        if not data.strip():
            raise ImportFileError(f"{name}: empty file") from exc
        raise ImportFileError(f"{name}: not valid JSON (truncated or damaged?): {exc}") from exc
    sha256 = hashlib.sha256(data).hexdigest()

    if not isinstance(document, list):
        if history_name:
            raise ImportFileError(
                f"{name}: expected a JSON list of plays, found a JSON {type(document).__name__}"
            )
        return Skipped(name, "not listening history")
    fmt = _detect(document, name)
    if fmt is None:
        if history_name:
            if not document:
                return ParsedFile(name, sha256, _format_from_name(name), 0)
            raise ImportFileError(f"{name}: record 0: not a play in any Spotify export format")
        return Skipped(name, "not listening history")
    parsed = ParsedFile(name, sha256, fmt, len(document))
    reader = _Reader(name, now, keep_personal, parsed)
    if fmt in (EXTENDED, ENDSONG):
        reader.extended(document, clean=_ESCAPED_CONTROL.search(data) is None)
    elif fmt == ACCOUNT_MUSIC:
        reader.account_music(document)
    else:
        reader.account_spoken(document, "podcast" if fmt == ACCOUNT_PODCAST else "audiobook")
    parsed.music = _spread(parsed.music, _music_key, _music_order)
    parsed.episodes = _spread(parsed.episodes, _episode_key, _episode_order)
    return parsed


def _parse_extended_fast(name: str, data: bytes, now: datetime, columns: bool = False) -> ParsedFile | None:
    """Extended history decoded by msgspec and checked a column at a time; None: read it the usual way.

    The usual way (orjson, then a Python loop over records) costs about 10 µs a play; this one about
    3. It returns the same `ParsedFile` for every file it accepts, and declines (None) every file
    that is not plainly well-formed, so errors and odd records keep their careful handling.
    """
    if b"\\" in data and _ESCAPED_CONTROL.search(data):
        return None
    try:
        records = _EXTENDED_DECODER.decode(data)
    except (msgspec.DecodeError, ValueError, RecursionError):  # not UTF-8 JSON, or other records
        return None
    if not records:
        return None
    first = records[0]
    lowered = _base_name(name).lower()
    endsong = (
        first.username is not msgspec.UNSET
        or first.ip_addr_decrypted is not msgspec.UNSET
        or first.user_agent_decrypted is not msgspec.UNSET
        or "endsong" in lowered
        or "endvideo" in lowered
    )
    parsed = ParsedFile(
        name, hashlib.sha256(data).hexdigest(), ENDSONG if endsong else EXTENDED, len(records)
    )
    if not _Reader(name, now, False, parsed).extended_records(records, columns):
        return None
    found = parsed.music_columns
    if (
        found is not None
        and len(set(found.played_at)) < len(found)  # plays ending in the same second: usually none
        and len(set(zip(found.played_at, found.track_id, strict=True))) < len(found)
    ):
        # Plays of one track ending in the same second: `_spread` moves them apart, row by row.
        parsed.music, parsed.music_columns = found.rows(), None
    parsed.music = _spread(parsed.music, _music_key, _music_order)
    parsed.episodes = _spread(parsed.episodes, _episode_key, _episode_order)
    return parsed


def _format_from_name(name: str) -> str:
    base = _base_name(name).lower()
    if "endsong" in base or "endvideo" in base:
        return ENDSONG
    if "podcast" in base:
        return ACCOUNT_PODCAST
    if "audiobook" in base:
        return ACCOUNT_AUDIOBOOK
    if "streaming_history_" in base:
        return EXTENDED
    return ACCOUNT_MUSIC


def _detect(document: list[Any], name: str) -> str | None:
    if not document or not isinstance(document[0], dict):
        return None
    keys = document[0].keys()
    if "ts" in keys and "ms_played" in keys:
        lowered = _base_name(name).lower()
        if (
            "username" in keys
            or "ip_addr_decrypted" in keys
            or "user_agent_decrypted" in keys
            or "endsong" in lowered
            or "endvideo" in lowered
        ):
            return ENDSONG
        return EXTENDED
    if "endTime" in keys and "msPlayed" in keys:
        if "trackName" in keys or "artistName" in keys:
            return ACCOUNT_MUSIC
        if "episodeName" in keys or "podcastName" in keys:
            return ACCOUNT_PODCAST
        if "chapterName" in keys or "audiobookName" in keys:
            return ACCOUNT_AUDIOBOOK
    return None


class _Reader:
    """Validates records and appends rows; every message names the file and the record index."""

    def __init__(self, name: str, now: datetime, keep_personal: bool, parsed: ParsedFile) -> None:
        self.name = name
        self.keep_personal = keep_personal
        self.parsed = parsed
        self.now = now
        self.earliest_ts = EARLIEST.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.latest = now + FUTURE_SLACK
        self.latest_ts = self.latest.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.latest_minute = self.latest.strftime("%Y-%m-%d %H:%M")
        self.earliest_minute = EARLIEST.strftime("%Y-%m-%d %H:%M")
        self.earliest_ms = int(EARLIEST.timestamp() * 1000)
        self.latest_ms = int(self.latest.timestamp() * 1000)
        self.valid_dates: set[str] = set()
        # Names repeat across a history: hash each distinct one once.
        self.artist_ids: dict[str, str] = {}
        self.album_ids: dict[tuple[str, str], str] = {}
        self.track_ids: dict[tuple[str, str], str] = {}

    def artist_id(self, artist: str) -> str:
        found = self.artist_ids.get(artist)
        if found is None:
            found = self.artist_ids[artist] = identity.artist_id(artist)
        return found

    def album_id(self, artist: str, album: str) -> str:
        found = self.album_ids.get((artist, album))
        if found is None:
            found = self.album_ids[(artist, album)] = identity.album_id(artist, album)
        return found

    def name_track_id(self, artist: str, track: str) -> str:
        found = self.track_ids.get((artist, track))
        if found is None:
            found = self.track_ids[(artist, track)] = identity.track_id(artist, track)
        return found

    def fail(self, index: int, message: str) -> ImportFileError:
        return ImportFileError(f"{self.name}: record {index}: {message}")

    # -- field checks -------------------------------------------------------------------------

    def text(self, record: dict[str, Any], key: str, index: int, limit: int = MAX_NAME) -> str | None:
        value = record.get(key)
        if value is None:
            return None
        if type(value) is not str:
            raise self.fail(index, f"{key} must be text, not {_kind(value)}")
        if len(value) > limit:
            raise self.fail(index, f"{key} is {len(value)} characters long (at most {limit})")
        if _CONTROL.search(value):
            raise self.fail(index, f"{key} contains control characters")
        return value

    def short(self, record: dict[str, Any], key: str, index: int, limit: int) -> str | None:
        value = self.text(record, key, index)
        # Fixed-width columns: a longer value is not a Spotify value, but nothing is lost by cutting.
        return value[:limit] if value is not None else None

    def flag(self, record: dict[str, Any], key: str, index: int) -> bool | None:
        value = record.get(key)
        if value is None or type(value) is bool:
            return value
        raise self.fail(index, f"{key} must be true, false or null, not {_kind(value)}")

    def ms(self, record: dict[str, Any], key: str, index: int) -> int:
        value = record.get(key)
        if type(value) is float and value.is_integer():
            value = int(value)
        if type(value) is not int:
            raise self.fail(index, f"{key} must be a whole number of milliseconds, not {_kind(value)}")
        if not 0 <= value <= MAX_MS_PLAYED:
            raise self.fail(index, f"{key} {value} is out of range (0 to {MAX_MS_PLAYED})")
        return value

    def ts(self, value: Any, index: int) -> str:
        """Extended history's `ts` (`2024-08-02T11:56:55Z`) as stored text, checked for range."""
        if type(value) is not str:
            raise self.fail(index, f"ts must be a timestamp text, not {_kind(value)}")
        if len(value) == 20 and value[10] == "T" and value[19] == "Z":
            try:
                datetime.fromisoformat(value[:19])
            except ValueError as exc:
                raise self.fail(index, f"ts {value!r} is not a valid time") from exc
            self._range(value, self.earliest_ts, self.latest_ts, index, value)
            return f"{value[:10]} {value[11:19]}.000"
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise self.fail(index, f"ts {_show(value)} is not a valid time") from exc
        if parsed.tzinfo is None:
            raise self.fail(index, f"ts {value!r} has no timezone")
        parsed = parsed.astimezone(UTC)
        if not EARLIEST <= parsed <= self.latest:
            raise self.fail(index, self._range_message(value))
        return _stored(parsed)

    def end_minute(self, value: Any, index: int) -> str:
        """Account data's `endTime` (`2023-10-02 23:43`, UTC) as stored text."""
        if type(value) is not str:
            raise self.fail(index, f"endTime must be text, not {_kind(value)}")
        if len(value) != 16 or value[10] != " ":
            raise self.fail(index, f"endTime {_show(value)} is not 'YYYY-MM-DD HH:MM'")
        try:
            datetime.fromisoformat(value)
        except ValueError as exc:
            raise self.fail(index, f"endTime {value!r} is not a valid time") from exc
        self._range(value, self.earliest_minute, self.latest_minute, index, value)
        return f"{value}:00.000"

    def _range(self, value: str, low: str, high: str, index: int, shown: str) -> None:
        if not low <= value <= high:
            raise self.fail(index, self._range_message(shown))

    def _range_message(self, shown: str) -> str:
        if shown < "2008":
            return f"time {shown} is before Spotify existed (2008)"
        return f"time {shown} is in the future"

    def offline_ms(self, value: Any, index: int) -> int | None:
        if value is None:
            return None
        if type(value) is float and value == value and abs(value) < 1e18:
            value = int(value)
        if type(value) is not int:
            raise self.fail(index, f"offline_timestamp must be a number, not {_kind(value)}")
        return _offline_ms(value, self.earliest_ms, self.latest_ms)

    def record(self, document: Sequence[Any] | Mapping[int, Any], index: int) -> dict[str, Any]:
        record = document[index]
        if type(record) is not dict:
            raise self.fail(index, f"expected an object, found {_kind(record)}")
        return record

    # -- formats ------------------------------------------------------------------------------

    def extended(self, document: list[Any], clean: bool) -> None:
        """Extended history. `clean`: the file has no escaped control characters at all."""
        music = self.parsed.music
        append = music.append
        earliest, latest = self.earliest_ts, self.latest_ts
        earliest_ms, latest_ms = self.earliest_ms, self.latest_ms
        valid_dates = self.valid_dates
        fast = clean and not self.keep_personal
        artist_ids, album_ids = self.artist_ids, self.album_ids
        new_row = tuple.__new__
        for index, r in enumerate(document):
            # The fast path takes the common record (a track play, every field well-typed) in
            # a few inline checks; anything else goes through the careful path below, which
            # accepts exactly the same records and explains what is wrong with the others.
            if fast and type(r) is dict:
                get = r.get
                ts = get("ts")
                ms = get("ms_played")
                uri = get("spotify_track_uri")
                platform = get("platform")
                country = get("conn_country")
                start = get("reason_start")
                end = get("reason_end")
                name = get("master_metadata_track_name")
                artist = get("master_metadata_album_artist_name")
                album = get("master_metadata_album_album_name")
                shuffle = get("shuffle")
                skipped_flag = get("skipped")
                offline = get("offline")
                incognito = get("incognito_mode")
                offline_ts = get("offline_timestamp")
                username = get("username")
                if (
                    type(ts) is str
                    and len(ts) == 20
                    and earliest <= ts <= latest
                    and _TS_FAST.match(ts) is not None
                    and (ts[:10] in valid_dates or self._valid_date(ts[:10]))
                    and type(ms) is int
                    and 0 <= ms <= MAX_MS_PLAYED
                    and type(uri) is str
                    and len(uri) == 36
                    and uri.startswith("spotify:track:")
                    and uri.isascii()
                    and uri[14:].isalnum()
                    and (platform is None or type(platform) is str)
                    and (country is None or (type(country) is str and len(country) <= 8))
                    and (start is None or (type(start) is str and len(start) <= 32))
                    and (end is None or (type(end) is str and len(end) <= 32))
                    and (name is None or type(name) is str)
                    and (artist is None or type(artist) is str)
                    and (album is None or type(album) is str)
                    and len(platform or "") + len(name or "") + len(artist or "") + len(album or "")
                    <= MAX_NAME
                    and (shuffle is None or shuffle is True or shuffle is False)
                    and (skipped_flag is None or skipped_flag is True or skipped_flag is False)
                    and (offline is None or offline is True or offline is False)
                    and (incognito is None or incognito is True or incognito is False)
                    and (offline_ts is None or type(offline_ts) is int)
                    and (username is None or (username == self.parsed.username))
                ):
                    track_id = uri[14:]
                    artist_key = album_key = None
                    if artist:
                        artist_key = artist_ids.get(artist) or self.artist_id(artist)
                        if album:
                            album_key = album_ids.get((artist, album)) or self.album_id(artist, album)
                    # tuple.__new__ skips the named tuple's Python-level constructor: a
                    # microsecond a play.
                    append(
                        new_row(
                            MusicRow,
                            (
                                f"{ts[:10]} {ts[11:19]}.000",
                                track_id,
                                name or track_id,
                                artist_key,
                                artist,
                                album_key,
                                album,
                                uri,
                                ms,
                                platform,
                                country,
                                start,
                                end,
                                shuffle,
                                skipped_flag,
                                offline,
                                incognito,
                                None
                                if offline_ts is None
                                else _offline_ms(offline_ts, earliest_ms, latest_ms),
                                None,
                                None,
                                "extended",
                            ),
                        )
                    )
                    continue
            self._extended_record(document, index)

    def extended_records(self, records: list[_ExtendedRecord], columns: bool = False) -> bool:
        """Extended history decoded by msgspec: False when a track play is not one the fast path takes.

        The track plays are checked a column at a time (one regex, `min`, `max` over a column run
        in C) against the conditions of the per-record fast path in `extended`, and become rows
        without a Python loop of their own; the other records (episodes, local files) go through
        the careful path. When any track play fails a check, the whole file is read the usual way,
        which explains the failure or accepts the record exactly as it always did.
        """
        users = set(map(_username, records))
        users.discard(None)
        users.discard(msgspec.UNSET)
        if users:
            # The careful path keeps the first username it meets (and checks only that one).
            user = next(u for u in map(_username, records) if isinstance(u, str))
            if len(user) > 64:
                return False
            self.parsed.username = user
        uris = list(map(_track_uri, records))
        everything = None not in uris and _TRACK_URI_COLUMN.fullmatch("\n".join(uris) + "\n") is not None
        if everything:
            picked: list[int] | None = None
            tracks = records
        else:
            # The records whose URI names a track, picked at C speed ("None" for an absent one; a
            # URI with the prefix elsewhere fails the column's check below, as any odd one does).
            mask = list(map(contains, map(str, uris), repeat("spotify:track:")))
            picked = list(compress(range(len(uris)), mask))
            tracks = list(compress(records, mask))
            uris = list(compress(uris, mask))
            if _TRACK_URI_COLUMN.fullmatch("\n".join(uris) + "\n") is None:
                return False
        rows: list[MusicRow] = []
        found: MusicColumns | None = None
        if tracks and columns:
            found = self._track_columns(tracks, uris)
            if found is None:
                return False
        elif tracks:
            built = self._track_rows(tracks, uris)
            if built is None:
                return False
            rows = built
        if picked is None:
            self.parsed.music, self.parsed.music_columns = rows, found
            return True
        # The rest, in file order, through the careful path (which appends what it keeps).
        chosen = set(picked)
        rest = {i: _record_dict(records[i]) for i in range(len(records)) if i not in chosen}
        music = self.parsed.music
        kept: list[tuple[int, MusicRow]] = []
        for index in rest:
            before = len(music)
            self._extended_record(rest, index)
            if len(music) > before:
                kept.append((index, music[-1]))
        if kept:
            if found is not None:
                rows, found = found.rows(), None
            merged = heapq.merge(zip(picked, rows, strict=True), kept, key=itemgetter(0))
            self.parsed.music = [row for _, row in merged]
        else:
            self.parsed.music, self.parsed.music_columns = rows, found
        return True

    def _track_rows(self, tracks: list[_ExtendedRecord], uris: list[str]) -> list[MusicRow] | None:
        """Rows for well-formed track plays, or None when one is not (the column checks)."""
        # A pass per column: measured faster than transposing with zip(*records).
        (
            ts,
            ms,
            platform,
            country,
            start,
            end,
            names,
            artists,
            albums,
            shuffle,
            skipped,
            offline,
            incognito,
        ) = (list(map(get, tracks)) for get in _TRACK_COLUMNS)
        played_at = self._played_at_column(ts)
        if played_at is None:
            return None
        track_ids = "\n".join(uris).replace("spotify:track:", "").split("\n")
        if not all(names):
            names = [n or t for n, t in zip(names, track_ids, strict=True)]
        artist_keys = {a: _artist_id(a) for a in set(artists) if a}
        album_keys = {(a, b): _album_id(a, b) for a, b in set(zip(artists, albums, strict=True)) if a and b}
        offline_ms = self._offline_column(list(map(_offline_ts, tracks)))
        none = repeat(None)
        return list(
            map(
                _new_music_row,
                zip(
                    played_at,
                    track_ids,
                    names,
                    map(artist_keys.get, artists),
                    artists,
                    map(album_keys.get, zip(artists, albums, strict=True)),
                    albums,
                    uris,
                    ms,
                    platform,
                    country,
                    start,
                    end,
                    shuffle,
                    skipped,
                    offline,
                    incognito,
                    offline_ms,
                    none,
                    none,
                    repeat("extended"),
                ),
            )
        )

    def _played_at_column(self, ts: list[str]) -> list[str] | None:
        """The stored form of well-formed `ts` values in range; None when one is not."""
        if _TS_COLUMN.fullmatch("\n".join(ts) + "\n") is None:
            return None
        if min(ts) < self.earliest_ts or max(ts) > self.latest_ts:
            return None
        valid_dates = self.valid_dates
        for day in set(map(_DAY, ts)):
            if day not in valid_dates and not self._valid_date(day):
                return None
        return "\n".join(ts).replace("T", " ").replace("Z", ".000").split("\n")

    def _track_columns(self, tracks: list[_ExtendedRecord], uris: list[str]) -> MusicColumns | None:
        """`_track_rows` as columns (`MusicColumns`), or None when a play is not well-formed.

        A play's few-valued fields and its names are read as one tuple each (one pass over the
        records) and numbered; ids, and the name a nameless track gets, are worked out once per
        distinct tuple. The checks are `_track_rows`' own.
        """
        played_at = self._played_at_column(list(map(_ts, tracks)))
        if played_at is None:
            return None
        track_ids = "\n".join(uris).replace("spotify:track:", "").split("\n")
        profile, found_profiles = _numbered(list(map(_track_profile, tracks)))
        names = list(map(_track_names, tracks))
        by_uri: dict[str, int] = {}
        dimension = list(map(by_uri.setdefault, uris, range(len(uris))))
        if names == list(map(names.__getitem__, dimension)):
            # Every play of a track names it alike (the usual file): numbered by its URI alone,
            # which hashes one string a play instead of four (a third less time).
            named = {number: names[number] for number in by_uri.values()}
        else:
            dimension, named = _numbered(names)
        profiles = {number: (*p, None, None, "extended") for number, p in found_profiles.items()}
        dimensions = {}
        separator, absent = _FIELD_SEPARATOR, _ABSENT
        for number, (uri, name, artist, album) in named.items():
            # `dimension_key` of the fields `_track_rows` gives such a play, written out.
            track_id = uri[_TRACK_URI_PREFIX:]
            artist_id = _artist_id(artist) if artist else absent
            album_id = _album_id(artist, album) if artist and album else absent
            dimensions[number] = separator.join(
                (
                    track_id,
                    name or track_id,
                    artist_id,
                    absent if artist is None else artist,
                    album_id,
                    absent if album is None else album,
                    uri,
                )
            )
        if len(set(dimensions.values())) < len(dimensions):
            # Names that come out alike (a nameless track takes its id as its name, as a play that
            # names it by its id does): one number for each, the first.
            first: dict[str, int] = {}
            same = {number: first.setdefault(key, number) for number, key in dimensions.items()}
            dimension = list(map(same.__getitem__, dimension))
            dimensions = {number: key for key, number in first.items()}
        return MusicColumns(
            played_at,
            track_ids,
            list(map(_ms_played, tracks)),
            self._offline_column(list(map(_offline_ts, tracks))),
            profile,
            profiles,
            dimension,
            dimensions,
        )

    def _offline_column(self, values: list[int | None]) -> list[int | None]:
        """`_offline_ms` of each value: at C speed when all are seconds in range (the usual file)."""
        earliest_ms, latest_ms = self.earliest_ms, self.latest_ms
        if values and None not in values:
            known = cast(list[int], values)
            low, high = min(known), max(known)
            if high <= 100_000_000_000 and earliest_ms <= low * 1000 and high * 1000 <= latest_ms:
                return list(map(mul, known, repeat(1000)))
        return [None if v is None else _offline_ms(v, earliest_ms, latest_ms) for v in values]

    def _valid_date(self, day: str) -> bool:
        try:
            datetime.fromisoformat(day)
        except ValueError:
            return False
        self.valid_dates.add(day)
        return True

    def _extended_record(self, document: Sequence[Any] | Mapping[int, Any], index: int) -> None:
        music = self.parsed.music
        episodes = self.parsed.episodes
        skipped = self.parsed.skipped
        keep = self.keep_personal
        r = self.record(document, index)
        played_at = self.ts(r.get("ts"), index)
        ms_played = self.ms(r, "ms_played", index)
        platform = self.text(r, "platform", index)
        country = self.short(r, "conn_country", index, 8)
        reason_start = self.short(r, "reason_start", index, 32)
        reason_end = self.short(r, "reason_end", index, 32)
        shuffle = self.flag(r, "shuffle", index)
        skipped_flag = self.flag(r, "skipped", index)
        offline = self.flag(r, "offline", index)
        incognito = self.flag(r, "incognito_mode", index)
        username = r.get("username")
        if username is not None and self.parsed.username is None:
            self.parsed.username = self.text(r, "username", index, 64)
        ip_addr = user_agent = None
        if keep:
            ip_addr = self.text(r, "ip_addr", index) or self.text(r, "ip_addr_decrypted", index)
            user_agent = self.text(r, "user_agent_decrypted", index)
        track_uri = self.text(r, "spotify_track_uri", index, 200)
        track_name = self.text(r, "master_metadata_track_name", index)
        if track_uri is not None:
            track_id = identity.spotify_id(track_uri, "track")
            if track_id is None or not _ID.match(track_id):
                if track_uri.startswith("spotify:local:"):
                    skipped[SKIP_LOCAL] += 1
                    return
                raise self.fail(index, f"spotify_track_uri {_show(track_uri)} is not a track URI")
            artist = self.text(r, "master_metadata_album_artist_name", index)
            album = self.text(r, "master_metadata_album_album_name", index)
            music.append(
                MusicRow(
                    played_at,
                    track_id,
                    track_name if track_name else track_id,
                    self.artist_id(artist) if artist else None,
                    artist,
                    self.album_id(artist, album) if artist and album else None,
                    album,
                    track_uri,
                    ms_played,
                    platform,
                    country,
                    reason_start,
                    reason_end,
                    shuffle,
                    skipped_flag,
                    offline,
                    incognito,
                    self.offline_ms(r.get("offline_timestamp"), index),
                    ip_addr,
                    user_agent,
                    "extended",
                )
            )
            return
        episode_uri = self.text(r, "spotify_episode_uri", index, 200)
        chapter_uri = self.text(r, "audiobook_chapter_uri", index, 200)
        if episode_uri is not None or chapter_uri is not None:
            uri: str = episode_uri or chapter_uri or ""
            if episode_uri is not None:
                kind = "podcast"
                name = self.text(r, "episode_name", index)
                show = self.text(r, "episode_show_name", index)
                show_uri = None
            else:
                kind = "audiobook"
                name = self.text(r, "audiobook_chapter_title", index)
                show = self.text(r, "audiobook_title", index)
                show_uri = self.text(r, "audiobook_uri", index, 200)
            episode_id = _uri_id(uri)
            if episode_id is None:
                raise self.fail(index, f"{kind} URI {_show(uri)} is not a Spotify URI")
            episodes.append(
                EpisodeRow(
                    played_at,
                    episode_id,
                    kind,
                    name or episode_id,
                    show,
                    uri,
                    show_uri,
                    ms_played,
                    platform,
                    country,
                    reason_start,
                    reason_end,
                    shuffle,
                    skipped_flag,
                    offline,
                    incognito,
                    ip_addr,
                    user_agent,
                    "extended",
                )
            )
            return
        skipped[SKIP_LOCAL if track_name else SKIP_NO_CONTENT] += 1

    def account_music(self, document: list[Any]) -> None:
        music = self.parsed.music
        for index in range(len(document)):
            r = self.record(document, index)
            played_at = self.end_minute(r.get("endTime"), index)
            ms_played = self.ms(r, "msPlayed", index)
            artist = self.text(r, "artistName", index)
            track = self.text(r, "trackName", index)
            if not artist or not track:
                self.parsed.skipped[SKIP_NO_NAMES] += 1
                continue
            music.append(
                MusicRow(
                    played_at,
                    self.name_track_id(artist, track),
                    track,
                    self.artist_id(artist),
                    artist,
                    None,
                    None,
                    None,
                    ms_played,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    "account",
                )
            )

    def account_spoken(self, document: list[Any], kind: str) -> None:
        show_key, name_key = (
            ("podcastName", "episodeName") if kind == "podcast" else ("audiobookName", "chapterName")
        )
        episodes = self.parsed.episodes
        for index in range(len(document)):
            r = self.record(document, index)
            played_at = self.end_minute(r.get("endTime"), index)
            ms_played = self.ms(r, "msPlayed", index)
            show = self.text(r, show_key, index)
            name = self.text(r, name_key, index)
            if not show or not name:
                self.parsed.skipped[SKIP_NO_NAMES] += 1
                continue
            episodes.append(
                EpisodeRow(
                    played_at,
                    identity.episode_id(show, name),
                    kind,
                    name,
                    show,
                    None,
                    None,
                    ms_played,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    "account",
                )
            )


def _offline_ms(value: int, earliest_ms: int, latest_ms: int) -> int | None:
    # endsong files count milliseconds, newer files seconds; the magnitude tells them apart.
    ms = value if value > 100_000_000_000 else value * 1000
    # 0 and other impossible values occur in real files: unknown, not an error.
    return ms if earliest_ms <= ms <= latest_ms else None


def _uri_id(uri: str) -> str | None:
    parts = uri.split(":")
    if len(parts) == 3 and parts[0] == "spotify" and _ID.match(parts[2]):
        return parts[2]
    return None


def _stored(when: datetime) -> str:
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S") + f".{when.microsecond // 1000:03d}"


def parse_stored(text: str) -> datetime:
    """The instant a stored UTC text stands for."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list"}.get(
        type(value), "an object"
    )


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


# (played_at, item id): the key the unique constraint of plays and episode_plays holds per user;
# itemgetter, not a function, so that `_spread` builds the keys at C speed.
_music_key: Callable[[MusicRow], tuple[str, str]] = itemgetter(0, 1)
_episode_key: Callable[[EpisodeRow], tuple[str, str]] = itemgetter(0, 1)


def _music_order(row: MusicRow) -> tuple[Any, ...]:
    return (row.ms_played, row.offline_ms or 0, row.reason_start or "", row.reason_end or "")


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
                candidate = _stored(base + timedelta(milliseconds=step))
                if (candidate, key(rows[position])[1]) not in taken:
                    break
            taken.add((candidate, key(rows[position])[1]))
            rows[position] = rows[position]._replace(played_at=candidate)
    return rows


_played_at = itemgetter(0)  # of a MusicRow or an EpisodeRow
_profile_fields = itemgetter(*(MusicRow._fields.index(c) for c in PROFILE_FIELDS))
_dimension_fields = itemgetter(*(MusicRow._fields.index(c) for c in DIMENSION_FIELDS))
_play_columns = [
    itemgetter(MusicRow._fields.index(c)) for c in ("played_at", "track_id", "ms_played", "offline_ms")
]
_ts = attrgetter("ts")
_DAY = itemgetter(slice(0, 10))  # of a `ts`
_ms_played = attrgetter("ms_played")
# What `_track_columns` reads of a record in one pass: its profile (the record's names for
# `PROFILE_FIELDS`, but the last three, the same for every play the fast reading takes) and its names.
_track_profile = attrgetter(
    *(
        ("incognito_mode" if field == "incognito" else field)
        for field in PROFILE_FIELDS[: PROFILE_FIELDS.index("ip_addr")]
    )
)
_track_names = attrgetter(
    "spotify_track_uri",
    "master_metadata_track_name",
    "master_metadata_album_artist_name",
    "master_metadata_album_album_name",
)
_TRACK_URI_PREFIX = len("spotify:track:")
_username = attrgetter("username")
_track_uri = attrgetter("spotify_track_uri")
_offline_ts = attrgetter("offline_timestamp")
_TRACK_COLUMNS = [
    attrgetter(name)
    for name in (
        "ts",
        "ms_played",
        "platform",
        "conn_country",
        "reason_start",
        "reason_end",
        "master_metadata_track_name",
        "master_metadata_album_artist_name",
        "master_metadata_album_album_name",
        "shuffle",
        "skipped",
        "offline",
        "incognito_mode",
    )
]
# Ids are hashes of names: a history repeats the same few thousand across all its files.
_artist_id = lru_cache(maxsize=1 << 16)(identity.artist_id)
_album_id = lru_cache(maxsize=1 << 16)(identity.album_id)
# tuple.__new__ skips the named tuple's Python-level constructor.
_new_music_row: Callable[[tuple[Any, ...]], MusicRow] = partial(tuple.__new__, MusicRow)


def _record_dict(record: _ExtendedRecord) -> dict[str, Any]:
    """A decoded record as the careful path reads records (absent keys left out)."""
    return {f: v for f in _RECORD_FIELDS if (v := getattr(record, f)) is not msgspec.UNSET}
