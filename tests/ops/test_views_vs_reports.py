"""The views return what the reports return (v_daily against insights' day report, UTC days)."""

from __future__ import annotations

from datetime import date

from brapped.insights.daily import day_report
from brapped.store import Store
from tests.ops.conftest import fill
from tests.ops.test_views import rows


def test_v_daily_returns_what_the_daily_report_returns(store: Store) -> None:
    fill(store, plays=300)
    daily = rows(store, "SELECT * FROM v_daily")
    assert len(daily) > 3
    with store.connect() as conn:
        for row in daily:
            report = day_report(conn, date.fromisoformat(row["day_utc"]), "UTC", user_id=row["user_id"])
            assert (
                row["plays"],
                row["ms_played"],
                row["distinct_tracks"],
                row["distinct_albums"],
                row["distinct_artists"],
            ) == (
                report["plays"],
                report["ms_played"],
                report["distinct_tracks"],
                report["distinct_albums"],
                report["distinct_artists"],
            )
            assert round(float(row["minutes_played"]), 2) == report["minutes_listened"]
