"""How much of a track a listener really plays where the gap rule cannot see it.

The gap rule (brapped.store.estimates) is right when a play follows the previous one: the gap is the
play. When the gap is longer than the track, the listener started it some time after the previous
play ended, and the rule says "the whole track". Measured on real exports (docs/accuracy.md), that is
where almost all of its overestimate comes from, and how much of the track was really played depends
on how long the silence was:

- `pause`: the gap exceeds the track by 2 to 30 minutes (a pause, a skipped short play, a break);
- `silence`: by 30 minutes or more, or there is no previous play (the first play of a session);
- `follows`: the gap is shorter than the track (brief pauses and plays under 30 s hidden in it):
  there the gap is scaled, by the share of such gaps the listener really played.

For each, the factor is the share of the track the listener really played: measured plays' total
over what the gap rule would have said, learned from the listener's own export (the plays the API
would have reported, at least 30 s long, with the gaps the API would have shown), blended with the
default by credibility (`credibility`, Bühlmann-Straub): the listener's own share gets the weight
Z = a / (a + v), v how uncertain the own share is (the spread of the shares within each month and
between months), a how far listeners' shares differ from the default (what the own share's distance
from the default leaves once v is taken off). Without an export, `DEFAULT`, learned the same way
from the real sample listeners. Plays whose gap exceeds the track by less than two minutes
(`near`) keep the whole track: nearly all were played in full, exactly what the rule says, and
scaling them would make the typical single estimate wrong to save a fraction of a percent.

The learned factors are kept in `state` (key `estimate_calibration`, scope = the account).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, case, func, or_, select

from brapped.store.state import get_state, set_state
from brapped.store.tables import plays, tracks
from brapped.store.types import epoch_ms

STATE_KEY = "estimate_calibration"
# Bumped when the classes or the learning change: a stored calibration of another rule is relearned.
# 3: the default's weight chosen on the export's last third; 4: its weight is the credibility.
RULE = 4
# The API's recently-played leaves out plays shorter than this; learning sees the same gaps.
API_MIN_MS = 30_000
# Silence after the track's length that makes a play a `pause` / a `silence` one.
PAUSE_FROM_MS = 2 * 60_000
SILENCE_FROM_MS = 30 * 60_000
# Learn from the listener's most recent measured plays: enough for a stable share, bounded work.
LEARN_PLAYS = 100_000
# A capped play lasts at most the track; a factor near 0 would be noise, not listening.
MIN_FACTOR = 0.05


@dataclass(frozen=True)
class Sums:
    """Measured time and the gap rule's estimate of it, per class, over some measured plays."""

    pause_true_ms: int = 0
    pause_rule_ms: int = 0
    pause_plays: int = 0
    silence_true_ms: int = 0
    silence_rule_ms: int = 0
    silence_plays: int = 0
    follows_true_ms: int = 0
    follows_rule_ms: int = 0  # the gaps: the rule's estimate of a play shorter than its gap
    follows_plays: int = 0


@dataclass(frozen=True)
class Calibration:
    """The share of the track kept for `pause` and `silence` plays, and what it was learned from."""

    pause: float
    silence: float
    source: str  # "default" | "export" | "none" (the plain gap rule)
    pause_plays: int = 0
    silence_plays: int = 0
    rule: int = RULE
    follows: float = 1.0  # share of the gap played when the gap is shorter than the track
    follows_plays: int = 0
    # The weight of the listener's own share against the default's (`credibility`), per class.
    pause_credibility: float = 0.0
    silence_credibility: float = 0.0
    follows_credibility: float = 0.0


# Learned by `learn` on every real sample listener (tests/store/test_calibration_accuracy.py checks
# these figures against the samples): the mean of the listeners' factors, so each listener counts once.
DEFAULT = Calibration(pause=0.7889, silence=0.7082, source="default", follows=0.9188)
# The gap rule alone: what stored estimates were before calibration.
GAP_RULE = Calibration(pause=1.0, silence=1.0, source="none")


@dataclass(frozen=True)
class Measured:
    """A play whose true length is known: when it ended, how long it played, the track's duration."""

    ended: datetime
    ms_played: int
    duration_ms: int | None


def situation(gap_ms: int | None, duration_ms: int) -> str:
    """`follows`, `near`, `pause` or `silence`: where a play with this gap before its end falls.

    `follows`: the gap is shorter than the track; `near`: longer by less than `PAUSE_FROM_MS` (the
    gap rule says the whole track, and it is right for nearly all of them: left alone).
    """
    if gap_ms is None:
        return "silence"
    if gap_ms < duration_ms:
        return "follows"
    slack = gap_ms - duration_ms
    if slack >= SILENCE_FROM_MS:
        return "silence"
    if slack >= PAUSE_FROM_MS:
        return "pause"
    return "near"


def whole_minutes(ends_ms: list[int]) -> bool:
    """Whether these ends (ms since 1970) carry minutes only (account data's `endTime`): most on
    second 0.

    Their gaps are then off by up to a minute, so the share of a gap really played cannot be
    learned from them (it would learn the rounding, not the listener: the API's ends are exact).
    """
    return bool(ends_ms) and sum(1 for e in ends_ms if e % 60_000 == 0) >= 0.9 * len(ends_ms)


# A measured play as the learning reads it: (end in ms since 1970, ms played, track duration).
Row = tuple[int, int, int | None]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _rows(measured: Iterable[Measured]) -> list[Row]:
    return [((p.ended - _EPOCH) // _MS, p.ms_played, p.duration_ms) for p in measured]


# Per class, per (UTC) month of the play's end: [plays, the rule's ms, true ms, sum of true ms
# squared over the rule's ms, plays with a rule's ms over 0]. Each play's share x = true / rule
# weighs as the rule's ms w, so these hold the sums of w, w x and w x^2: all `credibility` needs.
Tally = dict[str, dict[int, list[float]]]
_CLASSES = ("pause", "silence", "follows")


def _tally(rows: list[Row]) -> Tally:
    """The plays the calibration learns from, summed per class and month."""
    tally: Tally = {kind: {} for kind in _CLASSES}
    ordered = sorted(rows, key=lambda r: r[0])
    minutes_only = whole_minutes([r[0] for r in ordered])
    previous: int | None = None
    for ended, ms_played, duration_ms in ordered:
        if ms_played < API_MIN_MS:
            continue  # the API never shows it: its time is part of the next play's gap
        if duration_ms:
            gap = None if previous is None else ended - previous
            kind = situation(gap, duration_ms)
            rule_ms = 0
            if kind == "follows" and gap is not None and not minutes_only:
                rule_ms = gap  # the rule's estimate: the gap
            elif kind in ("pause", "silence"):
                rule_ms = duration_ms  # a capped play
            else:
                kind = ""
            if kind:
                when = time.gmtime(ended // 1000)
                sums = tally[kind].setdefault(when.tm_year * 12 + when.tm_mon, [0, 0, 0, 0.0, 0])
                sums[0] += 1
                sums[1] += rule_ms
                sums[2] += ms_played
                if rule_ms > 0:
                    sums[3] += ms_played * ms_played / rule_ms
                    sums[4] += 1
        previous = ended
    return tally


def _sums(tally: Tally) -> Sums:
    each = [int(sum(month[n] for month in tally[kind].values())) for kind in _CLASSES for n in (2, 1, 0)]
    return Sums(*each)


def learn(measured: Iterable[Measured]) -> Sums:
    """Sum, per class, the true time of the plays the API would report and the gap rule's estimate."""
    return _sums(_tally(_rows(measured)))


def credibility(months: dict[int, list[float]], default: float) -> float:
    """Z, the weight of the listener's own share against `default`, from one class's plays summed
    per month (`_tally`): Bühlmann-Straub, each play's share weighted by the rule's ms (so the own
    share is the ratio of the totals), the months as the listener's sub-periods.

    v, the variance of the own share around the listener's long-run share: the spread within the
    months over the total weight, plus the spread between months (beyond what the within spread
    explains). a, how far listeners' shares lie from the default: the squared distance of the own
    share from it, less v (one listener's moment estimate; the default holds no listener's spread).
    Z = a / (a + v): 0 with fewer than two plays, or when the distance is within the noise.
    """
    used = [sums for sums in months.values() if sums[1] > 0]
    freedom = sum(sums[4] - 1 for sums in used)
    if freedom <= 0:
        return 0.0
    total = sum(sums[1] for sums in used)
    mean = sum(sums[2] for sums in used) / total
    # Within a month: sum of w (x - the month's mean)^2 = sum w x^2 - (sum w x)^2 / sum w.
    within = max(0.0, sum(sums[3] - sums[2] * sums[2] / sums[1] for sums in used) / freedom)
    squares = sum(sums[1] * sums[1] for sums in used)
    between = 0.0
    if len(used) > 1:
        spread = sum(sums[1] * (sums[2] / sums[1] - mean) ** 2 for sums in used)
        between = max(0.0, (spread - (len(used) - 1) * within) / (total - squares / total))
    noise = within / total + between * squares / total**2
    among = max(0.0, (mean - default) ** 2 - noise)
    return among / (among + noise) if among > 0 else 0.0


def _share(months: dict[int, list[float]], default: float) -> tuple[float, float]:
    """(factor, credibility) of one class: the own share and the default, weighed by credibility."""
    rule_ms = sum(sums[1] for sums in months.values())
    if not rule_ms:
        return default, 0.0
    z = credibility(months, default)
    factor = z * sum(sums[2] for sums in months.values()) / rule_ms + (1 - z) * default
    # At most 1: a capped play lasts at most the track, a play at most its gap.
    return round(min(1.0, max(MIN_FACTOR, factor)), 4), round(z, 4)


def fit(measured: Iterable[Measured], default: Calibration = DEFAULT) -> Calibration:
    """The calibration of a listener with these measured plays: per class, the own share and the
    default's, weighed by `credibility`; the default alone when no play is counted."""
    return _fit(_rows(measured), default)


def _fit(rows: list[Row], default: Calibration = DEFAULT) -> Calibration:
    tally = _tally(rows)
    sums = _sums(tally)
    if sums.pause_plays + sums.silence_plays + sums.follows_plays == 0:
        return default
    pause, pause_z = _share(tally["pause"], default.pause)
    silence, silence_z = _share(tally["silence"], default.silence)
    follows, follows_z = _share(tally["follows"], default.follows)
    return Calibration(
        pause=pause,
        silence=silence,
        source="export",
        pause_plays=sums.pause_plays,
        silence_plays=sums.silence_plays,
        follows=follows,
        follows_plays=sums.follows_plays,
        pause_credibility=pause_z,
        silence_credibility=silence_z,
        follows_credibility=follows_z,
    )


def measured_plays(conn: Connection, user_id: str, limit: int = LEARN_PLAYS) -> list[Row]:
    """The account's most recent plays with an exported (true) length of at least `API_MIN_MS`.

    A track without a known duration gets the export's own lower bound: its longest play that ended
    with `trackdone` (or had no reason recorded, as in account data), else its longest play (among
    these plays). Plain integers from the database: no instant is parsed.
    """
    recent = (
        select(
            epoch_ms(plays.c.played_at).label("ended"),
            plays.c.ms_played,
            plays.c.track_id,
            plays.c.reason_end,
        )
        .where(
            plays.c.user_id == user_id,
            plays.c.ms_played_source == "export",
            plays.c.ms_played >= API_MIN_MS,
        )
        .order_by(plays.c.played_at.desc())
        .limit(limit)
        .subquery()
    )
    done = case((or_(recent.c.reason_end == "trackdone", recent.c.reason_end.is_(None)), recent.c.ms_played))
    duration = func.coalesce(
        func.nullif(tracks.c.duration_ms, 0),
        func.max(done).over(partition_by=recent.c.track_id),
        func.max(recent.c.ms_played).over(partition_by=recent.c.track_id),
    )
    query = select(recent.c.ended, recent.c.ms_played, duration).outerjoin(
        tracks, tracks.c.id == recent.c.track_id
    )
    return [(int(e), int(ms), None if d is None else int(d)) for e, ms, d in conn.execute(query)]


def stored(conn: Connection, user_id: str) -> Calibration | None:
    """The calibration kept for this account, None when none is (or one of another rule)."""
    value = get_state(conn, STATE_KEY, scope=user_id)
    if value is None:
        return None
    kept = json.loads(value)
    if kept.get("rule") != RULE:
        return None  # another rule's fields may differ: relearned
    return Calibration(**kept)


def in_use(conn: Connection, user_id: str) -> Calibration:
    """What `update_estimates` applies: the kept calibration, else the plain gap rule."""
    return stored(conn, user_id) or GAP_RULE


def learn_stored(conn: Connection, user_id: str) -> Calibration:
    """The calibration this account's measured plays give; it only reads, so it may run on a
    connection of its own (`keep` stores it)."""
    return _fit(measured_plays(conn, user_id))


def keep(conn: Connection, user_id: str, learned: Calibration, now: datetime) -> bool:
    """Keep `learned` as the account's calibration; whether it changed."""
    if learned == stored(conn, user_id):
        return False
    set_state(conn, STATE_KEY, json.dumps(asdict(learned), sort_keys=True), now, scope=user_id)
    return True
