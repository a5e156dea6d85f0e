"""Top lists' side figures on the hand-made history (tests/insights/conftest.py)."""

from __future__ import annotations

from datetime import date

from brapped.insights import Period, genre_coverage
from brapped.insights.scope import Scope
from brapped.store import Store
from tests.insights.conftest import TZ, add_plays, at


def test_genre_coverage_counts_various_artists_plays_as_left_out(history: Store) -> None:
    """2024-10-27 (Berlin): t1 and t2 twice (Alpha: pop), t3 (Gamma: rock, indie) and t5, a
    Various Artists compilation track: five plays, four with a known genre. The VA play is one of
    those the genres leave out (docs/reports.md), not a play that is not there."""
    with history.connect() as conn:
        coverage = genre_coverage(conn, Scope.of(Period.day(date(2024, 10, 27), TZ), None, 30_000))
    assert coverage == {"plays": 5, "plays_with_genres": 4, "share": 0.8}


def test_genre_coverage_share_has_four_decimals_as_every_share(history: Store) -> None:
    """The year 2024: both DST days (ten plays, seven with a known genre, as the day above shows),
    and one more play of the Various Artists track: 7 of 11, 0.6364 as every share is given."""
    with history.begin() as conn:
        add_plays(conn, [{"played_at": at("2024-12-01T12:00:00"), "track_id": "t5", "ms_played": 60_000}])
    with history.connect() as conn:
        coverage = genre_coverage(conn, Scope.of(Period.year(2024, TZ), None, 30_000))
    assert coverage == {"plays": 11, "plays_with_genres": 7, "share": 0.6364}
