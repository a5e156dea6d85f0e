"""`brapped status`: last sync, gaps, resume time, token age, enrichment backlog."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from brapped.cli import cli
from brapped.cli.context import AppContext
from brapped.emulator import DEFAULT_CLIENT_ID, Emulator, Fault
from brapped.pipeline.sync import sync
from brapped.spotify import connect
from brapped.store import open_store
from brapped.store.tables import albums, artists, runs
from tests.spotify import harness
from tests.spotify.harness import START, make_settings

emu = harness.emu


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _minute(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def test_status_json(runner: CliRunner, tmp_home: Path, db_url: str, emu: Emulator) -> None:
    settings = make_settings(tmp_home, emu.issue_refresh_token(), BRAPPED_DATABASE_URL=db_url)
    client = connect(settings, emu.clock, transport=emu.transport())
    store = open_store(db_url)
    sync(store, client)
    gap_from = emu.recently_played_window()[0].played_at
    emu.clock.advance(timedelta(days=2))
    gap_to = emu.recently_played_window()[-1].played_at
    sync(store, client)
    with store.connect() as conn:
        last_ok = conn.execute(
            select(func.max(runs.c.finished_at)).where(runs.c.outcome == "ok")
        ).scalar_one()
        unenriched_artists = conn.execute(
            select(func.count()).where(artists.c.enriched_at.is_(None))
        ).scalar()
        unenriched_albums = conn.execute(select(func.count()).where(albums.c.enriched_at.is_(None))).scalar()
    emu.clock.advance(600)
    emu.faults.add(Fault(kind="429", path="/v1/me/player/recently-played", retry_after=74214))
    limited = sync(store, client)
    assert limited.rate_limited is not None
    store.close()

    env = {"SPOTIFY_CLIENT_ID": DEFAULT_CLIENT_ID, "BRAPPED_DATABASE_URL": db_url}
    result = runner.invoke(cli, ["status", "--format", "json"], env=env, obj=AppContext(clock=emu.clock))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"last_sync", "gaps", "resume_after", "token", "enrichment"} <= set(data)
    now = emu.clock.now()
    assert data["last_sync"]["at"] == _iso(last_ok)
    assert data["last_sync"]["age_seconds"] == int((now - last_ok).total_seconds())
    assert data["gaps"] == [
        {"user_id": emu.listener.user_id, "from": _iso(gap_from), "to": _iso(gap_to), "filled": False}
    ]
    assert data["resume_after"] == _iso(limited.rate_limited.resume_at)
    expires = datetime(2026, 9, 2, 6, 0, tzinfo=UTC)  # six calendar months after first use (START)
    assert datetime(2026, 3, 2, 6, 0, tzinfo=UTC) == START
    assert data["token"]["expires_at"] == _iso(expires)
    assert data["token"]["expires_in_days"] == (expires - now).days
    assert data["token"]["source"] == "environment" and data["token"]["warning"] is None
    assert data["enrichment"]["artists"] == unenriched_artists
    assert data["enrichment"]["albums"] == unenriched_albums
    assert data["accounts"][0]["user_id"] == emu.listener.user_id
    token_text = settings.token_file.read_text()
    assert json.loads(token_text)["refresh_token"] not in result.output

    # The terminal shows instants to the minute, in UTC.
    table = runner.invoke(cli, ["status"], env=env, obj=AppContext(clock=emu.clock))
    assert f"{_minute(gap_from)} .. {_minute(gap_to)}" in table.stdout
    assert f"Rate limited:  next sync after {_minute(limited.rate_limited.resume_at)}" in table.stdout
    assert f"Last sync:     {_minute(last_ok)} (" in table.stdout


def test_status_warns_in_the_last_14_days(runner: CliRunner, tmp_home: Path, emu: Emulator) -> None:
    settings = make_settings(tmp_home, emu.issue_refresh_token())
    connect(settings, emu.clock, transport=emu.transport()).me()  # seeds the token file at START
    late = AppContext(clock=_fixed(datetime(2026, 8, 24, 6, 0, tzinfo=UTC)))
    result = runner.invoke(cli, ["status", "--format", "json"], obj=late)
    token = json.loads(result.stdout)["token"]
    assert token["expires_in_days"] == 9
    assert token["warning"] == "the Spotify authorisation expires in 9 days: run `brapped auth`"
    table = runner.invoke(
        cli, ["status"], obj=AppContext(clock=_fixed(datetime(2026, 8, 24, 6, 0, tzinfo=UTC)))
    )
    assert "Warning: the Spotify authorisation expires in 9 days" in table.stderr


def test_status_on_a_new_install(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["status", "--format", "json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (data["last_sync"], data["gaps"], data["resume_after"], data["token"]["present"]) == (
        None,
        [],
        None,
        False,
    )
    assert data["summaries"] == {"built": False}
    text = runner.invoke(cli, ["status"])
    assert "Last sync:     never" in text.stdout and "run `brapped auth`" in text.stdout
    assert "Summaries:     not built" in text.stdout


class _fixed:
    def __init__(self, when: datetime) -> None:
        self.when = when

    def now(self) -> datetime:
        return self.when

    def sleep(self, seconds: float) -> None:
        raise AssertionError("status never waits")
