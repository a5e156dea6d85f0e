"""compare's one grouped read (`history`) gives the numbers of the separate reads it replaced:
plays per listener and artist and per track (`listening`) and who first played each artist
(`first_plays`); the shared tracks are counted and ranked here from `listening`'s plays per track.
On generated listeners who share a catalogue, over all time and over periods that leave out the
first plays of many artists."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from brapped.insights import Period
from brapped.insights.compare import first_plays, history, listening
from brapped.store import open_store

USERS = ("u1", "u2", "u3")


@pytest.mark.parametrize("period", [None, "2025-03", "2025-02-25..2025-03-01"])
def test_history_equals_listening_and_first_plays(db_url: str, period: str | None) -> None:
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
            for a, b in (("u1", "u2"), ("u3", "u1")):
                got = history(conn, a, b, chosen, 10)
                plain = listening(conn, [a, b], chosen)
                assert got.plays == plain.plays
                assert got.artists == plain.artists
                ever = sorted({x for u in (a, b) for x in listening(conn, [u], None).artists[u]})
                assert got.first_plays == first_plays(conn, [a, b], ever)
                ta, tb = plain.tracks[a], plain.tracks[b]
                both = [t for t in ta if t in tb]
                assert got.shared_tracks == len(both) > 10
                whole_a, whole_b = sum(ta.values()), sum(tb.values())
                both.sort(key=lambda t: (-min(ta[t] / whole_a, tb[t] / whole_b), -(ta[t] + tb[t]), t))
                assert got.top_shared_tracks == [(t, ta[t], tb[t]) for t in both[:10]]
    finally:
        store.close()
