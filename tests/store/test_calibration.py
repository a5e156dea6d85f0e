"""Calibrated estimates: learned from a synthetic export, applied to API plays, the default without
an export, and the summaries made stale when a new calibration changes stored estimates."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, insert, select

from brapped.insights.rollups import refresh
from brapped.insights.rollups import state as summaries
from brapped.store import Store, tables
from brapped.store.calibration import (
    DEFAULT,
    RULE,
    STATE_KEY,
    Calibration,
    Measured,
    fit,
    keep,
    learn_stored,
    stored,
)
from brapped.store.estimates import ensure_calibrated, recalibrate_estimates, update_estimates
from brapped.store.state import get_state, set_state

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
DURATION = 200_000
BLOCKS = 60


def _track(conn: Connection, track: str = "t", duration: int | None = DURATION) -> None:
    conn.execute(insert(tables.tracks).values(id=track, name=track, duration_ms=duration))


def _export_play(
    conn: Connection, at: datetime, ms: int, track: str = "t", reason: str | None = "by length"
) -> None:
    """An exported play; its reason_end by default: trackdone when it lasted the whole track."""
    if reason == "by length":
        reason = "trackdone" if ms == DURATION else "endplay"
    conn.execute(
        insert(tables.plays).values(
            user_id="u",
            played_at=at,
            track_id=track,
            ms_played=ms,
            ms_played_source="export",
            source="export",
            reason_end=reason,
        )
    )


def _api_play(conn: Connection, at: datetime, track: str = "t") -> None:
    conn.execute(insert(tables.plays).values(user_id="u", played_at=at, track_id=track, source="api"))


def synthetic_export(conn: Connection, start: datetime = T0) -> datetime:
    """BLOCKS sessions two hours apart, each: a play after a silence (75 % of the track), a short
    skip, a play after a five-minute pause (60 %), a play that follows directly (all of it).
    Returns the end of the last play."""
    at = start
    for _ in range(BLOCKS):
        _export_play(conn, at, 150_000)  # silence: 2 h since the last session (or nothing before)
        # A 10 s skip the API never shows, 150 s before the next play ends: counted, it would
        # make the next gap shorter than the track ("follows").
        pause_end = at + timedelta(milliseconds=DURATION) + timedelta(minutes=5)
        _export_play(conn, pause_end - timedelta(seconds=150), 10_000)
        _export_play(conn, pause_end, 120_000)  # pause: gap - duration = 5 min
        _export_play(conn, pause_end + timedelta(milliseconds=DURATION), DURATION)  # follows
        last = pause_end + timedelta(milliseconds=DURATION)
        at += timedelta(hours=2)
    return last


def recalibrate(conn: Connection, user_id: str, now: datetime) -> tuple[Calibration, bool]:
    """Learn and keep, as `estimates.recalibrate_estimates` does: (learned, whether it changed)."""
    found = learn_stored(conn, user_id)
    return found, keep(conn, user_id, found, now)


def test_learned_from_a_synthetic_export(store: Store) -> None:
    with store.begin() as conn:
        _track(conn)
        synthetic_export(conn)
        learned, changed = recalibrate(conn, "u", NOW)
        kept = json.loads(get_state(conn, STATE_KEY, scope="u") or "{}")
    # By hand: every session is the same, so the own shares (0.75 and 0.6) have no spread at all
    # and get the whole weight (credibility 1); no play follows another closer than its track.
    silence, pause = 0.75, 0.6
    assert changed
    assert (learned.pause, learned.silence, learned.source) == (pause, silence, "export")
    assert (learned.pause_credibility, learned.silence_credibility, learned.follows_credibility) == (1, 1, 0)
    assert learned.follows == DEFAULT.follows
    assert (learned.pause_plays, learned.silence_plays) == (BLOCKS, BLOCKS)
    assert kept["pause"] == pause and kept["silence"] == silence and kept["source"] == "export"
    with store.begin() as conn:  # the same plays again: nothing new to keep
        assert recalibrate(conn, "u", NOW) == (learned, False)


def test_applied_to_api_plays(store: Store) -> None:
    using = Calibration(pause=0.6, silence=0.45, source="export", follows=0.5)
    with store.begin() as conn:
        _track(conn)
        _track(conn, "nodur", None)
        seconds = [
            0,  # nothing before: silence, 45 % of the track
            90,  # follows (gap shorter than the track): half the 90 s gap
            200 + 30,  # 30 s more than the track: the track
            200 + 60,  # a minute more: still the track (a pause starts at two minutes)
            200 + 120,  # two minutes more: pause, 60 %
            200 + 1799,  # just under 30 min more: pause
            200 + 1800,  # 30 min more: silence
        ]
        ends = [T0 + timedelta(seconds=sum(seconds[: i + 1])) for i in range(len(seconds))]
        for at in ends:
            _api_play(conn, at)
        _api_play(conn, ends[-1] + timedelta(hours=3), "nodur")  # no duration: the gap
        # Short tracks after a silence: 45 % of 50 s is under the API's 30 s, so 30 s; a 20 s
        # track (never reported by the API, but stored by someone) keeps its 20 s.
        _track(conn, "short", 50_000)
        _track(conn, "tiny", 20_000)
        _api_play(conn, ends[-1] + timedelta(hours=6), "short")
        _api_play(conn, ends[-1] + timedelta(hours=9), "tiny")
        update_estimates(conn, "u", using=using)
        values = conn.execute(select(tables.plays.c.ms_played).order_by(tables.plays.c.played_at)).scalars()
    expected = [90_000, 45_000, DURATION, DURATION, 120_000, 120_000, 90_000, 3 * 3_600_000, 30_000, 20_000]
    assert list(values) == expected


def test_without_an_export_the_default(store: Store) -> None:
    with store.begin() as conn:
        _track(conn)
        _api_play(conn, T0)
        assert stored(conn, "u") is None
        update_estimates(conn, "u")  # nothing kept yet: the plain gap rule
        assert conn.execute(select(tables.plays.c.ms_played)).scalar() == DURATION
        assert ensure_calibrated(conn, "u", NOW) == 1
        assert stored(conn, "u") == DEFAULT
        assert conn.execute(select(tables.plays.c.ms_played)).scalar() == round(DURATION * DEFAULT.silence)
        assert ensure_calibrated(conn, "u", NOW) == 0  # once


def test_a_new_calibration_makes_the_summaries_stale(store: Store) -> None:
    api_start = T0 + timedelta(days=30)
    with store.begin() as conn:
        _track(conn)
        for day in range(20):
            _api_play(conn, api_start + timedelta(days=day))
        ensure_calibrated(conn, "u", NOW)
        # An export arrives (its plays are older); the import's own hook has not run yet.
        synthetic_export(conn)
    with store.begin() as conn:
        refresh(conn, "UTC", 30_000, NOW)
        built = summaries(conn)
        generation = conn.execute(select(tables.report_state.c.generation)).scalar_one()
    assert built is not None and not built.stale and built.cutoff > api_start
    with store.begin() as conn:
        assert recalibrate_estimates(conn, "u", NOW) == 20
        learned = stored(conn, "u")
        first = conn.execute(
            select(tables.plays.c.ms_played).where(tables.plays.c.played_at == api_start)
        ).scalar()
        after = summaries(conn)
    assert learned is not None and learned.source == "export"
    assert first == round(DURATION * learned.silence)  # a day after the export's last play
    assert after is not None and after.stale  # reports sum the plays again until rebuilt
    with store.begin() as conn:
        refresh(conn, "UTC", 30_000, NOW)
        assert conn.execute(select(tables.report_state.c.generation)).scalar_one() == generation + 1


def _silences(shares: list[float], start: datetime = T0) -> list[Measured]:
    """Plays of a DURATION track two hours apart (each after a silence), with these shares played."""
    return [
        Measured(start + timedelta(hours=2 * i), round(DURATION * x), DURATION) for i, x in enumerate(shares)
    ]


def test_the_own_share_weighs_by_its_credibility() -> None:
    """Bühlmann-Straub, computed here on plain lists: the tracks are all as long, so every play
    weighs the same and the formulas reduce to unweighted means and variances."""
    may = [0.3, 0.5] * 5
    june = [0.5, 0.7] * 5
    default = Calibration(pause=0.8, silence=0.8, source="default", follows=1.0)
    learned = fit(_silences(may) + _silences(june, T0 + timedelta(days=31)), default)
    n, months = len(may) + len(june), [may, june]
    mean = statistics.mean(may + june)
    within = sum(sum((x - statistics.mean(m)) ** 2 for x in m) for m in months) / (n - len(months))
    spread = sum(len(m) * (statistics.mean(m) - mean) ** 2 for m in months)
    squares = sum(len(m) ** 2 for m in months)
    between = (spread - (len(months) - 1) * within) / (n - squares / n)
    noise = within / n + between * squares / n**2
    among = (mean - default.silence) ** 2 - noise
    z = among / (among + noise)
    assert between > 0 and 0 < z < 1  # the case this is meant to check
    assert learned.silence_credibility == round(z, 4)
    assert learned.silence == round(z * mean + (1 - z) * default.silence, 4)
    assert (learned.silence_plays, learned.pause, learned.follows) == (n, default.pause, default.follows)


def test_the_default_where_the_export_cannot_tell() -> None:
    # The same share all along: no spread, the own share only.
    steady = fit(_silences([0.5] * 30))
    assert (steady.silence, steady.silence_credibility) == (0.5, 1)
    # Shares spread around the default's: their distance from it is noise, the default only.
    around = [DEFAULT.silence - 0.2, DEFAULT.silence + 0.2] * 10 + [DEFAULT.silence + 0.01]
    noisy = fit(_silences(around))
    assert (noisy.silence, noisy.silence_credibility) == (DEFAULT.silence, 0)
    # One play: no spread to measure, the default only.
    one = fit(_silences([0.5]))
    assert (one.silence, one.silence_credibility, one.source) == (DEFAULT.silence, 0, "export")


@pytest.mark.parametrize("rule", [2, 3])
def test_a_calibration_of_an_older_rule_is_relearned(store: Store, rule: int) -> None:
    # As rules 2 and 3 stored it: rule 2 without `prior_plays` (its weight was always 50 plays),
    # rule 3 with it (chosen on the export); neither has the credibilities.
    old: dict[str, object] = {
        "pause": 0.5,
        "silence": 0.5,
        "follows": 1.0,
        "source": "export",
        "pause_plays": 10,
        "silence_plays": 10,
        "follows_plays": 0,
        "rule": rule,
    }
    if rule == 3:
        old["prior_plays"] = 20
    assert rule < RULE
    with store.begin() as conn:
        _track(conn)
        _api_play(conn, T0)
        set_state(conn, STATE_KEY, json.dumps(old), NOW, scope="u")
        assert stored(conn, "u") is None  # another rule: not applied
        assert ensure_calibrated(conn, "u", NOW) == 1  # no export: the default, re-estimated
        assert stored(conn, "u") == DEFAULT
        assert conn.execute(select(tables.plays.c.ms_played)).scalar() == round(DURATION * DEFAULT.silence)


def test_measured_plays_fall_back_on_the_exports_own_lengths(store: Store) -> None:
    """A track without a duration is as long as its longest play that ended with trackdone (or no
    reason, as account data has), else its longest play; plays under 30 s and API plays are left out."""
    from brapped.store.calibration import measured_plays

    def ms(at: datetime) -> int:
        return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)

    at = [T0 + timedelta(minutes=10 * i, milliseconds=7 * i) for i in range(9)]
    with store.begin() as conn:
        _track(conn, "t")
        _track(conn, "done", None)
        _track(conn, "cut", None)
        _track(conn, "zero", 0)
        _export_play(conn, at[0], 150_000, "t", "endplay")
        _export_play(conn, at[1], 180_000, "done", "trackdone")
        _export_play(conn, at[2], 190_000, "done", "endplay")  # longer, but not played to its end
        _export_play(conn, at[3], 170_000, "done", None)
        _export_play(conn, at[4], 100_000, "cut", "endplay")
        _export_play(conn, at[5], 120_000, "cut", "fwdbtn")
        _export_play(conn, at[6], 90_000, "zero", "trackdone")
        _export_play(conn, at[7], 20_000, "t", "endplay")  # under 30 s: the API never shows it
        _api_play(conn, at[8])
        got = sorted(measured_plays(conn, "u"))
    assert got == [
        (ms(at[0]), 150_000, DURATION),
        (ms(at[1]), 180_000, 180_000),
        (ms(at[2]), 190_000, 180_000),
        (ms(at[3]), 170_000, 180_000),
        (ms(at[4]), 100_000, 120_000),
        (ms(at[5]), 120_000, 120_000),
        (ms(at[6]), 90_000, 90_000),
    ]
