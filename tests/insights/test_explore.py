"""Search, top lists and artist/track stories on the hand-made history, on both databases."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from brapped.insights import (
    NotFound,
    ReportError,
    Scope,
    artist_story,
    fold,
    refresh_search_names,
    resolve,
    search,
    top,
    track_story,
)
from brapped.store import Store, open_store, tables
from tests.insights.conftest import FALL_BACK_DAY, SPRING_FORWARD_DAY, TZ, add_catalogue, add_plays, at


def test_fold() -> None:
    assert fold("  Björk   Guðmundsdóttir ") == "bjork gudmundsdottir"
    assert fold("Søren ŁUKASZ Straße") == "soren lukasz strasse"
    assert fold("ＡＢＣ") == "abc"  # full width
    assert fold("!!!") == "!!!"


def test_search_ignores_case_and_accents_and_unplayed_things(history: Store) -> None:
    with history.begin() as conn:
        conn.execute(insert(tables.artists).values(id="a9", name="Ælpha Never Played"))
        conn.execute(update(tables.artists).where(tables.artists.c.id == "a3").values(name="Gámma"))
        found = search(conn, "GAMMA")
        accents = search(conn, "ÅLPHÀ")
    assert [a["id"] for a in found["artists"]] == ["a3"]
    assert found["artists"][0]["name"] == "Gámma"
    assert found["artists"][0]["plays"] == 1
    assert [a["id"] for a in accents["artists"]] == ["a1"]  # a9 was never played
    assert accents["artists"][0]["plays"] == 6
    assert accents["artists"][0]["first_played"] == at("2024-03-31T00:59:59")


def test_search_ranks_exact_matches_first_then_plays(history: Store) -> None:
    with history.begin() as conn:
        found = search(conn, "o")  # One, Four, Two (feat. Beta); album Comp
    assert [t["id"] for t in found["tracks"]] == ["t1", "t4", "t2"]  # 4 plays, then 2 each: by name
    assert found["tracks"][2]["artists"][1] == {"id": "a2", "name": "Beta", "role": "featured"}
    assert [a["id"] for a in found["albums"]] == ["al2"]
    with history.begin() as conn:
        assert [t["id"] for t in search(conn, "four")["tracks"]] == ["t4"]
        assert search(conn, "100%_")["tracks"] == []  # LIKE wildcards are escaped


def test_search_names_follow_renames_and_removals(history: Store) -> None:
    with history.begin() as conn:
        search(conn, "x")
        conn.execute(update(tables.tracks).where(tables.tracks.c.id == "t3").values(name="Drei"))
        assert [t["id"] for t in search(conn, "drei")["tracks"]] == ["t3"]
        assert search(conn, "three")["tracks"] == []
        names = conn.execute(select(func.count()).select_from(tables.search_names)).scalar_one()
    assert names == 5 + 5 + 3  # tracks, artists, albums
    with history.begin() as conn:
        assert refresh_search_names(conn) == 0  # up to date: counts match, nothing refolded
        conn.execute(update(tables.artists).where(tables.artists.c.id == "a2").values(name="Bêta Band"))
        assert refresh_search_names(conn) == 1  # the trigger dropped the old name
        assert [a["id"] for a in search(conn, "beta band")["artists"]] == ["a2"]


def test_search_needs_letters(history: Store) -> None:
    from brapped.errors import BrappedError

    with history.begin() as conn, pytest.raises(BrappedError, match="needs some letters"):
        search(conn, "   ")


def test_top_lists_by_minutes_and_limit(history: Store) -> None:
    with history.connect() as conn:
        by_minutes = top(conn, "tracks", Scope(), by="minutes", limit=2)
        by_streams = top(conn, "artists", Scope(), by="streams")
        user2 = top(conn, "artists", Scope(user_id="nobody"))
        with pytest.raises(ReportError):
            top(conn, "labels", Scope())  # type: ignore[arg-type]
        with pytest.raises(ReportError):
            top(conn, "tracks", Scope(), by="skips")  # type: ignore[arg-type]
        with pytest.raises(ReportError):
            top(conn, "tracks", Scope(), limit=0)
    assert [(t["id"], t["ms_played"]) for t in by_minutes] == [("t1", 309_999), ("t3", 100_000)]
    # streams: Alpha 4 (200 s, 50 s, 60 s, 30 s), Beta 2 (60 s as featured, 40 s), Gamma 1
    assert [(a["id"], a["streams"]) for a in by_streams] == [("a1", 4), ("a2", 2), ("a3", 1)]
    assert user2 == []


def test_artist_story(history: Store) -> None:
    with history.begin() as conn:
        story = artist_story(conn, "bêta", TZ)
        by_id = artist_story(conn, "a2", TZ)
    assert story == by_id
    assert story["artist"] == {
        "id": "a2",
        "name": "Beta",
        "genres": [],
        "image_url": None,
        "tags": [],
        "musicbrainz": None,
    }
    assert (story["plays"], story["main_plays"], story["featured_plays"]) == (4, 2, 2)
    assert story["rank"] == 2
    assert story["first_played"] == at("2024-03-31T12:00:00")
    assert story["first_played_local"] == "2024-03-31T14:00:00+02:00"
    assert story["last_played_local"] == "2024-10-27T02:30:00+01:00"
    assert story["months"] == [
        {"month": "2024-03", "plays": 1, "streams": 0, "minutes": 0.0},
        {"month": "2024-10", "plays": 3, "streams": 2, "minutes": round(120_000 / 60_000, 2)},
    ]
    assert [t["id"] for t in story["top_tracks"]] == ["t2", "t4"]
    assert story["featured_with"] == [
        {
            "id": "a1",
            "name": "Alpha",
            "plays": 2,
            "tracks": 1,
            "plays_with_them_featured": 0,
            "plays_as_their_guest": 2,
        }
    ]


def test_artist_story_of_various_artists_has_no_rank_and_alpha_genres(history: Store) -> None:
    with history.begin() as conn:
        various = artist_story(conn, "0LyfQWJT6nXafLPZqxe9Of", TZ)
        alpha = artist_story(conn, "alpha", TZ)
    assert various["rank"] is None
    assert alpha["artist"]["genres"] == ["pop"]
    assert alpha["featured_with"][0]["plays_with_them_featured"] == 2


def test_track_story(history: Store) -> None:
    with history.begin() as conn:
        story = track_story(conn, "ONE", TZ)
    assert story["track"]["id"] == "t1"
    assert story["track"]["album"] == {"id": "al1", "name": "First", "release_date": "2001-05-01"}
    assert (story["plays"], story["streams"], story["ms_played"], story["rank"]) == (4, 3, 309_999, 1)
    # Two plays on 31 March and on 27 October-28 October one each: the busiest day is 31 March.
    assert story["busiest_day"] == {"date": "2024-03-31", "plays": 2, "minutes": round(59_999 / 60_000, 2)}
    assert [m["month"] for m in story["months"]] == ["2024-03", "2024-10"]


def test_ambiguous_names_list_the_others(history: Store) -> None:
    with history.begin() as conn:
        add_plays(conn, [{"played_at": at("2024-06-01T12:00:00"), "track_id": "t5", "ms_played": 1}])
        story = track_story(conn, "f", TZ)  # Five, Four, Two (feat. Beta): 2 plays each
    assert story["track"]["id"] == "t5"  # same plays: by name
    # With their credits, which tell tracks of one name apart.
    alpha, beta = {"id": "a1", "name": "Alpha"}, {"id": "a2", "name": "Beta"}
    assert story["also_matched"] == [
        {"id": "t4", "name": "Four", "plays": 2, "artists": [dict(beta, role="main")]},
        {
            "id": "t2",
            "name": "Two (feat. Beta)",
            "plays": 2,
            "artists": [dict(alpha, role="main"), dict(beta, role="featured")],
        },
    ]


def test_not_found(history: Store) -> None:
    with history.begin() as conn:
        with pytest.raises(NotFound, match="no artist you played"):
            artist_story(conn, "Nobody", TZ)
        conn.execute(insert(tables.tracks).values(id="t9", name="Unplayed"))
        with pytest.raises(NotFound):
            track_story(conn, "unplayed", TZ)
        with pytest.raises(NotFound, match="never played"):
            track_story(conn, "t9", TZ)


def _add_played_track(store: Store, track_id: str, name: str) -> None:
    with store.begin() as conn:
        conn.execute(insert(tables.tracks).values(id=track_id, name=name, album_id="al1", duration_ms=1000))
        conn.execute(insert(tables.track_artists).values(track_id=track_id, position=0, artist_id="a1"))
        add_plays(conn, [{"played_at": at("2024-05-01T12:00:00"), "track_id": track_id, "ms_played": 1000}])


def test_a_search_while_another_connection_adds_names_answers(history: Store) -> None:
    """A search reads, then folds new names: a sync committing names in between must not fail it
    (on SQLite a transaction that read cannot write after another connection's commit)."""
    with history.begin() as conn:
        search(conn, "x")  # every name folded
    _add_played_track(history, "t9", "Nine")  # committed, not folded yet
    with history.begin() as reader:
        assert reader.execute(select(func.count()).select_from(tables.tracks)).scalar_one() == 6
        _add_played_track(history, "t10", "Ten")  # another connection commits meanwhile
        found = search(reader, "one")
        assert [t["id"] for t in found["tracks"]] == ["t1"]
        nine = [t["id"] for t in search(reader, "nine")["tracks"]]
        # PostgreSQL folds Nine in this transaction; SQLite cannot write now and folds it next time.
        assert nine == (["t9"] if history.dialect == "postgresql" else [])
        assert resolve(reader, "track", "One")["id"] == "t1"
    with history.begin() as conn:
        assert [t["id"] for t in search(conn, "nine")["tracks"]] == ["t9"]
        assert [t["id"] for t in search(conn, "ten")["tracks"]] == ["t10"]


def test_two_searches_folding_the_same_new_names_at_once_both_answer(pg_url: str) -> None:
    """On PostgreSQL the second of two searches folding the same new name waits for the first,
    then finds the name taken: it answers with the first's fold instead of failing."""
    store = open_store(pg_url)
    try:
        with store.begin() as conn:
            add_catalogue(conn)
            add_plays(conn, FALL_BACK_DAY + SPRING_FORWARD_DAY)
            search(conn, "x")
        _add_played_track(store, "t9", "Nine")
        second: dict[str, Any] = {}

        def search_meanwhile() -> None:
            try:
                with store.begin() as conn:
                    second["found"] = [t["id"] for t in search(conn, "nine")["tracks"]]
            except Exception as exc:  # reported below, in the test's thread
                second["error"] = exc

        with store.begin() as first:
            assert [t["id"] for t in search(first, "nine")["tracks"]] == ["t9"]  # folded, uncommitted
            thread = threading.Thread(target=search_meanwhile)
            thread.start()
            deadline = time.monotonic() + 30
            while not _waiting_for_a_lock(store):
                assert thread.is_alive() and time.monotonic() < deadline, second
                time.sleep(0.02)
        thread.join(30)
        assert second == {"found": ["t9"]}
    finally:
        store.close()


def _waiting_for_a_lock(store: Store) -> bool:
    with store.connect() as conn:
        waiting = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        ).scalar_one()
    return bool(waiting)
