"""Every injected fault leaves the database consistent, with the right error and exit code."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from brapped.config import Settings
from brapped.emulator import Emulator, Fault
from brapped.pipeline.rate_limits import NotYet
from brapped.pipeline.sync import sync
from brapped.spotify import AuthExpired, AuthRequired, RateLimited, SpotifyClient, SpotifyError, connect
from brapped.store import Store
from brapped.store.runs import last_run
from brapped.store.tables import albums, gaps, plays, runs, track_artists, tracks
from tests.spotify import harness
from tests.spotify.harness import advance_to_new_plays, stored, truth

# Fixtures shared by the Spotify tests.
emu = harness.emu
settings = harness.settings
spotify = harness.spotify

RP = "/v1/me/player/recently-played"


def _plays(store: Store) -> int:
    with store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(plays)).scalar_one())


def _no_running_runs(store: Store) -> None:
    with store.connect() as conn:
        assert conn.execute(select(func.count()).where(runs.c.outcome == "running")).scalar() == 0


@pytest.mark.parametrize(
    ("spec", "extra_calls"),
    [
        (dict(kind="5xx", path=RP, count=2, status=503), 2),
        (dict(kind="5xx", path=RP, count=1, status=502), 1),
        (dict(kind="drop", path=RP, count=3), 3),
        (dict(kind="429", path=RP, count=1, retry_after=7), 1),
        (dict(kind="401", path=RP, count=1), 1),
    ],
    ids=["503x2", "502", "drop x3", "429 short", "401 once"],
)
def test_transient_faults_are_ridden_out(
    store: Store, emu: Emulator, spotify: SpotifyClient, spec: dict[str, Any], extra_calls: int
) -> None:
    fault = Fault(**spec)  # a fresh one per database: faults count down as they fire
    sync(store, spotify)
    expected = advance_to_new_plays(emu)
    before = _plays(store)
    emu.faults.add(fault)
    emu.counters.reset()
    started = emu.clock.now()
    result = sync(store, spotify)
    assert result.new_plays == expected and _plays(store) == before + expected
    assert emu.counters["GET " + RP] == 1 + extra_calls
    waited = (emu.clock.now() - started).total_seconds()
    if fault.kind == "429":
        assert waited >= 7  # Retry-After honoured (on the emulated clock)
    if fault.kind == "401":
        assert emu.counters["POST /api/token"] == 2  # the expired one, then the forced refresh
    assert not emu.faults.pending()


@pytest.mark.parametrize(
    ("spec", "error", "exit_code", "words"),
    [
        (dict(kind="5xx", path=RP, count=None, status=500), SpotifyError, 69, "HTTP 500"),
        (dict(kind="drop", path=RP, count=None), SpotifyError, 69, "no answer"),
        (dict(kind="401", path=RP, count=None), AuthRequired, 77, "brapped auth"),
        (dict(kind="invalid_grant", count=None), AuthExpired, 77, "brapped auth"),
    ],
    ids=["5xx forever", "drop forever", "401 forever", "invalid_grant"],
)
def test_lasting_faults_fail_cleanly(
    store: Store,
    emu: Emulator,
    spotify: SpotifyClient,
    spec: dict[str, Any],
    error: type[Exception],
    exit_code: int,
    words: str,
) -> None:
    fault = Fault(**spec)
    sync(store, spotify)
    advance_to_new_plays(emu)  # also lets the access token expire, so invalid_grant bites
    before = stored(store)
    emu.faults.add(fault)
    with pytest.raises(error) as caught:
        sync(store, spotify)
    assert getattr(caught.value, "exit_code", None) == exit_code
    assert words in str(caught.value)
    assert stored(store) == before  # nothing half-written
    _no_running_runs(store)
    with store.connect() as conn:
        run = last_run(conn, "sync")
    assert run is not None and run["outcome"] == "failed" and words in run["message"]
    # Once Spotify recovers, the next sync catches up completely.
    emu.faults.clear()
    if fault.kind == "invalid_grant":
        return  # needs a new authorisation: see the auth tests
    result = sync(store, spotify)
    assert result.new_plays > 0 and set(stored(store)) >= {
        (p.played_at, p.id) for p in emu.recently_played_window()
    }


def test_huge_retry_after_stops_at_once_and_resumes_after_the_wait(
    store: Store, emu: Emulator, spotify: SpotifyClient
) -> None:
    sync(store, spotify)
    first_play = min(stored(store))[0]
    advance_to_new_plays(emu)
    before = stored(store)
    emu.faults.add(Fault(kind="429", path=RP, count=1, retry_after=74214))
    wall = time.monotonic()
    result = sync(store, spotify)
    assert time.monotonic() - wall < 5
    assert result.rate_limited is not None and result.rate_limited.retry_after == 74214
    resume_at = result.rate_limited.resume_at
    assert resume_at == emu.clock.now() + timedelta(seconds=74214) or (
        abs((resume_at - emu.clock.now()).total_seconds() - 74214) < 1
    )
    assert result.rate_limited.exit_code == 75
    assert stored(store) == before
    with store.connect() as conn:
        run = last_run(conn, "sync")
    assert run is not None and run["outcome"] == "rate_limited"

    # Before the resume time: no request at all.
    emu.counters.reset()
    emu.clock.advance(3600)
    with pytest.raises(NotYet) as early:
        sync(store, spotify)
    assert early.value.exit_code == 75 and early.value.resume_at == resume_at
    assert dict(emu.counters) == {}

    # After it: the sync completes the data. Whatever Spotify no longer shows lies inside a
    # recorded gap; every other visible play is stored exactly once.
    emu.clock.set(resume_at + timedelta(seconds=1))
    after = sync(store, spotify)
    assert after.rate_limited is None and after.new_plays > 0
    rows = stored(store)
    assert len(rows) == len(set(rows))
    with store.connect() as conn:
        recorded = conn.execute(select(gaps.c.gap_from, gaps.c.gap_to)).all()
    expected = {
        p for p in truth(emu, first_play, emu.clock.now()) if not any(a < p[0] < b for a, b in recorded)
    }
    assert set(rows) == expected
    assert {(p.played_at, p.id) for p in emu.recently_played_window()} <= set(rows)


def test_rate_limit_on_token_endpoint_is_typed(store: Store, emu: Emulator, spotify: SpotifyClient) -> None:
    sync(store, spotify)
    emu.clock.advance(2 * 3600)
    emu.faults.add(Fault(kind="429", path="/api/token", count=1, retry_after=74214))
    result = sync(store, spotify)
    assert isinstance(result.rate_limited, RateLimited) and result.rate_limited.retry_after == 74214
    assert result.new_plays == 0
    with pytest.raises(NotYet):
        sync(store, spotify)  # the resume time was stored even though no play was fetched


@pytest.mark.parametrize(
    "spec",
    [dict(kind="5xx", path="/api/token", count=2, status=503), dict(kind="drop", path="/api/token", count=2)],
    ids=["token 503", "token drop"],
)
def test_token_endpoint_hiccups_are_retried(
    store: Store, emu: Emulator, spotify: SpotifyClient, spec: dict[str, Any]
) -> None:
    sync(store, spotify)
    expected = advance_to_new_plays(emu)  # the access token expired meanwhile
    emu.faults.add(Fault(**spec))
    emu.counters.reset()
    result = sync(store, spotify)
    assert result.new_plays == expected
    assert emu.counters["POST /api/token"] == 3 and result.token_requests == 1


class _Corrupting(httpx.BaseTransport):
    """The emulator, with the first item of every recently-played page changed by `change`."""

    def __init__(self, inner: httpx.BaseTransport, change: Callable[[dict[str, Any]], None]) -> None:
        self.inner, self.change = inner, change
        self.changed: list[dict[str, Any]] = []  # the items changed, as they were sent

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path != RP:
            return response
        body = json.loads(response.read())
        if body.get("items"):
            self.change(body["items"][0])
            self.changed.append(body["items"][0])
        return httpx.Response(response.status_code, json=body)


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(item: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = item
        for key in parents:
            target = target[key]
        target[last] = value

    return change


# A Spotify answer with a value of the wrong type or size: each once failed the whole sync at the
# database (or in Python, with a traceback), again at every sync until the plays left recently-played.
ODD_VALUES = {
    "duration text": (_set("track.duration_ms", "abc"), 50),
    "duration past 64 bits": (_set("track.duration_ms", 10**30), 50),
    "popularity text": (_set("track.popularity", "x"), 50),
    "explicit text": (_set("track.explicit", "yes"), 50),
    "disc number past 32 bits": (_set("track.disc_number", 2**40), 50),
    "isrc too long": (_set("track.external_ids", {"isrc": "X" * 1000}), 50),
    "NUL in a name": (_set("track.name", "a\x00b"), 50),
    "release date too long": (_set("track.album.release_date", "9" * 1000), 50),
    "album type too long": (_set("track.album.album_type", "x" * 1000), 50),
    "context type too long": (_set("context", {"type": "x" * 1000, "uri": "spotify:x"}), 50),
    "artist id too long": (_set("track.artists", [{"id": "z" * 300, "name": "Z"}]), 50),
    "track id too long": (_set("track.id", "x" * 500), 49),
    "played in 9999": (_set("played_at", "9999-12-31T23:59:59Z"), 49),
    "played in 1900": (_set("played_at", "1900-01-01T00:00:00Z"), 49),
}


# What each odd value must not become in the database: (table, column, key column, the item's
# path to the key, the odd value). SQLite takes "abc" into an integer column and any text length.
STORED_AS = {
    "duration text": (tracks, "duration_ms", "id", "track.id", "abc"),
    "popularity text": (tracks, "popularity", "id", "track.id", "x"),
    "explicit text": (tracks, "explicit", "id", "track.id", "yes"),
    "disc number past 32 bits": (tracks, "disc_number", "id", "track.id", 2**40),
    "isrc too long": (tracks, "isrc", "id", "track.id", "X" * 1000),
    "release date too long": (albums, "release_date", "id", "track.album.id", "9" * 1000),
    "album type too long": (albums, "album_type", "id", "track.album.id", "x" * 1000),
    "context type too long": (plays, "context_type", "context_uri", "context.uri", "x" * 1000),
}


def _at(item: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        item = item[key]
    return item


@pytest.mark.parametrize("change", list(ODD_VALUES), ids=list(ODD_VALUES))
def test_an_odd_value_in_an_answer_costs_that_value_not_the_sync(
    store: Store, emu: Emulator, settings: Settings, change: str
) -> None:
    corrupt, stored = ODD_VALUES[change]
    transport = _Corrupting(emu.transport(), corrupt)
    client = connect(settings, emu.clock, transport=transport)
    try:
        result = sync(store, client)
    finally:
        client.http.close()
    assert result.new_plays == _plays(store) == stored
    assert transport.changed
    with store.connect() as conn:
        assert not [n for n in conn.execute(select(tracks.c.name)).scalars() if "\x00" in n]
        if change in STORED_AS:
            table, column, key, path, odd = STORED_AS[change]
            keys = [_at(item, path) for item in transport.changed]
            values = conn.execute(select(table.c[column]).where(table.c[key].in_(keys))).scalars().all()
            assert values and odd not in values
        if change == "NUL in a name":
            ids = [item["track"]["id"] for item in transport.changed]
            assert conn.execute(select(tracks.c.name).where(tracks.c.id.in_(ids))).scalars().all() == ["ab"]
        if change == "track id too long":
            assert result.skipped == {"bad track id": 1}
        if change.startswith("played in"):
            assert result.skipped == {"bad played_at": 1}
        if change == "artist id too long":
            assert conn.execute(select(func.max(func.length(track_artists.c.artist_id)))).scalar_one() <= 64


def test_a_play_said_to_end_in_the_future_does_not_stop_later_syncs(
    store: Store, emu: Emulator, settings: Settings
) -> None:
    # Stored, a play of 2990 would be the newest: every later sync asked only for plays after it,
    # got none, and the listener's plays left recently-played unseen.
    transport = _Corrupting(emu.transport(), _set("played_at", "2990-01-01T00:00:00Z"))
    client = connect(settings, emu.clock, transport=transport)
    try:
        first = sync(store, client)
        assert first.new_plays == _plays(store) == 49
        assert first.skipped == {"played in the future": 1}
        expected = advance_to_new_plays(emu)
        transport.change = lambda item: None  # Spotify's answers are well-formed again
        again = sync(store, client)
    finally:
        client.http.close()
    # The new plays, and the one first sent with its bad time (still in recently-played, newer
    # than every play kept).
    assert again.new_plays == expected + 1 and _plays(store) == 49 + expected + 1
    with store.connect() as conn:
        assert conn.execute(select(func.max(plays.c.played_at))).scalar_one() <= emu.clock.now()
