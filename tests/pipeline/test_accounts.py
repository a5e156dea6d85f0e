"""A household on one app: several emulated listeners synced by one sync, one 429 pausing all, one
revoked authorisation stopping only its account, auth for a second account, the accounts list."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from brapped.cli import cli
from brapped.cli.context import AppContext
from brapped.config import Settings
from brapped.emulator import DEFAULT_CLIENT_ID, Emulator, Fault, serve_in_thread
from brapped.pipeline.accounts import enrich_with_any, list_accounts, needing_auth, remove_account, sync_all
from brapped.spotify import SpotifyClient, authorise, authorised_accounts, connect, connect_all
from brapped.spotify.errors import AuthRequired
from brapped.store import Store, open_store
from brapped.store.tables import artists, plays, runs, track_artists
from tests.spotify import harness
from tests.spotify.harness import api_visible, make_settings

emu = harness.emu
RP = "GET /v1/me/player/recently-played"


@pytest.fixture
def household(emu: Emulator) -> list[int]:
    """Three listeners on the emulator's one app: 0 (the original), 1 and 2."""
    return [0, emu.add_listener(101), emu.add_listener(202)]


@pytest.fixture
def home_settings(tmp_path: Path, emu: Emulator, household: list[int]) -> Settings:
    """Headless: three refresh tokens in SPOTIFY_REFRESH_TOKEN, comma-separated."""
    tokens = [emu.issue_refresh_token(listener=n) for n in household]
    return make_settings(tmp_path / "home", ",".join(tokens))


@pytest.fixture
def clients(home_settings: Settings, emu: Emulator) -> Iterator[list[SpotifyClient]]:
    made = connect_all(home_settings, emu.clock, transport=emu.transport())
    yield made
    for client in made:
        client.http.close()


def _stored(store: Store, user_id: str) -> set[tuple[object, str]]:
    with store.connect() as conn:
        rows = conn.execute(select(plays.c.played_at, plays.c.track_id).where(plays.c.user_id == user_id))
        return {(r[0], r[1]) for r in rows}


def _truth(emu: Emulator, listener: int) -> set[tuple[object, str]]:
    """The plays recently-played shows now for `listener`, from the emulator's own script."""
    now = emu.clock.now()
    window = emu.webapi.recent_window(now, listener)[:50]
    return {(p.played_at, p.id) for p in window if api_visible(p)}


def test_one_sync_stores_every_account_exactly(
    store: Store, emu: Emulator, household: list[int], clients: list[SpotifyClient]
) -> None:
    assert len(clients) == 3
    done = sync_all(store, clients)
    assert [p.outcome for p in done.accounts] == ["ok", "ok", "ok"]
    users = [emu.listeners[n].user_id for n in household]
    assert [p.user_id for p in done.accounts] == users
    for n, user in zip(household, users, strict=True):
        assert _stored(store, user) == _truth(emu, n)
    # A day later, again: each account gets exactly its own new plays, nobody else's.
    emu.clock.advance(timedelta(hours=5))
    before = {u: _stored(store, u) for u in users}
    again = sync_all(store, clients)
    assert [p.outcome for p in again.accounts] == ["ok", "ok", "ok"]
    for n, user in zip(household, users, strict=True):
        assert _truth(emu, n) <= _stored(store, user)
        expected_new = _truth(emu, n) - before[user]
        assert again.accounts[n].result is not None
        assert again.accounts[n].result.new_plays == len(expected_new)


def test_a_429_pauses_every_account_until_the_resume_time(
    store: Store, emu: Emulator, clients: list[SpotifyClient]
) -> None:
    sync_all(store, clients)
    emu.clock.advance(timedelta(hours=1))
    emu.counters.reset()
    emu.faults.add(Fault(kind="429", path="/v1/me/player/recently-played", retry_after=7200, count=1))
    done = sync_all(store, clients)
    assert [p.outcome for p in done.accounts] == ["rate_limited", "paused", "paused"]
    assert done.rate_limited is not None and done.first_error() is done.rate_limited
    assert emu.counters[RP] == 1, "a paused account asked Spotify"
    # Before the resume time nobody calls; after it everybody syncs again.
    emu.clock.advance(timedelta(hours=1))
    emu.counters.reset()
    still = sync_all(store, clients)
    assert [p.outcome for p in still.accounts] == ["paused", "paused", "paused"]
    assert emu.counters.v1_total == 0
    emu.clock.advance(timedelta(hours=1, minutes=1))
    resumed = sync_all(store, clients)
    assert [p.outcome for p in resumed.accounts] == ["ok", "ok", "ok"]


def test_a_revoked_account_stops_alone_and_its_status_says_auth(
    store: Store, emu: Emulator, household: list[int], clients: list[SpotifyClient], home_settings: Settings
) -> None:
    sync_all(store, clients)
    emu.clock.advance(timedelta(hours=2))  # every access token expired: the next sync refreshes
    assert emu.accounts.revoke(household[1]) == 1
    done = sync_all(store, clients)
    assert [p.outcome for p in done.accounts] == ["ok", "auth_needed", "ok"]
    assert done.first_error() is not None and done.first_error().exit_code == 77  # type: ignore[union-attr]
    revoked = emu.listeners[household[1]].user_id
    rows = {r["id"]: r for r in list_accounts(store, home_settings)}
    assert rows[revoked]["status"] == "auth needed: run `brapped auth`"
    assert "run `brapped auth`" in rows[revoked]["problem"]
    others = [emu.listeners[n].user_id for n in (household[0], household[2])]
    assert all(rows[u]["status"] == "ok" for u in others)
    assert _truth(emu, household[2]) <= _stored(store, others[1])
    with store.connect() as conn:
        assert [r["user_id"] for r in needing_auth(conn)] == [revoked]
    # Authorised again (a new consent), its next sync clears the mark.
    fresh = connect(
        home_settings, emu.clock, transport=emu.transport(), account=authorised_accounts(home_settings)[1]
    )
    fresh.tokens.store.save(  # type: ignore[attr-defined]
        replace(fresh.tokens.tokens, refresh_token=emu.issue_refresh_token(listener=household[1]))  # type: ignore[attr-defined]
    )
    again = sync_all(store, clients)
    fresh.http.close()
    assert [p.outcome for p in again.accounts] == ["ok", "ok", "ok"]
    with store.connect() as conn:
        assert needing_auth(conn) == []


def _unenriched_played_artists(store: Store) -> set[str]:
    """Artists credited on a stored play that have no details yet (read straight from the tables)."""
    with store.connect() as conn:
        rows = conn.execute(
            select(artists.c.id)
            .join(track_artists, track_artists.c.artist_id == artists.c.id)
            .join(plays, plays.c.track_id == track_artists.c.track_id)
            .where(artists.c.enriched_at.is_(None))
        )
        return {r[0] for r in rows}


def test_enrichment_goes_through_an_account_that_works_when_the_first_is_revoked(
    store: Store, emu: Emulator, household: list[int], clients: list[SpotifyClient]
) -> None:
    sync_all(store, clients, enrich_budget=0)
    missing = _unenriched_played_artists(store)
    assert missing, "nothing left to enrich: the test would prove nothing"
    emu.clock.advance(timedelta(hours=2))  # access tokens expired: the first request refreshes
    assert emu.accounts.revoke(household[0]) == 1
    emu.counters.reset()
    result = enrich_with_any(store, clients)
    assert result.artists_enriched > 0 and result.api_calls > 0
    assert _unenriched_played_artists(store) == set()
    assert emu.counters.v1_total == result.api_calls  # every lookup went through a working account
    first = emu.listeners[household[0]].user_id
    with store.connect() as conn:
        assert [r["user_id"] for r in needing_auth(conn)] == [first]
        outcomes = [r.outcome for r in conn.execute(select(runs.c.outcome).where(runs.c.kind == "enrich"))]
    assert outcomes == ["ok"]  # the refused account was skipped before enrich started, not failed
    # Every account refused: the refusal is raised, nothing is looked up.
    for n in household[1:]:
        emu.accounts.revoke(n)
    emu.clock.advance(timedelta(hours=2))
    emu.counters.reset()
    with pytest.raises(AuthRequired):
        enrich_with_any(store, clients)
    assert emu.counters.v1_total == 0


def test_each_token_file_is_private(
    home_settings: Settings, clients: list[SpotifyClient], store: Store
) -> None:
    sync_all(store, clients)
    files = [a.path for a in authorised_accounts(home_settings)]
    assert files[0] == home_settings.token_file and len(files) == 3
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    assert len({json.loads(p.read_text())["user_id"] for p in files}) == 3


def _approve(emu: Emulator, url: str) -> None:
    answer = emu.handle(httpx.Request("GET", url))
    httpx.get(answer.headers["location"], timeout=10)


def test_auth_adds_a_second_account_and_renews_the_first(tmp_path: Path, emu: Emulator) -> None:
    settings = make_settings(tmp_path / "home", None)
    second = emu.add_listener(55)

    def approve(url: str) -> None:
        threading.Thread(target=_approve, args=(emu, url)).start()

    first = authorise(settings, emu.clock, approve, port=0, transport=emu.transport(), timeout=10)
    assert first.token_file == settings.token_file
    emu.accounts.approving_listener = second
    other = authorise(settings, emu.clock, approve, port=0, transport=emu.transport(), timeout=10)
    assert other.tokens.user_id == emu.listeners[second].user_id
    assert other.token_file == settings.home / "tokens" / f"{other.tokens.user_id}.json"
    assert stat.S_IMODE(other.token_file.stat().st_mode) == 0o600
    # The first account signs in again: its own file is renewed, no third file appears.
    emu.accounts.approving_listener = 0
    again = authorise(settings, emu.clock, approve, port=0, transport=emu.transport(), timeout=10)
    assert again.token_file == settings.token_file
    assert sorted(a.user_id or "" for a in authorised_accounts(settings)) == sorted(
        [emu.listener.user_id, emu.listeners[second].user_id]
    )
    assert [p.name for p in (settings.home / "tokens").iterdir() if p.name.startswith(".pending")] == []


def test_tokens_file_for_headless_households(tmp_path: Path, emu: Emulator) -> None:
    second = emu.add_listener(9)
    listed = tmp_path / "tokens.txt"
    listed.write_text(f"# the household\n{emu.issue_refresh_token(listener=second)}\n\n")
    settings = make_settings(
        tmp_path / "home", emu.issue_refresh_token(), SPOTIFY_REFRESH_TOKENS_FILE=str(listed)
    )
    assert len(authorised_accounts(settings)) == 2


def test_remove_keeps_or_deletes_plays(
    store: Store, emu: Emulator, clients: list[SpotifyClient], home_settings: Settings, household: list[int]
) -> None:
    sync_all(store, clients)
    gone, kept = emu.listeners[household[1]].user_id, emu.listeners[household[2]].user_id
    result = remove_account(store, home_settings, kept, delete_plays=False)
    assert len(result["token_files_deleted"]) == 1 and result["plays_deleted"] == 0
    rows = {r["id"]: r for r in list_accounts(store, home_settings)}
    assert rows[kept]["kind"] == "import-only" and rows[kept]["plays"] == len(_stored(store, kept)) > 0
    count = len(_stored(store, gone))
    result = remove_account(store, home_settings, gone, delete_plays=True)
    assert result["plays_deleted"] == count > 0
    assert gone not in {r["id"] for r in list_accounts(store, home_settings)}


# -- the commands, over HTTP to the served emulator ---------------------------------------------------


@pytest.fixture
def env(emu: Emulator, household: list[int], tmp_home: Path, db_url: str) -> Iterator[dict[str, str]]:
    with serve_in_thread(emu) as base:
        yield {
            "SPOTIFY_CLIENT_ID": DEFAULT_CLIENT_ID,
            "SPOTIFY_REFRESH_TOKEN": " ".join(emu.issue_refresh_token(listener=n) for n in household[:2]),
            "BRAPPED_SPOTIFY_API_URL": base + "/v1",
            "BRAPPED_SPOTIFY_ACCOUNTS_URL": base,
            "BRAPPED_DATABASE_URL": db_url,
        }


def test_sync_and_accounts_commands(runner: CliRunner, emu: Emulator, env: dict[str, str]) -> None:
    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(cli, list(args), env=env, obj=AppContext(clock=emu.clock))

    synced = run("sync", "--enrich-budget", "0", "--format", "json")
    assert synced.exit_code == 0, synced.output
    data = json.loads(synced.stdout)
    parts = data["accounts"]
    assert [p["outcome"] for p in parts] == ["ok", "ok"]
    assert data["new_plays"] == sum(p["new_plays"] for p in parts) > 50
    listed = run("accounts", "--format", "json")
    assert listed.exit_code == 0, listed.output
    rows = {r["id"]: r for r in json.loads(listed.stdout)}
    for part in parts:
        row = rows[part["user_id"]]
        assert (row["kind"], row["authorised"], row["plays"], row["status"]) == (
            "authorised",
            True,
            part["new_plays"],
            "ok",
        )
        assert row["last_sync"] and row["token_expires_at"]
    table = run("accounts")
    assert table.exit_code == 0 and "Accounts" in table.stdout
    csv = run("accounts", "--format", "csv").stdout.splitlines()
    assert csv[0] == "id,display_name,kind,token_expires_at,last_sync,plays,episode_plays,status"
    assert sorted(line.split(",")[0] for line in csv[1:]) == sorted(p["user_id"] for p in parts)
    emu.accounts.revoke(1)
    emu.clock.advance(timedelta(hours=2))
    partly = run("sync", "--enrich-budget", "0")
    assert partly.exit_code == 77, partly.output
    assert "Synced " + parts[0]["user_id"] in partly.stdout
    assert f"Account {parts[1]['user_id']}: auth_needed" in partly.stderr
    status = run("status", "--format", "json")
    assert [a["user_id"] for a in json.loads(status.stdout)["auth_needed"]] == [parts[1]["user_id"]]
    assert f"account {parts[1]['user_id']} needs `brapped auth`" in run("status").stderr
    listed = {r["id"]: r for r in json.loads(run("accounts", "--format", "json").stdout)}
    assert listed[parts[1]["user_id"]]["status"] == "auth needed: run `brapped auth`"


def test_run_once_syncs_every_account(
    runner: CliRunner, emu: Emulator, env: dict[str, str], household: list[int], db_url: str
) -> None:
    result = runner.invoke(cli, ["run", "--once"], env=env, obj=AppContext(clock=emu.clock))
    assert result.exit_code == 0, result.output
    store = open_store(db_url)
    try:
        for n in household[:2]:
            user = emu.listeners[n].user_id
            assert _truth(emu, n) <= _stored(store, user), user
    finally:
        store.close()


def test_run_once_enriches_through_the_second_account_when_the_first_is_revoked(
    runner: CliRunner, emu: Emulator, env: dict[str, str], household: list[int], db_url: str
) -> None:
    assert emu.accounts.revoke(household[0]) == 1  # before its first refresh
    result = runner.invoke(
        cli, ["run", "--once"], env={**env, "BRAPPED_MUSICBRAINZ": "false"}, obj=AppContext(clock=emu.clock)
    )
    assert result.exit_code == 0, result.output
    assert "enrich done" in result.output and "enrich failed" not in result.output
    store = open_store(db_url)
    try:
        second = emu.listeners[household[1]].user_id
        assert _truth(emu, household[1]) <= _stored(store, second)
        with store.connect() as conn:
            enriched = conn.execute(select(artists.c.id).where(artists.c.enriched_at.is_not(None))).all()
            recorded = conn.execute(select(runs.c.outcome).where(runs.c.kind == "enrich"))
            outcomes = [r.outcome for r in recorded]
        assert len(enriched) > 0 and outcomes and set(outcomes) <= {"ok", "partial"}
    finally:
        store.close()
