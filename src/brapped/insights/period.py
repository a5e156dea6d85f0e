"""Local calendar periods and local-time bucketing in SQL.

Plays are stored as UTC instants; every report speaks the user's local calendar. A `Period` is a run
of whole local days in an IANA zone, turned into a half-open UTC interval [start_utc, end_utc) that
is correct across daylight-saving changes (a local day can last 23 or 25 hours).

SQLite has no timezone rules, so the zone's UTC offsets over the period are computed here, in Python,
and handed to the database as a CASE over epoch ranges: `local_seconds(played_at)` is the same
integer on SQLite and PostgreSQL, and days, hours, weekdays and months are integer arithmetic on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import BigInteger, Integer, case, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

from brapped.errors import BrappedError
from brapped.store.types import epoch

DAY = 86_400
EPOCH_DATE = date(1970, 1, 1)
# The days a report may ask for: plays brapped can have stored; far-away dates only make date
# arithmetic overflow (a period's end instant, the period before it). A year asked for keeps the
# years before and after it inside too (a report compares with the previous one).
FIRST_DAY = date(1970, 1, 2)
LAST_DAY = date(2999, 12, 30)
FIRST_YEAR = FIRST_DAY.year + 1
LAST_YEAR = LAST_DAY.year - 1


class PeriodError(BrappedError):
    """A period or timezone that cannot be reported on (unknown zone, end before start)."""


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or a PeriodError that says what is wrong."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PeriodError(f"unknown timezone {name!r}: use an IANA name like Europe/Berlin") from exc


def reportable_day(day: date, what: str = "day") -> date:
    """`day`, or a PeriodError when no report can be about it (`FIRST_DAY`..`LAST_DAY`)."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise PeriodError(f"{what} must be between {FIRST_DAY} and {LAST_DAY}, not {day}")
    return day


def reportable_year(year: int) -> int:
    """`year`, or a PeriodError when no report can be about it (`FIRST_YEAR`..`LAST_YEAR`)."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise PeriodError(f"year must be between {FIRST_YEAR} and {LAST_YEAR}, not {year}")
    return year


# The dashboard's period presets, relative to the local day now; the CLI's --period takes them too.
PRESETS = ("today", "7d", "30d", "year", "all")


def preset_days(key: str, today: date) -> tuple[date | None, date]:
    """A preset's first and last local day (first None: all time, from the first play)."""
    firsts = {"today": today, "7d": today - timedelta(days=6), "30d": today - timedelta(days=29)}
    if key in firsts:
        return firsts[key], today
    if key == "year":
        return date(today.year, 1, 1), today
    if key == "all":
        return None, today
    raise PeriodError(f"unknown period {key!r}: use {', '.join(PRESETS)}")


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant a local day starts (where midnight does not exist, when the day begins)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class Period:
    """Local days `start`..`end` (both inclusive) in zone `timezone`."""

    start: date
    end: date
    timezone: str

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise PeriodError(f"period ends ({self.end}) before it starts ({self.start})")
        zone(self.timezone)

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    @property
    def start_utc(self) -> datetime:
        return local_midnight(self.start, self.tz)

    @property
    def end_utc(self) -> datetime:
        """Exclusive: the instant the day after `end` starts."""
        return local_midnight(self.end + timedelta(days=1), self.tz)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one.

        Whole calendar months shift by their number of months (2024 -> 2023, March -> February);
        a period starting on 1 January and ending in the same year (Spotify's window) shifts by a
        year; anything else is the same number of days ending the day before this one starts.
        """
        following = self.end + timedelta(days=1)
        if self.start.day == 1 and following.day == 1:
            months = (following.year - self.start.year) * 12 + following.month - self.start.month
            return Period(_add_months(self.start, -months), self.start - timedelta(days=1), self.timezone)
        if (self.start.month, self.start.day) == (1, 1) and self.end.year == self.start.year:
            return Period(_add_months(self.start, -12), _add_months(self.end, -12), self.timezone)
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1), self.timezone)

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "timezone": self.timezone}

    @classmethod
    def day(cls, day: date, timezone: str) -> Period:
        return cls(day, day, timezone)

    @classmethod
    def year(cls, year: int, timezone: str, *, window: str = "calendar") -> Period:
        """A calendar year, or Spotify Wrapped's window (1 January to 15 November)."""
        if window not in ("calendar", "spotify"):
            raise PeriodError(f"unknown window {window!r}: use calendar or spotify")
        end = date(year, 11, 15) if window == "spotify" else date(year, 12, 31)
        return cls(date(year, 1, 1), end, timezone)

    @classmethod
    def parse(cls, text: str, timezone: str, *, presets: tuple[str, ...] = ()) -> Period:
        """'YYYY', 'YYYY-MM', 'YYYY-MM-DD' or 'START..END' (each side any of those) as a Period;
        its days between `FIRST_DAY` and `LAST_DAY`. `presets`: other words the caller takes,
        named to text of none of these forms (only there: not to a month 13 or a bad range)."""
        if ".." in text:
            left, right = text.split("..", 1)
            first = cls.parse(left, timezone, presets=presets).start
            return cls(first, cls.parse(right, timezone, presets=presets).end, timezone)
        forms = f"{PERIOD_FORMS} (or {', '.join(presets)})" if presets else PERIOD_FORMS
        first, last = _days_of(text, "not a date or period", forms)
        return cls(first, last, timezone)


DATE_FORMS = "YYYY, YYYY-MM or YYYY-MM-DD"
PERIOD_FORMS = "YYYY, YYYY-MM, YYYY-MM-DD or A..B"
# ASCII digits only: int() alone would also take '+3', '1_0', ' 3' and other scripts' digits. The
# year's length is capped so a long run of digits is "not a date", not int()'s digit-limit error.
_DATE_TEXT = re.compile(r"([0-9]{1,9})(?:-([0-9]{1,2})(?:-([0-9]{1,2}))?)?")


def bound_day(text: str, *, last: bool = False) -> date:
    """The first day of a year, month or day written 'YYYY', 'YYYY-MM' or 'YYYY-MM-DD' (with `last`,
    its last day): what a period's `from` (`--from`) and `to` (`--to`) mean, in the CLI and dashboard.

    The whole year or month must lie between `FIRST_DAY` and `LAST_DAY`; anything else is a
    PeriodError that names the forms.
    """
    first, final = _days_of(text, "not a date", DATE_FORMS)
    return final if last else first


def _days_of(text: str, problem: str, forms: str) -> tuple[date, date]:
    """The first and last day of 'YYYY', 'YYYY-MM' or 'YYYY-MM-DD' (a day: itself twice)."""
    found = _DATE_TEXT.fullmatch(text.strip())
    if found is None:
        raise PeriodError(f"{problem}: {text!r}: use {forms}")
    year = int(found.group(1))
    month, day = (int(part) if part else None for part in found.group(2, 3))
    outside = PeriodError(f"{text!r}: reports cover {FIRST_DAY} to {LAST_DAY}")
    if not FIRST_DAY.year <= year <= LAST_DAY.year:
        raise outside
    try:
        if month is None:
            first, last = date(year, 1, 1), date(year, 12, 31)
        elif day is None:
            first = date(year, month, 1)
            last = _add_months(first, 1) - timedelta(days=1)
        else:
            first = last = date(year, month, day)
    except ValueError as exc:
        raise PeriodError(f"{problem}: {text!r} ({exc})") from exc
    if first < FIRST_DAY or last > LAST_DAY:
        raise outside
    return first, last


def _add_months(day: date, months: int) -> date:
    """`day` moved by whole months, clamped to the month's last day (29 February -> 28 February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    following = date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return date(year, month + 1, min(day.day, (following - timedelta(days=1)).day))


def offsets(tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[int, int]]:
    """[(from_epoch, utc_offset_seconds), ...] covering [start, end): the zone's rules in force.

    The first entry starts at `start`; a new entry begins at each transition (DST change) inside.
    """

    def offset_at(epoch_s: int) -> int:
        moment = datetime.fromtimestamp(epoch_s, UTC).astimezone(tz)
        delta = moment.utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    lo, hi = int(start.timestamp()) // 1, int(end.timestamp()) + 1
    result = [(lo, offset_at(lo))]
    # Zones change offset at most a few times a year: step by half a day, then bisect to the second.
    step = DAY // 2
    cursor = lo
    while cursor < hi:
        following = min(cursor + step, hi)
        if offset_at(following) != result[-1][1]:
            a, b = cursor, following  # offset(a) == current, offset(b) differs
            while b - a > 1:
                middle = (a + b) // 2
                if offset_at(middle) == result[-1][1]:
                    a = middle
                else:
                    b = middle
            result.append((b, offset_at(b)))
        cursor = following
    return result


def int_literal(value: int) -> ColumnElement[int]:
    # Integers we computed, inlined: the same expression then appears identically in SELECT and
    # GROUP BY on PostgreSQL (bound parameters would get different placeholders).
    return literal_column(str(int(value)), Integer)


class _floor_int(FunctionElement[int]):
    """floor(x) as an integer on either database."""

    type = BigInteger()
    inherit_cache = True


@compiles(_floor_int)  # str() of a statement, and SQLite
@compiles(_floor_int, "sqlite")
def _floor_sqlite(element: _floor_int, compiler: Any, **kw: Any) -> str:
    # CAST truncates toward zero, which is floor for the positive epochs brapped stores.
    return f"CAST({compiler.process(next(iter(element.clauses)), **kw)} AS INTEGER)"


@compiles(_floor_int, "postgresql")
def _floor_pg(element: _floor_int, compiler: Any, **kw: Any) -> str:
    # PostgreSQL's CAST rounds to nearest; floor first so 23:59:59.9 stays on its day.
    return f"CAST(FLOOR({compiler.process(next(iter(element.clauses)), **kw)}) AS BIGINT)"


class month_text(FunctionElement[str]):
    """'YYYY-MM' of local epoch seconds (an integer already shifted to local time)."""

    type = String(7)
    inherit_cache = True


@compiles(month_text)  # str() of a statement, and SQLite
@compiles(month_text, "sqlite")
def _month_sqlite(element: month_text, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m', {compiler.process(next(iter(element.clauses)), **kw)}, 'unixepoch')"


@compiles(month_text, "postgresql")
def _month_pg(element: month_text, compiler: Any, **kw: Any) -> str:
    arg = compiler.process(next(iter(element.clauses)), **kw)
    return f"to_char(to_timestamp({arg}) AT TIME ZONE 'UTC', 'YYYY-MM')"


def local_seconds(
    column: ColumnElement[Any], timezone: str, start: datetime, end: datetime
) -> ColumnElement[int]:
    """Local wall-clock seconds since 1970 of a UTC instant column, valid for instants in [start, end).

    Instants outside the range get the offset in force at the nearest end of it.
    """
    return _floor_int(epoch(column) + utc_offset(column, timezone, start, end))


def utc_offset(
    column: ColumnElement[Any], timezone: str, start: datetime, end: datetime
) -> ColumnElement[int]:
    """The zone's UTC offset in seconds at a UTC instant column, valid for instants in [start, end)."""
    table = offsets(zone(timezone), start, end)

    def between(first: int, last: int) -> ColumnElement[Any]:
        """The offset for instants under entries first..last of the table: a balanced search.

        Compares the stored instant itself (cheap: text on SQLite, timestamptz on PostgreSQL), and
        nests the comparisons in halves: a 17-year history has 34 transitions, so a flat CASE
        tested 17 per play on average, this one 5 or 6.
        """
        if first == last:
            return int_literal(table[first][1])
        middle = (first + last + 1) // 2  # the first entry of the upper half
        boundary = datetime.fromtimestamp(table[middle][0], UTC)
        return case((column < boundary, between(first, middle - 1)), else_=between(middle, last))

    return between(0, len(table) - 1)


@dataclass(frozen=True)
class LocalTime:
    """SQL expressions for the local day, hour, weekday and month of a UTC instant column."""

    seconds: ColumnElement[int]

    @classmethod
    def of(cls, column: ColumnElement[Any], timezone: str, start: datetime, end: datetime) -> LocalTime:
        return cls(local_seconds(column, timezone, start, end))

    @property
    def day(self) -> ColumnElement[int]:
        """Days since 1970-01-01 (local); `day_to_date` turns it back into a date."""
        return self.seconds // int_literal(DAY)

    @property
    def hour(self) -> ColumnElement[int]:
        return (self.seconds % int_literal(DAY)) // int_literal(3600)

    @property
    def weekday(self) -> ColumnElement[int]:
        """0 = Monday .. 6 = Sunday (1970-01-01 was a Thursday)."""
        return (self.seconds // int_literal(DAY) + int_literal(3)) % int_literal(7)

    @property
    def month(self) -> ColumnElement[str]:
        return month_text(self.seconds)


def day_to_date(day_number: int) -> date:
    """The date of a local day number from `LocalTime.day`."""
    return EPOCH_DATE + timedelta(days=int(day_number))


def date_to_day(day: date) -> int:
    return (day - EPOCH_DATE).days
