"""MusicBrainz enrichment against the emulator: rows, genres in reports, and bad answers that leave
the database as it was."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from brapped.cli import cli
from brapped.emulator import EmulatedClock, Emulator, Fault
from brapped.emulator.musicbrainz import fold
from brapped.musicbrainz import DatabasePace, MusicBrainzClient
from brapped.pipeline.artist_facts import REFRESH_AGE, enrich_artist_facts
from brapped.pipeline.sync import sync
from brapped.spotify import connect
from brapped.store import Store
from brapped.store.tables import (
    TABLES_IN_ORDER,
    artist_genres,
    artist_tags,
    artists,
    musicbrainz_artists,
    plays,
    track_artists,
)
from tests.spotify.harness import START, make_settings


@pytest.fixture
def emu() -> Emulator:
    return Emulator(seed=5, clock=EmulatedClock(START))


@pytest.fixture
def synced(store: Store, emu: Emulator, tmp_path: Path) -> Store:
    client = connect(make_settings(tmp_path, emu.issue_refresh_token()), emu.clock, transport=emu.transport())
    sync(store, client)
    client.http.close()
    return store


@pytest.fixture
def mb(synced: Store, emu: Emulator) -> Iterator[MusicBrainzClient]:
    client = MusicBrainzClient(
        httpx.Client(transport=emu.transport()), emu.clock, DatabasePace(synced, emu.clock), backoff=1.0
    )
    yield client
    client.http.close()


def _rows(store: Store, table: Any) -> list[dict[str, Any]]:
    with store.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


def _snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    with store.connect() as conn:
        return {
            t.name: sorted(tuple(map(str, r)) for r in conn.execute(select(t)))
            for t in TABLES_IN_ORDER
            if t.name not in ("runs", "state")
        }


def test_round_trip(synced: Store, emu: Emulator, mb: MusicBrainzClient) -> None:
    ours = {r["id"]: r["name"] for r in _rows(synced, artists)}
    emu.counters.reset()
    result = enrich_artist_facts(synced, mb)
    assert result.stopped is None and result.done == result.due == len(ours)
    assert emu.musicbrainz.refused == {"rate": 0, "user_agent": 0}
    # Independently: what the emulator's MusicBrainz holds for each of our artists.
    linked = emu.musicbrainz.linked()
    shared = emu.musicbrainz.ambiguous_names()
    expect_url = {a for a in ours if a in linked}
    expect_search = {
        a for a in ours if a not in linked and a in emu.musicbrainz.by_spotify and fold(ours[a]) not in shared
    }
    facts = {r["artist_id"]: r for r in _rows(synced, musicbrainz_artists)}
    assert set(facts) == set(ours)
    assert {a for a, r in facts.items() if r["mapped_by"] == "url"} == expect_url
    assert {a for a, r in facts.items() if r["mapped_by"] == "search"} == expect_search
    for artist_id, row in facts.items():
        truth = emu.musicbrainz.by_spotify.get(artist_id)
        if row["status"] == "mapped":
            assert truth is not None and row["mbid"] == truth.mbid and row["type"] == truth.type
            assert row["country"] == truth.country and row["begin_year"] == int(truth.begin[:4])
        elif truth is not None and not truth.linked:
            assert fold(ours[artist_id]) in shared and row["status"] == "ambiguous" and row["mbid"] is None
    assert any(r["status"] == "ambiguous" for r in facts.values())  # the shared name is left unmapped
    # Every mapped artist has exactly the emulator's genres, with their votes.
    genres: dict[str, set[tuple[str, int]]] = {}
    for g in _rows(synced, artist_genres):
        assert g["source"] == "musicbrainz" and g["fetched_at"] is not None
        genres.setdefault(g["artist_id"], set()).add((g["genre"], g["votes"]))
    for artist_id, row in facts.items():
        truth = emu.musicbrainz.by_spotify.get(artist_id)
        want = set(truth.genres) if truth is not None and row["status"] == "mapped" else set()
        assert genres.get(artist_id, set()) == want
    for t in _rows(synced, artist_tags):  # tags only as a fallback
        assert t["artist_id"] not in genres
    # The fewest requests: ceil(n/100) URL lookups, a search per unlinked artist, a lookup per mapped.
    mapped = len(expect_url) + len(expect_search)
    assert emu.counters["GET /ws/2/url"] == math.ceil(len(ours) / 100)
    assert emu.counters["GET /ws/2/artist"] == len(ours) - len(expect_url)
    assert emu.counters["GET /ws/2/artist/{mbid}"] == mapped
    assert result.summary() == f"{mapped:,} of {len(ours):,} artists mapped, {len(genres):,} with genres"
    # Done: a second pass asks nothing until the facts are REFRESH_AGE old.
    emu.counters.reset()
    assert enrich_artist_facts(synced, mb).requests == 0
    emu.clock.advance(REFRESH_AGE)
    assert enrich_artist_facts(synced, mb, max_calls=3).requests == 3


def test_report_top_genres_shows_musicbrainz_genres(
    synced: Store, mb: MusicBrainzClient, tmp_home: Path
) -> None:
    enrich_artist_facts(synced, mb)
    result = CliRunner().invoke(cli, ["--db", synced.url, "report", "top", "genres", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    rows = data["items"]
    assert rows and all(r["plays"] > 0 for r in rows)
    genres_of: dict[str, set[str]] = {}
    for g in _rows(synced, artist_genres):
        genres_of.setdefault(g["artist_id"], set()).add(g["genre"])
    main = {c["track_id"]: c["artist_id"] for c in _rows(synced, track_artists) if c["position"] == 0}
    per_genre: dict[str, int] = {}
    with_genres = total = 0
    for p in _rows(synced, plays):
        artist_genres_ = genres_of.get(main.get(p["track_id"], ""), set())
        total += 1
        with_genres += bool(artist_genres_)
        for genre in artist_genres_:  # a play counts whole for each genre of its main artist
            per_genre[genre] = per_genre.get(genre, 0) + 1
    assert {r["genre"]: r["plays"] for r in rows} == {
        g: n for g, n in per_genre.items() if g in {r["genre"] for r in rows}
    }
    assert sorted(per_genre.values(), reverse=True)[: len(rows)] == [r["plays"] for r in rows]
    assert data["genres_known"] == {
        "plays": total,
        "plays_with_genres": with_genres,
        "share": round(with_genres / total, 4),  # four decimals, as every share
    }
    table = CliRunner().invoke(cli, ["--db", synced.url, "report", "top", "genres"])
    assert f"Genres known for {100 * with_genres / total:.0f}% of these plays" in table.stdout


def test_max_calls_most_played_first_and_resume(synced: Store, emu: Emulator, mb: MusicBrainzClient) -> None:
    # Plays per artist (every credit), counted by a plain loop.
    played: dict[str, int] = {a["id"]: 0 for a in _rows(synced, artists)}
    credits: dict[str, list[str]] = {}
    for c in _rows(synced, track_artists):
        credits.setdefault(c["track_id"], []).append(c["artist_id"])
    for p in _rows(synced, plays):
        for artist_id in credits.get(p["track_id"], []):
            played[artist_id] += 1
    order = sorted(played, key=lambda a: (-played[a], a))
    first = enrich_artist_facts(synced, mb, max_calls=10)
    assert first.stopped == "budget" and first.requests == 10 and 0 < first.done < first.due
    done = {r["artist_id"] for r in _rows(synced, musicbrainz_artists)}
    assert done == set(order[: len(done)])
    rest = enrich_artist_facts(synced, mb)
    assert rest.stopped is None and rest.due == first.due - first.done
    assert len(_rows(synced, musicbrainz_artists)) == first.due


@pytest.mark.parametrize(
    "fault",
    [
        Fault("5xx", path="/ws/2/url", count=None, status=503),  # a 503 burst that does not end
        Fault("slow", path="/ws/2/url", count=None, delay=60.0),  # timeouts
        Fault("garbage", path="/ws/2/url", count=None),  # truncated JSON
        Fault("drop", path="/ws/2/url", count=None),
    ],
    ids=["503", "timeout", "garbage", "drop"],
)
def test_bad_answers_leave_the_database_as_it_was(
    synced: Store, emu: Emulator, mb: MusicBrainzClient, fault: Fault
) -> None:
    mb.http.timeout = httpx.Timeout(30.0)
    before = _snapshot(synced)
    emu.faults.add(fault)
    result = enrich_artist_facts(synced, mb)
    assert result.stopped == "unavailable" and result.error and result.done == 0
    assert _snapshot(synced) == before
    emu.faults.clear()
    again = enrich_artist_facts(synced, mb)
    assert again.stopped is None and again.done == again.due == result.due


def test_a_short_503_burst_a_garbage_lookup_and_a_404(
    synced: Store, emu: Emulator, mb: MusicBrainzClient
) -> None:
    ours = {r["id"] for r in _rows(synced, artists)}
    linked = {a: t for a, t in emu.musicbrainz.linked().items() if a in ours}
    garbage_artist, gone_artist = sorted(linked)[:2]
    emu.faults.add(Fault("5xx", path="/ws/2/url", count=2, status=503))  # waited out by the retries
    emu.faults.add(Fault("garbage", path=f"/ws/2/artist/{linked[garbage_artist].mbid}", count=1))
    # An MBID the link names but the lookup no longer finds (merged or deleted on MusicBrainz).
    del emu.musicbrainz.artists[linked[gone_artist].mbid]
    result = enrich_artist_facts(synced, mb)
    assert result.stopped is None and result.bad_answers == 1 and result.done == result.due - 1
    facts = {r["artist_id"]: r for r in _rows(synced, musicbrainz_artists)}
    assert garbage_artist not in facts  # nothing stored from the garbage: asked again next pass
    assert facts[gone_artist]["status"] == "not_found" and facts[gone_artist]["mbid"] is None
    again = enrich_artist_facts(synced, mb)
    assert again.due == 1 and again.done == 1
    assert {r["artist_id"]: r for r in _rows(synced, musicbrainz_artists)}[garbage_artist][
        "status"
    ] == "mapped"


def test_status_counts_coverage_and_backlog(synced: Store, emu: Emulator, mb: MusicBrainzClient) -> None:
    from brapped.pipeline.health import musicbrainz_status

    enrich_artist_facts(synced, mb, max_calls=25)
    with synced.connect() as conn:
        status = musicbrainz_status(conn, emu.clock.now())
    rows = _rows(synced, musicbrainz_artists)
    reasons: dict[str, int] = {}
    for r in rows:
        if r["status"] != "mapped":
            reasons[r["status"]] = reasons.get(r["status"], 0) + 1
    total = len(_rows(synced, artists))
    assert status["artists"] == total and status["mapped"] == sum(1 for r in rows if r["status"] == "mapped")
    assert status["unmapped"] == reasons and status["due"] == status["not_asked"] == total - len(rows)
    assert status["with_genres"] == len({g["artist_id"] for g in _rows(synced, artist_genres)})
    assert status["last_run"]["outcome"] == "partial"


def test_artist_story_shows_the_facts(synced: Store, emu: Emulator, mb: MusicBrainzClient) -> None:
    from brapped.insights import artist_story

    enrich_artist_facts(synced, mb)
    facts = {r["artist_id"]: r for r in _rows(synced, musicbrainz_artists)}
    mapped = next(
        a for a, r in facts.items() if r["status"] == "mapped" and emu.musicbrainz.by_spotify[a].genres
    )
    unmapped = next(a for a, r in facts.items() if r["status"] != "mapped")
    with synced.connect() as conn:
        story = artist_story(conn, mapped, "UTC")["artist"]
        other = artist_story(conn, unmapped, "UTC")["artist"]
    truth = emu.musicbrainz.by_spotify[mapped]
    by_votes = [g for g, _ in sorted(truth.genres, key=lambda gv: (-gv[1], gv[0]))]
    assert story["genres"] == by_votes and story["tags"] == []
    assert story["musicbrainz"]["mbid"] == truth.mbid and story["musicbrainz"]["type"] == truth.type
    assert story["musicbrainz"]["url"] == f"https://musicbrainz.org/artist/{truth.mbid}"
    assert other["musicbrainz"] is None and other["genres"] == []


def test_report_top_countries(synced: Store, mb: MusicBrainzClient, tmp_home: Path) -> None:
    enrich_artist_facts(synced, mb)
    result = CliRunner().invoke(
        cli, ["--db", synced.url, "report", "top", "countries", "--limit", "50", "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    items = json.loads(result.stdout)["items"]
    country = {r["artist_id"]: r["country"] for r in _rows(synced, musicbrainz_artists) if r["country"]}
    main = {c["track_id"]: c["artist_id"] for c in _rows(synced, track_artists) if c["position"] == 0}
    per_country: dict[str, int] = {}
    artists_from: dict[str, set[str]] = {}
    for p in _rows(synced, plays):
        artist_id = main.get(p["track_id"], "")
        if artist_id in country:
            per_country[country[artist_id]] = per_country.get(country[artist_id], 0) + 1
            artists_from.setdefault(country[artist_id], set()).add(artist_id)
    assert items and {i["country"]: i["plays"] for i in items} == per_country
    assert {i["country"]: i["artists"] for i in items} == {c: len(a) for c, a in artists_from.items()}
    assert [i["plays"] for i in items] == sorted(per_country.values(), reverse=True)


def test_a_refused_search_skips_only_that_artist(synced: Store, emu: Emulator) -> None:
    ours = {r["id"]: r["name"] for r in _rows(synced, artists)}
    linked = emu.musicbrainz.linked()
    refused = sorted(a for a in ours if a not in linked)[0]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ws/2/artist" and ours[refused] in request.url.params.get("query", ""):
            return httpx.Response(400, json={"error": "Invalid query", "help": "..."})
        return emu.handle(request)

    client = MusicBrainzClient(
        httpx.Client(transport=httpx.MockTransport(handler)), emu.clock, DatabasePace(synced, emu.clock)
    )
    result = enrich_artist_facts(synced, client)
    assert (
        result.stopped is None and result.bad_answers >= 1 and result.done == result.due - result.bad_answers
    )
    assert refused not in {r["artist_id"] for r in _rows(synced, musicbrainz_artists)}


def test_an_artist_without_a_name_is_not_searched(
    synced: Store, emu: Emulator, mb: MusicBrainzClient
) -> None:
    from sqlalchemy import insert

    with synced.begin() as conn:
        conn.execute(insert(artists).values(id="name:blank", name="  "))
    enrich_artist_facts(synced, mb)
    row = {r["artist_id"]: r for r in _rows(synced, musicbrainz_artists)}["name:blank"]
    assert row["status"] == "no_match"
    assert emu.counters["GET /ws/2/artist"] == len(
        [a for a in _rows(synced, artists) if a["id"] not in emu.musicbrainz.linked() and a["name"].strip()]
    )
