"""Cached report results: reused while the data is unchanged, never served stale after a write."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from brapped.insights import report_cache, rollups
from brapped.insights.search import refresh_search_names
from brapped.store import Store
from brapped.store.runs import record_run
from brapped.store.tables import plays, search_names
from brapped.web import create_app
from brapped.web.cache import ResultCache
from tests.web.conftest import NOW, FixedClock, make_settings, seed

pytestmark = pytest.mark.anyio


def test_lru_keeps_the_newest(store: Store) -> None:
    cache = ResultCache(max_entries=2)
    calls: list[str] = []
    with store.connect() as conn:
        for key in ("a", "b", "a", "c", "b"):
            cache.get_or_compute(conn, key, lambda k=key: calls.append(k) or k)  # type: ignore[func-returns-value]
    # "a" was reused once; "b" was evicted by "c" (the least recently used) and computed again.
    assert calls == ["a", "b", "c", "b"]
    assert cache.stats() == {"entries": 2, "hits": 1, "misses": 4, "waits": 0}


def test_one_computation_per_result_at_a_time(store: Store) -> None:
    """A request for a result being computed waits for it instead of computing it alongside."""
    cache = ResultCache()
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow() -> str:
        calls.append("slow")
        started.set()
        release.wait(10)
        return "answer"

    answers: list[str] = []

    def ask() -> None:
        with store.connect() as conn:
            answers.append(cache.get_or_compute(conn, "wrapped", slow))

    first = threading.Thread(target=ask)
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=ask)
    second.start()
    deadline = time.monotonic() + 10
    while cache.stats()["waits"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    first.join(10)
    second.join(10)
    assert answers == ["answer", "answer"]
    assert calls == ["slow"]
    assert cache.stats() == {"entries": 1, "hits": 0, "misses": 1, "waits": 1}


def test_a_failed_computation_is_not_shared(store: Store) -> None:
    cache = ResultCache()
    with store.connect() as conn:
        with pytest.raises(RuntimeError):
            cache.get_or_compute(conn, "k", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
        assert cache.get_or_compute(conn, "k", lambda: "fine") == "fine"
    assert cache.stats()["entries"] == 1


async def test_a_sync_makes_cached_pages_fresh(store: Store, tmp_path: Path) -> None:
    seed(store)
    app = create_app(store, make_settings(tmp_path / "home"), FixedClock(NOW))
    board = app.state.dashboard
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        first = (await client.get("/api/today")).json()
        again = (await client.get("/api/today")).json()
        assert again == first
        assert board.cache.stats()["hits"] == 1
        # A play arrives (as a sync would write it): the next answer includes it.
        with store.begin() as conn:
            conn.execute(
                plays.insert().values(
                    user_id="listener",
                    played_at=NOW - timedelta(minutes=5),
                    track_id="trk_hit",
                    ms_played=60_000,
                    ms_played_source="export",
                    source="api",
                )
            )
        fresh = (await client.get("/api/today")).json()
        assert fresh["plays"] == first["plays"] + 1
        assert fresh["minutes_listened"] == round(first["minutes_listened"] + 1, 2)
        # A finished run (enrich renaming things, an import) also invalidates.
        before = board.cache.stats()["misses"]
        with store.begin() as conn:
            record_run(conn, "enrich", NOW, NOW, "ok")
        await client.get("/api/today")
        assert board.cache.stats()["misses"] == before + 1


def test_warm_computes_the_usual_pages_once(store: Store, tmp_path: Path) -> None:
    seed(store)  # 21 days of plays up to NOW (March 2026)
    with store.begin() as conn:  # and one in 2023: the Wrapped years 2023 to 2026 have plays
        conn.execute(
            plays.insert().values(
                user_id="listener", played_at=NOW.replace(year=2023), track_id="trk_hit",
                ms_played=150_000, ms_played_source="export", source="export",
            )
        )  # fmt: skip
    app = create_app(store, make_settings(tmp_path / "home"), FixedClock(NOW))
    board = app.state.dashboard
    warmer = board.start_warming(interval=3600)
    try:
        for _ in range(200):
            if warmer.rounds:
                break
            time.sleep(0.05)
        assert warmer.rounds == 1
        # today's report, 5 overview periods, 4 Wrapped years, 4 top lists, and the story pages of
        # the seed's 3 artists, 3 tracks and 2 albums (fewer than five of each)
        assert board.cache.stats()["entries"] == 14 + 3 + 3 + 2
        assert board.warm() == warmer.warmed_version  # unchanged data: nothing recomputed
        assert board.cache.stats()["misses"] == 22
        # The summaries long-period pages read are built, for the dashboard's zone.
        with store.connect() as conn:
            described = report_cache.describe(conn)
        assert described["built"] and not described["stale"] and described["timezone"] == board.timezone
        # The closed years' Wrapped (2023 to 2025) are kept in the database for the next start,
        # with the totals of the year before each Wrapped (2022 to 2025).
        assert described["kept_reports"] == 3 + 4
        # Every name is folded for search already: the first search finds nothing left to do.
        with store.begin() as conn:
            assert refresh_search_names(conn) == 0
            assert conn.execute(select(func.count()).select_from(search_names)).scalar_one() > 0
    finally:
        warmer.stop()


async def test_health_page_says_whether_the_summaries_are_fresh(store: Store, tmp_path: Path) -> None:
    seed(store)
    app = create_app(store, make_settings(tmp_path / "home"), FixedClock(NOW))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert "Not built yet" in (await client.get("/health")).text
        assert (await client.get("/api/health")).json()["summaries"] == {"built": False}
        rollups.refresh_store(store, app.state.dashboard.timezone, 30_000, NOW)
        page = (await client.get("/health")).text
        assert ">fresh</span>" in page and ">stale</span>" not in page
        api = (await client.get("/api/health")).json()["summaries"]
        assert api["built"] is True and api["stale"] is False and api["kept_reports"] == 0
        assert "kept (read back instead of computed again): 0." in page
        with store.begin() as conn:
            rollups.mark_stale(conn)
        assert ">stale</span>" in (await client.get("/health")).text
