"""The views return what the reports return (v_daily against insights' day report, UTC days)."""

from __future__ import annotations

from datetime import date

from brapped.insights.daily import day_report
from brapped.store import Store
from tests.pipeline.conftest import fill
from tests.store.test_views import rows


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


def test_v_artist_credit_returns_what_the_top_artists_report_returns(store: Store) -> None:
    from brapped.insights.scope import Scope
    from brapped.insights.top import top_artists

    fill(store, plays=300)
    credited = rows(
        store,
        "SELECT artist_id, SUM(CASE WHEN role = 'main' THEN 1 ELSE 0 END) AS main_plays, "
        "SUM(CASE WHEN role = 'featured' THEN 1 ELSE 0 END) AS featured_plays, "
        "SUM(COALESCE(ms_played, 0)) AS ms_played FROM v_artist_credit GROUP BY artist_id",
    )
    with store.connect() as conn:
        report = top_artists(conn, Scope(), limit=1000)
    assert len(report) == len(credited) > 5
    by_id = {row["artist_id"]: row for row in credited}
    for artist in report:
        view = by_id[artist["id"]]
        assert (int(view["main_plays"]), int(view["featured_plays"]), int(view["ms_played"])) == (
            artist["main_plays"],
            artist["featured_plays"],
            artist["ms_played"],
        )
