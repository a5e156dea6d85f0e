"""Top lists' side figures on the hand-made history (tests/insights/conftest.py)."""

from __future__ import annotations

from datetime import date

from brapped.insights import Period, genre_coverage
from brapped.insights.scope import Scope
from brapped.store import Store
from tests.insights.conftest import TZ


def test_genre_coverage_counts_various_artists_plays_as_left_out(history: Store) -> None:
    """2024-10-27 (Berlin): t1 and t2 twice (Alpha: pop), t3 (Gamma: rock, indie) and t5, a
    Various Artists compilation track: five plays, four with a known genre. The VA play is one of
    those the genres leave out (docs/reports.md), not a play that is not there."""
    with history.connect() as conn:
        coverage = genre_coverage(conn, Scope.of(Period.day(date(2024, 10, 27), TZ), None, 30_000))
    assert coverage == {"plays": 5, "plays_with_genres": 4, "share": 4 / 5}
