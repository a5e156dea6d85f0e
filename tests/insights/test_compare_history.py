"""compare's one grouped read (`history`) against the same numbers counted here in Python from the
raw rows (every play's listener, track and time; every track's credited artists): plays per
listener, credited plays per artist, who first played each artist played in the period, and the
shared tracks counted and ranked. On generated listeners who share a catalogue, over all time and
over periods that leave out the first plays of many artists."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from brapped.insights import Period
from brapped.insights.compare import history
from brapped.store import open_store
from brapped.store.tables import artists, plays, track_artists

USERS = ("u1", "u2", "u3")


@pytest.mark.parametrize("period", [None, "2025-03", "2025-02-25..2025-03-01"])
def test_history_equals_counts_from_raw_rows(db_url: str, period: str | None) -> None:
    from bench.generate import generate_database

    for number, user in enumerate(USERS, 1):
        generate_database(
            db_url,
            plays=1_500,
            seed=number,
            catalogue_seed=1,
            tracks=150,
            artists=30,
            user_id=user,
            end=datetime(2025, 3, 10, tzinfo=UTC),
            podcasts=False,
        )
    store = open_store(db_url)
    chosen = Period.parse(period, "Europe/Berlin") if period else None
    try:
        with store.connect() as conn:
            every = conn.execute(select(plays.c.user_id, plays.c.track_id, plays.c.played_at)).all()
            credits: dict[str, list[str]] = defaultdict(list)
            for track, artist in conn.execute(
                select(track_artists.c.track_id, track_artists.c.artist_id)
                .join(artists, artists.c.id == track_artists.c.artist_id)
                .where(func.lower(artists.c.name) != "various artists")
            ):
                credits[track].append(artist)
            for a, b in (("u1", "u2"), ("u3", "u1")):
                got = history(conn, a, b, chosen, 10)
                tracks = {u: Counter[str]() for u in (a, b)}
                first: dict[tuple[str, str], datetime] = {}
                for user, track, when in every:
                    if user not in tracks:
                        continue
                    for artist in credits[track]:
                        key = (user, artist)
                        first[key] = min(first.get(key, when), when)
                    if chosen is None or chosen.start_utc <= when < chosen.end_utc:
                        tracks[user][track] += 1
                by_artist = {
                    u: dict(Counter(x for t, n in tracks[u].items() for x in credits[t] for _ in range(n)))
                    for u in (a, b)
                }
                assert got.plays == {u: sum(tracks[u].values()) for u in (a, b)}
                assert got.artists == by_artist
                assert got.first_plays == {(u, x): first[(u, x)] for u in (a, b) for x in by_artist[u]}
                ta, tb = tracks[a], tracks[b]
                both = [t for t in ta if t in tb]
                assert got.shared_tracks == len(both) > 10
                whole_a, whole_b = sum(ta.values()), sum(tb.values())
                both.sort(key=lambda t: (-min(ta[t] / whole_a, tb[t] / whole_b), -(ta[t] + tb[t]), t))
                assert got.top_shared_tracks == [(t, ta[t], tb[t]) for t in both[:10]]
    finally:
        store.close()
