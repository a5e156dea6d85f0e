"""`brapped playlist wrapped`: the year's top songs by streams, as a private playlist on the emulator
(in rank order, 100 per request, 429 waited out, the extra scope required) or as M3U/CSV files."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from brapped.cli import cli
from brapped.cli.context import AppContext
from brapped.emulator import DEFAULT_CLIENT_ID, DEFAULT_SCOPE, EmulatedClock, Emulator, Fault, serve_in_thread
from brapped.identity import track_id as synthetic_track_id
from brapped.pipeline.playlist import m3u_text, publish, top_songs
from brapped.spotify import AuthRequired, SpotifyClient, TokenManager, connect
from brapped.store import Store, open_store
from brapped.store.tables import artists, plays, track_artists, tracks
from tests.conftest import _fresh_pg
from tests.spotify import harness
from tests.spotify.harness import make_settings

emu = harness.emu

YEAR = 2025
WITH_PLAYLIST = DEFAULT_SCOPE + " playlist-modify-private"
SONGS = 130  # more than a playlist of 100, so the cut is tested
JAN = datetime(YEAR, 1, 1, 8, 0, tzinfo=UTC)


def _seed(store: Store, emu: Emulator) -> list[dict[str, Any]]:
    """SONGS catalogue tracks streamed 1..SONGS times (track k: SONGS - k streams) plus many short
    plays that would invert a ranking by plays, a synthetic track streamed most of all, and plays
    of the year before and after. Returns the tracks (with their true streams) as the test knows them."""
    cat = emu.catalogue
    chosen = sorted(cat.tracks)[:SONGS]
    known: list[dict[str, Any]] = []
    artist_rows: dict[str, dict[str, Any]] = {}
    track_rows, credit_rows, play_rows = [], [], []
    moment = JAN
    for k, tid in enumerate(chosen):
        track = cat.tracks[tid]
        names = [cat.artists[a].name for a in track.artist_ids]
        for a in track.artist_ids:
            artist_rows[a] = {"id": a, "name": cat.artists[a].name}
        track_rows.append(
            {"id": tid, "name": track.name, "duration_ms": track.duration_ms, "is_resolved": True}
        )
        credit_rows += [
            {"track_id": tid, "position": p, "artist_id": a} for p, a in enumerate(track.artist_ids)
        ]
        streams = SONGS - k
        known.append(
            {
                "id": tid,
                "name": track.name,
                "artists": ", ".join(names),
                "streams": streams,
                "duration_ms": track.duration_ms,
            }
        )
        for _ in range(streams):
            moment += timedelta(minutes=7)
            play_rows.append(_play(moment, tid, 31_000))
        for _ in range(k // 2):  # skips: plays, never streams
            moment += timedelta(minutes=7)
            play_rows.append(_play(moment, tid, 5_000))
        # Outside the year: streams that must not count.
        play_rows.append(_play(datetime(YEAR - 1, 12, 31, 23, 0, tzinfo=UTC), tid, 200_000))
        play_rows.append(_play(datetime(YEAR + 1, 1, 1, 0, 30, tzinfo=UTC), tid, 200_000))
    ghost = synthetic_track_id("Nobody", "Only By Name")
    artist_rows["name:ghost"] = {"id": "name:ghost", "name": "Nobody"}
    track_rows.append({"id": ghost, "name": "Only By Name", "duration_ms": None, "is_resolved": False})
    credit_rows.append({"track_id": ghost, "position": 0, "artist_id": "name:ghost"})
    for _ in range(SONGS + 50):
        moment += timedelta(minutes=7)
        play_rows.append(_play(moment, ghost, 60_000))
    assert moment.year == YEAR
    with store.begin() as conn:
        conn.execute(artists.insert(), list(artist_rows.values()))
        conn.execute(tracks.insert(), track_rows)
        conn.execute(track_artists.insert(), credit_rows)
        conn.execute(plays.insert(), play_rows)
    return known


def _play(when: datetime, track: str, ms: int) -> dict[str, Any]:
    return {
        "user_id": "listener",
        "played_at": when,
        "track_id": track,
        "ms_played": ms,
        "ms_played_source": "export",
        "source": "export",
    }


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per backend for the module: the tests only read the seeded plays."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('playlist') / 'brapped.db'}"
        return
    fresh = _fresh_pg(request.getfixturevalue("pg_template"))
    yield next(fresh)
    next(fresh, None)


@pytest.fixture(scope="module")
def known(db_url: str) -> list[dict[str, Any]]:
    store = open_store(db_url)
    try:
        # The same seed as the `emu` fixture's, so the same catalogue.
        return _seed(store, Emulator(seed=11, clock=EmulatedClock(harness.START)))
    finally:
        store.close()


def _expected(known: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """By streams, most first (the seed gives every track a different count)."""
    return sorted(known, key=lambda t: -t["streams"])[:limit]


def _client(
    tmp_path: Path, emu: Emulator, scope: str, transport: httpx.BaseTransport | None = None
) -> SpotifyClient:
    settings = make_settings(tmp_path / "home", emu.issue_refresh_token(scope=scope))
    return connect(settings, emu.clock, transport=transport or emu.transport())


def test_top_songs_rank_by_streams_and_pass_over_names(store: Store, known: list[dict[str, Any]]) -> None:
    with store.connect() as conn:
        songs = top_songs(conn, YEAR, "UTC", limit=100)
    expected = _expected(known, 100)
    assert [s.track_id for s in songs.songs] == [t["id"] for t in expected]
    assert [s.streams for s in songs.songs] == [t["streams"] for t in expected]
    # The synthetic track is first in the year's list: the playlist starts at rank 2.
    assert [s.rank for s in songs.songs] == list(range(2, 102))
    assert songs.passed_over == 1
    assert songs.title == "Your Top Songs 2025"


def test_playlist_created_private_in_rank_order(
    tmp_path: Path, store: Store, emu: Emulator, known: list[dict[str, Any]]
) -> None:
    with store.connect() as conn:
        songs = top_songs(conn, YEAR, "UTC", limit=120)
    client = _client(tmp_path, emu, WITH_PLAYLIST)
    try:
        saved = publish(client, songs)
    finally:
        client.http.close()
    made = emu.playlists.made[saved.id]
    assert made.public is False and made.name == "Your Top Songs 2025"
    assert made.owner == emu.listener.user_id
    assert made.items == [f"spotify:track:{t['id']}" for t in _expected(known, 120)]
    assert saved.requests == 3  # create, then 100 + 20 items
    assert emu.counters["POST /v1/me/playlists"] == 1
    assert emu.counters["POST /v1/playlists/{id}/items"] == 2
    assert saved.url == f"https://open.spotify.com/playlist/{saved.id}"


def test_rate_limits_are_waited_out(
    tmp_path: Path, store: Store, emu: Emulator, known: list[dict[str, Any]]
) -> None:
    with store.connect() as conn:
        songs = top_songs(conn, YEAR, "UTC", limit=100)
    emu.faults.add(Fault(kind="429", path="/v1/me/playlists", retry_after=5))
    refused: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        # The first Add Items request is refused with Retry-After: 7 before the emulator sees it.
        if request.url.path.endswith("/items") and not refused:
            refused.append(request.url.path)
            return httpx.Response(
                429,
                headers={"retry-after": "7"},
                json={"error": {"status": 429, "message": "API rate limit exceeded"}},
            )
        return emu.handle(request)

    client = _client(tmp_path, emu, WITH_PLAYLIST, httpx.MockTransport(handler))
    before = emu.clock.now()
    try:
        saved = publish(client, songs)
    finally:
        client.http.close()
    assert refused and emu.clock.now() - before >= timedelta(seconds=12)
    assert emu.counters["POST /v1/me/playlists"] == 2  # the 429, then the playlist
    assert len(emu.playlists.made) == 1
    assert emu.playlists.made[saved.id].items == [f"spotify:track:{t['id']}" for t in _expected(known, 100)]


def test_without_the_playlist_grant_nothing_is_written(
    tmp_path: Path, store: Store, emu: Emulator, known: list[dict[str, Any]]
) -> None:
    with store.connect() as conn:
        songs = top_songs(conn, YEAR, "UTC", limit=10)
    client = _client(tmp_path, emu, DEFAULT_SCOPE)
    try:
        with pytest.raises(AuthRequired, match=r"brapped auth --scope playlist"):
            publish(client, songs)
    finally:
        client.http.close()
    assert emu.playlists.made == {}
    assert emu.counters["POST /v1/me/playlists"] == 0


def test_a_refused_scope_from_spotify_says_how_to_grant_it(
    tmp_path: Path, store: Store, emu: Emulator, known: list[dict[str, Any]]
) -> None:
    """A token whose scope brapped cannot see (none recorded): Spotify's 403 gives the same advice."""
    with store.connect() as conn:
        songs = top_songs(conn, YEAR, "UTC", limit=10)
    client = _client(tmp_path, emu, DEFAULT_SCOPE)
    tokens = client.tokens
    assert isinstance(tokens, TokenManager)
    tokens.access_token()
    tokens._tokens = replace(tokens.tokens, scope="")  # as if the token answer had named none
    try:
        with pytest.raises(AuthRequired, match=r"brapped auth --scope playlist"):
            publish(client, songs)
    finally:
        client.http.close()
    assert emu.counters["POST /v1/me/playlists"] == 1 and emu.playlists.made == {}


# -- the command -----------------------------------------------------------------------------------


@pytest.fixture
def served(emu: Emulator) -> Iterator[str]:
    with serve_in_thread(emu) as base:
        yield base


def _env(emu: Emulator, base: str, db_url: str, scope: str) -> dict[str, str]:
    return {
        "SPOTIFY_CLIENT_ID": DEFAULT_CLIENT_ID,
        "SPOTIFY_REFRESH_TOKEN": emu.issue_refresh_token(scope=scope),
        "BRAPPED_SPOTIFY_API_URL": base + "/v1",
        "BRAPPED_SPOTIFY_ACCOUNTS_URL": base,
        "BRAPPED_DATABASE_URL": db_url,
    }


def test_command_creates_the_playlist(
    runner: CliRunner, emu: Emulator, served: str, db_url: str, known: list[dict[str, Any]]
) -> None:
    env = _env(emu, served, db_url, WITH_PLAYLIST)
    args = ["playlist", "wrapped", "--year", str(YEAR), "--limit", "5", "--format", "json"]
    result = runner.invoke(cli, args, env=env, obj=AppContext(clock=emu.clock))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    [made] = emu.playlists.made.values()
    assert data["playlist"]["id"] == made.id and not made.public
    assert made.items == [f"spotify:track:{t['id']}" for t in _expected(known, 5)]
    assert [s["plays"] for s in data["songs"]] == [t["streams"] for t in _expected(known, 5)]
    assert data["passed_over"] == 1


def test_command_without_the_grant_exits_77_and_says_how(
    runner: CliRunner, emu: Emulator, served: str, db_url: str, known: list[dict[str, Any]]
) -> None:
    env = _env(emu, served, db_url, DEFAULT_SCOPE)
    result = runner.invoke(
        cli, ["playlist", "wrapped", "--year", str(YEAR)], env=env, obj=AppContext(clock=emu.clock)
    )
    assert result.exit_code == 77
    assert "brapped auth --scope playlist" in result.stderr
    assert emu.playlists.made == {}


def test_offline_files_exact_contents(
    runner: CliRunner, tmp_path: Path, db_url: str, known: list[dict[str, Any]]
) -> None:
    m3u, table = tmp_path / "top.m3u", tmp_path / "top.csv"
    args = [
        "playlist",
        "wrapped",
        "--year",
        str(YEAR),
        "--limit",
        "3",
        "--m3u",
        str(m3u),
        "--csv",
        str(table),
    ]
    # No Spotify settings at all: offline needs none.
    result = runner.invoke(cli, args, env={"BRAPPED_DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    top3 = _expected(known, 3)
    lines = ["#EXTM3U", "#PLAYLIST:Your Top Songs 2025"]
    for t in top3:
        lines.append(f"#EXTINF:{round(t['duration_ms'] / 1000)},{t['artists']} - {t['name']}")
        lines.append(f"https://open.spotify.com/track/{t['id']}")
    assert m3u.read_text(encoding="utf-8") == "\n".join(lines) + "\n"
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["rank", "track", "artists", "plays", "uri"])
    for rank, t in enumerate(top3, 2):  # rank 1 is the track known only by name
        writer.writerow([rank, t["name"], t["artists"], t["streams"], f"spotify:track:{t['id']}"])
    assert table.read_bytes() == out.getvalue().encode("utf-8")
    assert result.stdout.count("Wrote 3 songs (1 known only by name passed over)") == 2


def test_m3u_names_stay_on_one_line() -> None:
    from brapped.insights import Period
    from brapped.pipeline.playlist import TopSong, TopSongs

    song = TopSong(rank=1, track_id="abc", name="Two\nLines", artists="A\r\nB", streams=3, duration_ms=None)
    text = m3u_text(TopSongs(YEAR, Period.year(YEAR, "UTC"), [song], 0))
    assert text.splitlines()[2:] == ["#EXTINF:-1,A B - Two Lines", "https://open.spotify.com/track/abc"]


def test_an_unwritable_file_is_one_error_line(
    runner: CliRunner, tmp_path: Path, db_url: str, known: list[dict[str, Any]]
) -> None:
    missing = tmp_path / "no" / "such" / "top.m3u"
    args = ["playlist", "wrapped", "--year", str(YEAR), "--m3u", str(missing)]
    result = runner.invoke(cli, args, env={"BRAPPED_DATABASE_URL": db_url})
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot write {missing}: No such file or directory\n"


def test_a_year_without_streams_says_so(runner: CliRunner, tmp_path: Path, db_url: str) -> None:
    args = ["playlist", "wrapped", "--year", "1999", "--csv", str(tmp_path / "x.csv")]
    result = runner.invoke(cli, args, env={"BRAPPED_DATABASE_URL": db_url})
    assert result.exit_code == 1 and "no streamed tracks with a Spotify id in 1999" in result.stderr
    assert not (tmp_path / "x.csv").exists()
