"""The checks every record's fields pass, whatever the format, and the limits they hold them to.

`RecordReader` is what each format's reader builds on: it knows the file, the range of times a
play may have, and the ids of the names it has met; each check returns the value as a row holds it
or raises `ImportFileError` naming the file, the record and what is wrong.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from brapped import identity
from brapped.imports.rows import ParsedFile, stored_text
from brapped.imports.sources import ImportFileError

# Spotify launched in October 2008: anything earlier is not a Spotify play.
EARLIEST = datetime(2008, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
MAX_MS_PLAYED = 2_147_483_647  # the column is a 32-bit integer (24 days)
MAX_NAME = 2000
# A play marked offline is reported (`ts`) when the app is back online; `offline_timestamp` is its
# start (docs/merge.md, "Offline plays"). Spotify's downloads stop playing after 30 days without
# going online, so a start further back than that before `ts` is a wrong clock, not a real play.
OFFLINE_DELAY_MS = 30 * 86_400_000
# `ts` and a seconds `offline_timestamp` are both cut to the second: start plus ms_played may pass
# `ts` by less than a second (never more, on every play of the samples that is not paused).
OFFLINE_ROUNDING_MS = 1_000

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RecordReader:
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
            raise self.fail(index, f"ts {quote(value)} is not a valid time") from exc
        if parsed.tzinfo is None:
            raise self.fail(index, f"ts {value!r} has no timezone")
        parsed = parsed.astimezone(UTC)
        if not EARLIEST <= parsed <= self.latest:
            raise self.fail(index, self._range_message(value))
        return stored_text(parsed)

    def end_minute(self, value: Any, index: int) -> str:
        """Account data's `endTime` (`2023-10-02 23:43`, UTC) as stored text."""
        if type(value) is not str:
            raise self.fail(index, f"endTime must be text, not {_kind(value)}")
        if len(value) != 16 or value[10] != " ":
            raise self.fail(index, f"endTime {quote(value)} is not 'YYYY-MM-DD HH:MM'")
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
        if type(value) is float:
            # orjson reads a whole number past 64 bits as a float too: no possible instant either way.
            if not abs(value) < 1e18:
                raise self.fail(
                    index, f"offline_timestamp {value:g} is out of range (no time in seconds or milliseconds)"
                )
            value = int(value)
        if type(value) is not int:
            raise self.fail(index, f"offline_timestamp must be a number, not {_kind(value)}")
        return offline_ms_from(value, self.earliest_ms, self.latest_ms)

    def record(self, value: Any, index: int) -> dict[str, Any]:
        """Record `index` (`value`), checked to be an object."""
        if type(value) is not dict:
            raise self.fail(index, f"expected an object, found {_kind(value)}")
        return value

    def _valid_date(self, day: str) -> bool:
        try:
            datetime.fromisoformat(day)
        except ValueError:
            return False
        self.valid_dates.add(day)
        return True


def offline_ms_from(value: int, earliest_ms: int, latest_ms: int) -> int | None:
    """An `offline_timestamp` as Unix milliseconds, None when it is not a possible instant."""
    # endsong files count milliseconds, newer files seconds; the magnitude tells them apart.
    ms = value if value > 100_000_000_000 else value * 1000
    # 0 and other impossible values occur in real files: unknown, not an error.
    return ms if earliest_ms <= ms <= latest_ms else None


def offline_end(ts_ms: int, ms_played: int, offline_ms: int | None) -> int | None:
    """The real end (Unix ms) of a play marked offline: `offline_timestamp` plus `ms_played`, when
    the timestamp is plausible (known and not zero, its end before `ts` give or take the rounding,
    at most `OFFLINE_DELAY_MS` before it); else None and the play keeps `ts`."""
    if offline_ms is None or offline_ms <= 0:
        return None
    end = offline_ms + ms_played
    if end >= ts_ms + OFFLINE_ROUNDING_MS or ts_ms - end > OFFLINE_DELAY_MS:
        return None
    return end


def at_real_time(played_at: str, ms_played: int, offline_ms: int | None) -> tuple[str, int | None]:
    """An offline play's stored end and reported time: (real end, `ts` as Unix ms) when it moves,
    else (`played_at`, None). `played_at` is `ts` as stored text."""
    reported = stored_ms(played_at)
    end = offline_end(reported, ms_played, offline_ms)
    if end is None or end == reported:  # stays (reported at the very end: nothing to keep)
        return played_at, None
    return stored_text(_EPOCH + timedelta(milliseconds=end)), reported


def stored_ms(text: str) -> int:
    """A stored UTC text (`YYYY-MM-DD HH:MM:SS.fff`) as Unix milliseconds (exactly: no float)."""
    delta = datetime.fromisoformat(text).replace(tzinfo=UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def quote(value: str) -> str:
    """A value as an error message shows it: quoted, and cut after 40 characters."""
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list"}.get(
        type(value), "an object"
    )
