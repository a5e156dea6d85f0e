"""Extended history the fast way: decoded by msgspec and checked a column at a time.

It takes only files that are plainly well-formed and gives for each exactly the `ParsedFile` the
careful reading (`brapped.imports.extended`) gives; any other file it declines (None), so errors
and odd records keep their careful handling. Asked for columns, it builds `MusicColumns` straight
from the decoded records without making a row per play.
"""

from __future__ import annotations

import hashlib
import heapq
import re
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache, partial
from itertools import compress, repeat
from operator import attrgetter, contains, is_, itemgetter, mul
from typing import Annotated, Any, cast

import msgspec

from brapped import identity
from brapped.imports.decoding import MAX_RECORDS, too_many_records
from brapped.imports.extended import ESCAPED_CONTROL, ExtendedReader, extended_format
from brapped.imports.fields import MAX_MS_PLAYED, MAX_NAME, at_real_time, offline_ms_from
from brapped.imports.rows import (
    ABSENT,
    FIELD_SEPARATOR,
    PROFILE_FIELDS,
    MusicColumns,
    MusicRow,
    ParsedFile,
    numbered,
    spread_ends,
)

# Whole columns checked by one regex each (values joined by newlines, which neither form holds):
# the same records the per-record fast path of `ExtendedReader.extended` accepts, ASCII digits only.
_TS_COLUMN = re.compile(r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z\n)*")
_TRACK_URI_COLUMN = re.compile(r"(?:spotify:track:[0-9A-Za-z]{22}\n)*")
# A quote that is not escaped: a text starts or ends there. A stretch of `_SPAN` bytes without one
# is a text (or a run of other values) longer than any of Spotify's, which msgspec would decode
# whole, at up to four bytes a character, before a length check could refuse it.
_QUOTE = re.compile(rb'(?<!\\)"')
_SPAN = 32 * 1024

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
    means. The keys every version of Spotify's files writes in every record are required: so a
    record takes at least about 400 bytes of the file, and decoding a file never makes more
    records than its size allows (a file of records lacking one goes the careful way, which
    decodes a record at a time). Absent optional keys read as None, as `dict.get` does; UNSET
    tells absent from null where the format detection needs it.
    """

    ts: Annotated[str, msgspec.Meta(max_length=64)]
    ms_played: Annotated[int, msgspec.Meta(ge=0, le=MAX_MS_PLAYED)]
    platform: _Name
    conn_country: Annotated[str, msgspec.Meta(max_length=8)] | None
    reason_start: Annotated[str, msgspec.Meta(max_length=32)] | None
    reason_end: Annotated[str, msgspec.Meta(max_length=32)] | None
    master_metadata_track_name: _Name
    master_metadata_album_artist_name: _Name
    master_metadata_album_album_name: _Name
    spotify_track_uri: _Uri
    spotify_episode_uri: _Uri
    episode_name: _Name
    episode_show_name: _Name
    shuffle: _Flag
    skipped: _Flag
    offline: _Flag
    incognito_mode: _Flag
    # Within 64 bits: orjson reads bigger numbers as floats, which the careful reader refuses.
    offline_timestamp: Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)] | None
    audiobook_title: _Name = None
    audiobook_uri: _Uri = None
    audiobook_chapter_uri: _Uri = None
    audiobook_chapter_title: _Name = None
    username: Annotated[str, msgspec.Meta(max_length=64)] | msgspec.UnsetType | None = msgspec.UNSET
    # Only whether they are there matters here: kept raw, never decoded.
    ip_addr_decrypted: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    user_agent_decrypted: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


_EXTENDED_DECODER = msgspec.json.Decoder(list[_ExtendedRecord])
_RECORD_FIELDS = _ExtendedRecord.__struct_fields__


def parse_extended_fast(name: str, data: bytes, now: datetime, columns: bool = False) -> ParsedFile | None:
    """Extended history decoded by msgspec and checked a column at a time; None: read it the usual way.

    The usual way is orjson, then a Python loop over records; this one checks whole columns in C
    (docs/decisions.md, "Import"). It returns the same `ParsedFile` for every file it accepts, and
    declines (None) every file that is not plainly well-formed, so errors and odd records keep their
    careful handling. A file of more records than one may hold is refused (`ImportFileError`) as
    the careful reading refuses it.
    """
    if b"\\" in data and ESCAPED_CONTROL.search(data):
        return None
    search = _QUOTE.search
    if any(search(data, start, start + _SPAN) is None for start in range(0, len(data) - _SPAN + 1, _SPAN)):
        return None  # a value of 32 KB or more: the careful reading decodes a record at a time
    try:
        records = _EXTENDED_DECODER.decode(data)
    except (msgspec.DecodeError, ValueError, RecursionError):  # not UTF-8 JSON, or other records
        return None
    if not records:
        return None
    if len(records) > MAX_RECORDS:
        raise too_many_records(name, len(records))
    first = records[0]
    personal = (
        first.username is not msgspec.UNSET
        or first.ip_addr_decrypted is not msgspec.UNSET
        or first.user_agent_decrypted is not msgspec.UNSET
    )
    parsed = ParsedFile(name, hashlib.sha256(data).hexdigest(), extended_format(name, personal), len(records))
    if not FastExtendedReader(name, now, False, parsed).extended_records(records, columns):
        return None
    found = parsed.music_columns
    if (
        found is not None
        and len(set(found.played_at)) < len(found)  # plays ending in the same second: usually none
        and len(set(zip(found.played_at, found.track_id, strict=True))) < len(found)
    ):
        # Plays of one track ending in the same second: `spread_ends` moves them apart, row by row.
        parsed.music, parsed.music_columns = found.rows(), None
    spread_ends(parsed)
    return parsed


class FastExtendedReader(ExtendedReader):
    """The careful reader plus the column checks: track plays a column at a time, the rest careful."""

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
            # At most 64 characters (the decoder's limit, the careful reader's too).
            self.parsed.username = next(u for u in map(_username, records) if isinstance(u, str))
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
        music = self.parsed.music
        kept: list[tuple[int, MusicRow]] = []
        for index, record in enumerate(records):
            if index in chosen:
                continue
            before = len(music)
            self._extended_record(_record_dict(record), index)
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
        # A pass per column rather than transposing with zip(*records) (docs/decisions.md, "Import").
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
        reported_ms = _move_offline(played_at, ms, offline_ms, offline)
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
                    reported_ms,
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
        profile, found_profiles = numbered(list(map(_track_profile, tracks)))
        names = list(map(_track_names, tracks))
        by_uri: dict[str, int] = {}
        dimension = list(map(by_uri.setdefault, uris, range(len(uris))))
        if names == list(map(names.__getitem__, dimension)):
            # Every play of a track names it alike (the usual file): numbered by its URI alone,
            # which hashes one string a play instead of four.
            named = {number: names[number] for number in by_uri.values()}
        else:
            dimension, named = numbered(names)
        profiles = {number: (*p, None, None, "extended") for number, p in found_profiles.items()}
        dimensions = {}
        separator, absent = FIELD_SEPARATOR, ABSENT
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
        ms_played = list(map(_ms_played, tracks))
        offline_ms = self._offline_column(list(map(_offline_ts, tracks)))
        reported_ms = _move_offline(played_at, ms_played, offline_ms, list(map(_offline, tracks)))
        return MusicColumns(
            played_at,
            track_ids,
            ms_played,
            offline_ms,
            profile,
            profiles,
            dimension,
            dimensions,
            reported_ms,
        )

    def _offline_column(self, values: list[int | None]) -> list[int | None]:
        """`offline_ms_from` of each value: at C speed when all are seconds in range (the usual file)."""
        earliest_ms, latest_ms = self.earliest_ms, self.latest_ms
        if values and None not in values:
            known = cast(list[int], values)
            low, high = min(known), max(known)
            if high <= 100_000_000_000 and earliest_ms <= low * 1000 and high * 1000 <= latest_ms:
                return list(map(mul, known, repeat(1000)))
        return [None if v is None else offline_ms_from(v, earliest_ms, latest_ms) for v in values]


def _move_offline(
    played_at: list[str], ms_played: list[int], offline_ms: list[int | None], offline: list[bool | None]
) -> list[int | None]:
    """Plays marked offline moved to their real end in `played_at` (`at_real_time`, as the careful
    reading does); returns each play's reported time (None for those that stay)."""
    reported: list[int | None] = [None] * len(played_at)
    if True not in offline:  # the usual file: a pass at C speed
        return reported
    for index in compress(range(len(offline)), map(is_, offline, repeat(True))):
        played_at[index], reported[index] = at_real_time(
            played_at[index], ms_played[index], offline_ms[index]
        )
    return reported


_ts = attrgetter("ts")
_offline = attrgetter("offline")
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
