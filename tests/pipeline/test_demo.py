"""`brapped demo` end to end: the database it leaves equals the simulated listener's truth."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from brapped.cli import cli
from brapped.emulator import EmulatedClock, Emulator, TruePlay
from brapped.pipeline.demo import MARKER, DemoError, DemoResult, prepare_home, run_demo
from brapped.store import open_store
from brapped.store.tables import plays, runs, tracks

NOW = datetime(2026, 6, 15, 18, 0, tzinfo=UTC)


def _second(when: datetime) -> datetime:
    return when.replace(microsecond=0)


def _expected(seed: int, days: int) -> set[tuple[datetime, str]]:
    """(end second, track id) of every play the demo should hold, from a fresh emulator."""
    sync_from = NOW - timedelta(days=days)
    emu = Emulator(seed=seed, clock=EmulatedClock(sync_from))
    # Sync sees what recently-played shows: at the first sync the last 50, then every new one...
    visible = [p for p in emu.ground_truth(sync_from - timedelta(days=2), NOW + timedelta(milliseconds=1))]
    window = emu.recently_played_window(sync_from)
    oldest = min(p.played_at for p in window)
    synced = {
        (p.played_at, p.id)
        for p in visible
        if p.played_at >= oldest and p.kind == "track" and not p.incognito and p.ms_played >= 30_000
    }
    # ...and the export of the year before holds every track play: at its end, or an offline
    # play (reported later) at its start to the second plus its ms_played, unless sync has it.
    expected = {(_second(at), track) for at, track in synced}
    expected |= {
        (_export_second(p), p.id)
        for p in emu.ground_truth(sync_from - timedelta(days=365), sync_from)
        if p.kind == "track" and (p.played_at, p.id) not in synced
    }
    return expected


def _export_second(play: TruePlay) -> datetime:
    if play.offline and play.reported_at is not None:
        return _second(play.started_at.replace(microsecond=0) + timedelta(milliseconds=play.ms_played))
    return _second(play.played_at)


def test_demo_database_equals_the_listeners_truth(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    result = run_demo(home, days=2, seed=3, now=NOW)
    store = open_store(result.db_url)
    try:
        with store.connect() as conn:
            rows = conn.execute(select(plays.c.played_at, plays.c.track_id, plays.c.source)).all()
            unresolved = conn.execute(select(tracks.c.id).where(~tracks.c.is_resolved)).all()
            outcomes = {r.kind: r.outcome for r in conn.execute(select(runs.c.kind, runs.c.outcome))}
    finally:
        store.close()
    stored = [(_second(r.played_at), r.track_id) for r in rows]
    assert len(stored) == len(set(stored)), "a play was stored twice"
    assert set(stored) == _expected(seed=3, days=2)
    sources = {r.source for r in rows}
    assert sources == {"api", "export", "both"}  # synced, imported, and merged where they overlap
    assert result.syncs == 2 * 24 + 1 and result.gaps == 0
    assert result.imported["merged"] == sum(1 for r in rows if r.source == "both") > 0
    assert unresolved == []  # every track the export named was resolved
    assert result.resolved[0] == result.resolved[1] == result.tracks
    assert result.plays == len(rows)
    assert outcomes == {"sync": "ok", "import": "ok", "enrich": "ok", "musicbrainz": "ok"}
    assert result.musicbrainz.endswith("with genres") and result.musicbrainz_requests > 0
    assert stat.S_IMODE((home / "token.json").stat().st_mode) == 0o600


def test_cli_prints_the_reports_and_never_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "demo-home"
    monkeypatch.setattr("brapped.cli.demo.run_demo", _small_demo)
    runner = CliRunner()
    result = runner.invoke(cli, ["--home", str(home), "--timezone", "Europe/Berlin", "demo"])
    assert result.exit_code == 0, result.output + str(result.exception)
    out = result.stdout
    assert "through the PKCE flow" in out
    assert "Synced 25 times" in out
    assert "Top tracks" in out and "Top artists" in out  # today's report
    assert "Wrapped " in out and "(Europe/Berlin)" in out
    assert "Top genres" in out and "artists mapped" in out  # genres from the emulated MusicBrainz
    tokens = json.loads((home / "token.json").read_text())
    for secret in (tokens["refresh_token"], tokens["access_token"]):
        assert secret not in result.output
    store = open_store(f"sqlite:///{home / 'brapped.db'}")
    try:
        with store.connect() as conn:
            assert len(conn.execute(select(plays.c.id)).all()) > 0
    finally:
        store.close()
    # Left as `import` leaves a database: the report summaries built, fresh.
    status = runner.invoke(
        cli, ["--home", str(home), "--timezone", "Europe/Berlin", "status", "--format", "json"]
    )
    assert status.exit_code == 0, status.output
    summaries = json.loads(status.stdout)["summaries"]
    assert summaries["built"] is True and summaries["stale"] is False


def test_cli_json_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without --home the demo goes to a `demo` folder inside the usual home.
    monkeypatch.setenv("BRAPPED_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("brapped.cli.demo.run_demo", _small_demo)
    result = CliRunner().invoke(cli, ["demo", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["demo"]["home"] == str(tmp_path / "home" / "demo")
    store = open_store(f"sqlite:///{tmp_path / 'home' / 'demo' / 'brapped.db'}")
    try:
        with store.connect() as conn:
            assert len(conn.execute(select(plays.c.id)).all()) == data["demo"]["plays"] > 0
    finally:
        store.close()
    assert data["today"]["date"] == data["wrapped"]["period"]["end"]


def _small_demo(home: Path, **kwargs: Any) -> DemoResult:
    """The demo with a day of syncs and a week of export (the CLI's rendering is under test)."""
    return run_demo(home, **{**kwargs, "days": 1, "export_days": 7})


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    home = tmp_path / "real-home"
    home.mkdir()
    (home / "brapped.db").write_bytes(b"precious")
    with pytest.raises(DemoError, match="not made by `brapped demo`"):
        prepare_home(home)
    assert (home / "brapped.db").read_bytes() == b"precious"
    runner = CliRunner()
    result = runner.invoke(cli, ["--home", str(home), "demo"])
    assert result.exit_code == 1
    assert "not made by `brapped demo`" in result.stderr
    # A demo home is recognised and emptied.
    demo = tmp_path / "demo"
    prepare_home(demo)
    (demo / "old.txt").write_text("x")
    prepare_home(demo)
    assert sorted(p.name for p in demo.iterdir()) == [MARKER]


@pytest.mark.parametrize("elsewhere", [False, True])
def test_the_explore_hint_opens_the_demo_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, elsewhere: bool
) -> None:
    """With a database in the environment (a hosted one, say), the suggested commands name the
    demo's: the environment would beat the demo home's own. The hint's command is run to check."""
    home, real = tmp_path / "demo-home", tmp_path / "real.db"
    if elsewhere:
        monkeypatch.setenv("BRAPPED_DATABASE_URL", f"sqlite:///{real}")
    monkeypatch.setattr("brapped.cli.demo.run_demo", _small_demo)
    result = CliRunner().invoke(cli, ["--home", str(home), "demo"])
    assert result.exit_code == 0, result.output
    hint = next(line for line in result.stdout.splitlines() if line.startswith("Explore further: "))
    first = hint.removeprefix("Explore further: ").split(" | ")[0].split()
    assert first[0] == "brapped" and first[-3:] == ["report", "top", "artists"]
    assert ("--db" in first) == elsewhere
    shown = CliRunner().invoke(cli, [*first[1:-3], "db", "info", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert str(home / "brapped.db") in shown.stdout and str(real) not in shown.stdout
