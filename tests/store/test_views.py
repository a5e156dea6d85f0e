"""The BI views (v_plays, v_daily, v_artist_credit) on both databases, against the rows put in."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import inspect, text

from brapped.store import Store, open_store
from brapped.store.views import VIEWS, view_columns
from tests.pipeline.conftest import fill


def rows(store: Store, sql: str) -> list[dict[str, Any]]:
    with store.connect() as conn:
        return [dict(r) for r in conn.execute(text(sql)).mappings()]


def test_views_exist_with_documented_columns(store: Store) -> None:
    assert set(VIEWS) <= set(inspect(store.engine).get_view_names())
    for name in VIEWS:
        with store.connect() as conn:
            found = list(conn.execute(text(f"SELECT * FROM {name}")).keys())
        assert found == view_columns(name)


def test_v_daily_matches_the_plays_put_in(store: Store) -> None:
    made = fill(store, plays=300)
    credited = defaultdict(set)
    for credit in made["track_artists"]:
        credited[credit["track_id"]].add(credit["artist_id"])
    album = {t["id"]: t["album_id"] for t in made["tracks"]}
    expected: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"plays": 0, "ms": 0, "tracks": set(), "artists": set(), "albums": set(), "skipped": 0}
    )
    for play in made["plays"]:
        day = expected[(play["user_id"], play["played_at"].date().isoformat())]
        day["plays"] += 1
        day["ms"] += play["ms_played"] or 0
        day["tracks"].add(play["track_id"])
        day["artists"] |= credited[play["track_id"]]
        if album[play["track_id"]] is not None:
            day["albums"].add(album[play["track_id"]])
        day["skipped"] += 1 if play["skipped"] else 0
    got = rows(store, "SELECT * FROM v_daily ORDER BY user_id, day_utc")
    assert len(got) == len(expected) > 3
    for row in got:
        want = expected[(row["user_id"], row["day_utc"])]
        assert (
            row["plays"],
            row["ms_played"],
            row["distinct_tracks"],
            row["distinct_artists"],
            row["skipped"],
        ) == (
            want["plays"],
            want["ms"],
            len(want["tracks"]),
            len(want["artists"]),
            want["skipped"],
        )
        assert abs(float(row["minutes_played"]) - want["ms"] / 60000) < 1e-9


def test_v_plays_and_v_artist_credit(store: Store) -> None:
    made = fill(store, plays=120)
    names = {a["id"]: a["name"] for a in made["artists"]}
    credits = defaultdict(list)
    for c in made["track_artists"]:
        credits[c["track_id"]].append(c)
    flat = rows(store, "SELECT * FROM v_plays ORDER BY played_at")
    assert len(flat) == 120
    for play, row in zip(made["plays"], flat, strict=True):
        main = next(c for c in credits[play["track_id"]] if c["position"] == 0)
        assert (row["track_id"], row["main_artist_id"], row["main_artist_name"]) == (
            play["track_id"],
            main["artist_id"],
            names[main["artist_id"]],
        )
        assert row["featured_artist_count"] == len(credits[play["track_id"]]) - 1
    credit_rows = rows(store, "SELECT role, position, artist_name FROM v_artist_credit")
    assert len(credit_rows) == sum(len(credits[p["track_id"]]) for p in made["plays"])
    assert {r["role"] for r in credit_rows if r["position"] == 0} == {"main"}
    assert {r["role"] for r in credit_rows if r["position"] > 0} == {"featured"}


def test_downgrade_drops_the_views(db_url: str) -> None:
    store = open_store(db_url)
    from alembic import command

    from brapped.store.schema import alembic_config

    with store.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0001")
    assert not set(VIEWS) & set(inspect(store.engine).get_view_names())
    store.upgrade()
    assert set(VIEWS) <= set(inspect(store.engine).get_view_names())
    store.close()
