"""Property-based tests, in the database, on SQLite and PostgreSQL:

- the duration estimator (`brapped.store.estimates.update_estimates`) against a plain-Python oracle;
- merge and dedupe end to end: any interleaving of hourly syncs and overlapping export imports (two
  formats, zipped or not, some imported twice) leaves exactly the listener's plays, once each, with
  the export's true `ms_played`.
(The merge *rules* are property-tested without a database in tests/imports/test_merge.py.)
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select

from brapped.emulator import EmulatedClock, Emulator, write_export
from brapped.pipeline.importing import import_paths
from brapped.pipeline.sync import sync
from brapped.spotify import connect
from brapped.store import Store, tables
from brapped.store.estimates import update_estimates
from tests.reliability.conftest import START, second
from tests.spotify.harness import api_visible, make_settings

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DB_SETTINGS = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def _empty(store: Store) -> None:
    with store.begin() as conn:
        for table in reversed(tables.TABLES_IN_ORDER):
            conn.execute(delete(table))


# -- the duration estimator -------------------------------------------------------------------------

durations = st.one_of(st.none(), st.integers(1_000, 900_000))
plays_strategy = st.lists(
    st.tuples(
        st.sampled_from("uv"),  # whose play
        st.integers(1, 3_600_000),  # ms since that user's previous play (or since T0)
        st.integers(0, 3),  # which track
        st.one_of(st.none(), st.integers(0, 900_000)),  # ms_played from an export, or None (API)
    ),
    max_size=30,
)


@DB_SETTINGS
@given(
    track_durations=st.lists(durations, min_size=4, max_size=4),
    plays=plays_strategy,
    since_index=st.integers(0, 30),
)
def test_estimates_equal_the_gap_capped_at_the_duration(
    store: Store,
    track_durations: list[int | None],
    plays: list[tuple[str, int, int, int | None]],
    since_index: int,
) -> None:
    _empty(store)
    clock = {"u": T0, "v": T0}
    rows = []
    for user, gap, track, exported in plays:
        clock[user] += timedelta(milliseconds=gap)
        rows.append(
            {
                "user_id": user,
                "played_at": clock[user],
                "track_id": f"t{track}",
                "ms_played": exported,
                "ms_played_source": "export" if exported is not None else None,
                "source": "export" if exported is not None else "api",
            }
        )
    u_rows = [r for r in rows if r["user_id"] == "u"]
    since = u_rows[since_index]["played_at"] if since_index < len(u_rows) else None
    with store.begin() as conn:
        conn.execute(
            insert(tables.tracks),
            [{"id": f"t{i}", "name": f"T{i}", "duration_ms": d} for i, d in enumerate(track_durations)],
        )
        if rows:
            conn.execute(insert(tables.plays), rows)
        update_estimates(conn, "u", since=since)
        update_estimates(conn, "u", since=since)  # idempotent

    expected = {}
    previous: dict[str, datetime] = {}
    for r in rows:
        key = (r["user_id"], r["played_at"])
        if r["ms_played_source"] == "export" or r["user_id"] != "u" or (since and r["played_at"] < since):
            expected[key] = (r["ms_played"], r["ms_played_source"])
        else:
            duration = track_durations[int(r["track_id"][1:])]
            prev = previous.get(r["user_id"])
            gap = None if prev is None else (r["played_at"] - prev) // timedelta(milliseconds=1)
            estimate = duration if gap is None else gap if duration is None else min(duration, gap)
            expected[key] = (estimate, None if estimate is None else "estimate")
        previous[r["user_id"]] = r["played_at"]
    with store.connect() as conn:
        got = {
            (r.user_id, r.played_at): (r.ms_played, r.ms_played_source)
            for r in conn.execute(select(tables.plays))
        }
    assert got == expected


def test_a_one_millisecond_gap_is_one_millisecond(store: Store) -> None:
    """Found by the property above: SQLite's cast truncated a float difference a hair under 1 ms."""
    with store.begin() as conn:
        conn.execute(insert(tables.tracks).values(id="t", name="T", duration_ms=200_000))
        for at in (
            T0 + timedelta(milliseconds=2),
            T0 + timedelta(milliseconds=3),
            T0 + timedelta(seconds=7, milliseconds=3),
        ):
            conn.execute(insert(tables.plays).values(user_id="u", played_at=at, track_id="t", source="api"))
        update_estimates(conn, "u")
        values = conn.execute(select(tables.plays.c.ms_played).order_by(tables.plays.c.played_at)).scalars()
        assert list(values) == [200_000, 1, 7_000]


# -- merge and dedupe, end to end ----------------------------------------------------------------------

imports_strategy = st.lists(
    st.tuples(
        st.integers(0, 8),  # before which sync (8 = after the last one)
        st.integers(0, 60),  # window starts this many hours before "now"
        st.integers(1, 60),  # window length, hours (cut at "now")
        st.sampled_from(("extended", "endsong")),
        st.booleans(),  # zipped
        st.booleans(),  # imported a second time
    ),
    max_size=3,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking one example costs minutes
)
@given(syncs=st.integers(2, 8), every=st.sampled_from((1, 2)), imports=imports_strategy)
def test_any_mix_of_syncs_and_imports_gives_each_true_play_once(
    store: Store, syncs: int, every: int, imports: list[tuple[int, int, int, str, bool, bool]]
) -> None:
    _empty(store)
    emu = Emulator(seed=8, clock=EmulatedClock(START))
    home = Path(tempfile.mkdtemp(prefix="brapped-prop-"))
    client = connect(make_settings(home, emu.issue_refresh_token()), emu.clock, transport=emu.transport())
    exported: dict[tuple[datetime, str], int] = {}
    # The model: what the database should hold, as (second, track) -> the instant it stores (the API's
    # exact one once sync saw the play, else the export's second). Its newest instant is the cursor.
    stored: dict[tuple[datetime, str], datetime] = {}

    def do_imports(step: int) -> None:
        for index, (at, before, length, fmt, zipped, twice) in enumerate(imports):
            if at != step:
                continue
            now = emu.clock.now()
            start = now - timedelta(hours=before)
            end = min(now, start + timedelta(hours=length))
            truth = [p for p in emu.ground_truth(start, end) if p.kind == "track"]
            if not truth:
                continue  # Spotify sends no export without plays (and brapped rightly refuses one)
            path = write_export(emu, home / f"export{index}", start, end, formats=(fmt,), zip=zipped)
            for _ in range(2 if twice else 1):
                result = import_paths(store, [path], emu.clock, user_id=emu.listener.user_id)
                assert not result.failed, [f.message for f in result.failed]
            for p in truth:
                exported[(second(p.played_at), p.id)] = p.ms_played
                stored.setdefault((second(p.played_at), p.id), second(p.played_at))

    def do_sync() -> None:
        # recently-played?after=cursor: the visible plays among the last 50 that ended after it.
        cursor = max(stored.values(), default=None)
        for p in emu.recently_played_window(emu.clock.now()):
            if api_visible(p) and (cursor is None or p.played_at > cursor):
                stored[(second(p.played_at), p.id)] = p.played_at
        sync(store, client)

    try:
        for step in range(syncs):
            do_imports(step)
            do_sync()
            emu.clock.advance(timedelta(hours=every))
        do_imports(8)
    finally:
        client.http.close()

    with store.connect() as conn:
        rows = [(second(r.played_at), r.track_id, r.ms_played) for r in conn.execute(select(tables.plays))]
    keys = [(at, track) for at, track, _ in rows]
    assert len(keys) == len(set(keys)), "a play was stored twice"
    assert set(keys) == set(stored), (syncs, every, imports)
    # Where an export saw a play, its true listening time wins over the API's estimate.
    assert {k: ms for *k_, ms in rows if (k := tuple(k_)) in exported} == exported


def test_reimport_then_sync_keeps_one_play(store: Store, tmp_path: Path) -> None:
    """Found by the property above: a re-import relabelled export plays 'both', sync's merge then
    missed them and the same play was stored twice."""
    emu = Emulator(seed=8, clock=EmulatedClock(START))
    client = connect(
        make_settings(tmp_path / "home", emu.issue_refresh_token()), emu.clock, transport=emu.transport()
    )
    try:
        sync(store, client)
        emu.clock.advance(timedelta(hours=1))
        now = emu.clock.now()
        export = write_export(emu, tmp_path / "export", now - timedelta(hours=31), now, formats=("extended",))
        for _ in range(2):  # Spotify's exports overlap; people import twice
            assert import_paths(store, [export], emu.clock, user_id=emu.listener.user_id).ok
        with store.connect() as conn:
            sources = {
                r.source
                for r in conn.execute(select(tables.plays.c.source).where(tables.plays.c.played_at >= START))
            }
        sync(store, client)
    finally:
        client.http.close()
    with store.connect() as conn:
        keys = [(second(r.played_at), r.track_id) for r in conn.execute(select(tables.plays))]
    assert len(keys) == len(set(keys)), "a play was stored twice"
    assert sources == {"export"}  # plays after the first sync were only ever seen in the export
