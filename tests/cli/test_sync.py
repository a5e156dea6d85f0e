"""`brapped sync` and `brapped enrich` as a user runs them: real HTTP to the emulator, exit codes."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from brapped.cli import cli
from brapped.cli.context import AppContext
from brapped.emulator import DEFAULT_CLIENT_ID, Emulator, Fault, serve_in_thread
from tests.spotify import harness

emu = harness.emu


@pytest.fixture
def env(emu: Emulator, tmp_home: Path, db_url: str) -> Iterator[dict[str, str]]:
    """Environment of a headless install pointed at the emulator served over HTTP."""
    with serve_in_thread(emu) as base:
        yield {
            "SPOTIFY_CLIENT_ID": DEFAULT_CLIENT_ID,
            "SPOTIFY_REFRESH_TOKEN": emu.issue_refresh_token(),
            "BRAPPED_SPOTIFY_API_URL": base + "/v1",
            "BRAPPED_SPOTIFY_ACCOUNTS_URL": base,
            "BRAPPED_DATABASE_URL": db_url,
        }


def _run(runner: CliRunner, emu: Emulator, env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(cli, list(args), env=env, obj=AppContext(clock=emu.clock))


def test_sync_prints_one_summary_line(runner: CliRunner, emu: Emulator, env: dict[str, str]) -> None:
    result = _run(runner, emu, env, "sync", "--enrich-budget", "0")
    assert result.exit_code == 0, result.output
    match = re.fullmatch(
        r"Synced: 50 new plays, (\d+) new tracks, (\d+) new artists, 0 gaps, 3 API calls\.\n", result.stdout
    )
    assert match, result.stdout
    again = _run(runner, emu, env, "sync", "--enrich-budget", "0", "--format", "json")
    data = json.loads(again.stdout)
    assert (data["new_plays"], data["api_calls"], data["outcome"], data["gaps"]) == (0, 1, "ok", [])


def test_sync_warns_about_a_gap(runner: CliRunner, emu: Emulator, env: dict[str, str]) -> None:
    _run(runner, emu, env, "sync", "--enrich-budget", "0")
    emu.clock.advance(timedelta(days=3))
    result = _run(runner, emu, env, "sync", "--enrich-budget", "0", "--format", "json")
    assert result.exit_code == 0
    gap = json.loads(result.stdout)["gaps"][0]
    assert f"plays between {gap['from']} and {gap['to']} may be missing" in result.stderr


def test_huge_retry_after_exits_75_within_seconds(
    runner: CliRunner, emu: Emulator, env: dict[str, str]
) -> None:
    emu.faults.add(Fault(kind="429", path="/v1/me/player/recently-played", retry_after=74214))
    wall = time.monotonic()
    result = _run(runner, emu, env, "sync")
    assert time.monotonic() - wall < 10
    assert result.exit_code == 75
    resume = (emu.clock.now() + timedelta(seconds=74214)).isoformat(timespec="seconds").replace("+00:00", "Z")
    assert f"asked to wait 74,214 s; resume after {resume}" in result.stderr
    early = _run(runner, emu, env, "sync")
    assert early.exit_code == 75 and "next sync possible after" in early.stderr
    emu.clock.advance(74215)
    late = _run(runner, emu, env, "sync", "--enrich-budget", "0")
    assert late.exit_code == 0 and late.stdout.startswith("Synced: 50 new plays")


@pytest.mark.parametrize(
    ("spec", "code", "words"),
    [
        (dict(kind="invalid_grant"), 77, "run `brapped auth` again"),
        (dict(kind="401", path="/v1/me/player/recently-played", count=None), 77, "run `brapped auth` again"),
        (dict(kind="5xx", path="/v1/me/player/recently-played", count=None), 69, "Service unavailable"),
        (dict(kind="drop", path="/v1/me/player/recently-played", count=None), 69, "no answer"),
    ],
    ids=["invalid_grant", "401", "5xx", "drop"],
)
def test_fault_exit_codes(
    runner: CliRunner,
    emu: Emulator,
    env: dict[str, str],
    spec: dict[str, object],
    code: int,
    words: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emu.faults.add(Fault(**spec))  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO):
        result = _run(runner, emu, env, "sync")
    assert result.exit_code == code, result.output
    assert words in result.stderr and "Traceback" not in result.output
    assert env["SPOTIFY_REFRESH_TOKEN"] not in result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # one account: one line
    if code == 77:
        # Nor a logged warning beside it, which a terminal shows (this runner does not capture it).
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert not [m for m in warned if "needs `brapped auth`" in m], warned


def test_enrich_reports_progress(runner: CliRunner, emu: Emulator, env: dict[str, str]) -> None:
    _run(runner, emu, env, "sync", "--enrich-budget", "0")
    partial = _run(runner, emu, env, "enrich", "--max-calls", "3")
    assert partial.exit_code == 0
    assert "Stopped at --max-calls; run again to continue." in partial.stdout
    assert "API calls: 3." in partial.stdout
    done = _run(runner, emu, env, "enrich", "--resolve", "--format", "json")
    data = json.loads(done.stdout)
    assert data["stopped"] is None and data["backlog"]["artists"] == 0
    assert data["tracks_resolved_total"] == data["tracks_total"] > 0
    text = _run(runner, emu, env, "enrich", "--resolve")
    total = data["tracks_total"]
    assert f"{total:,} of {total:,} tracks resolved" in text.stdout


def test_sync_without_authorisation_exits_77(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["sync"])
    assert result.exit_code == 77
    assert "SPOTIFY_CLIENT_ID" in result.stderr
    result = runner.invoke(cli, ["sync"], env={"SPOTIFY_CLIENT_ID": DEFAULT_CLIENT_ID})
    assert result.exit_code == 77
    assert "not authorised with Spotify: run `brapped auth`" in result.stderr


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_debug_logs_never_show_tokens(
    runner: CliRunner, emu: Emulator, env: dict[str, str], tmp_home: Path
) -> None:
    emu.faults.add(Fault(kind="401", path="/v1/me/player/recently-played"))  # forces a logged refresh
    result = _run(runner, emu, env, "--log-level", "debug", "sync", "--enrich-budget", "0")
    assert result.exit_code == 0, result.output
    assert "HTTP Request" in result.stderr or "recently-played" in result.stderr  # logging was on
    saved = json.loads((tmp_home / "token.json").read_text())
    for secret in (env["SPOTIFY_REFRESH_TOKEN"], saved["refresh_token"], saved["access_token"]):
        assert secret not in result.output


def test_enrich_with_musicbrainz_then_top_genres_and_status(
    runner: CliRunner, emu: Emulator, env: dict[str, str]
) -> None:
    env = {
        **env,
        "BRAPPED_MUSICBRAINZ": "true",
        "BRAPPED_MUSICBRAINZ_URL": env["BRAPPED_SPOTIFY_ACCOUNTS_URL"] + "/ws/2",
    }
    assert _run(runner, emu, env, "sync", "--enrich-budget", "0").exit_code == 0
    skipped = _run(runner, emu, env, "enrich", "--no-musicbrainz")
    assert skipped.exit_code == 0 and "MusicBrainz" not in skipped.stdout
    assert not any(key.startswith("GET /ws/2") for key in emu.counters)
    result = _run(runner, emu, env, "enrich", "--format", "json")
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)["musicbrainz"]
    requests = sum(n for key, n in emu.counters.items() if key.startswith("GET /ws/2"))
    assert facts["musicbrainz_requests"] == requests > 0 and facts["stopped"] is None
    assert emu.musicbrainz.refused == {"rate": 0, "user_agent": 0}
    coverage = facts["coverage"]
    assert coverage["mapped"] > 0 and coverage["with_genres"] > 0 and coverage["not_asked"] == 0
    top = _run(runner, emu, env, "report", "top", "genres", "--format", "json")
    assert top.exit_code == 0 and json.loads(top.stdout)["items"]
    status = _run(runner, emu, env, "status")
    assert (
        f"MusicBrainz:   {coverage['mapped']:,} of {coverage['artists']:,} artists mapped, "
        f"{coverage['with_genres']:,} with genres" in status.stdout
    )
    again = _run(runner, emu, env, "enrich")  # nothing due: no request, the same coverage line
    assert again.exit_code == 0
    assert f"MusicBrainz: {coverage['mapped']:,} of {coverage['artists']:,} artists mapped" in again.stdout
    assert "(0 requests)" in again.stdout


def test_enrich_max_calls_counts_musicbrainz_too(
    runner: CliRunner, emu: Emulator, env: dict[str, str]
) -> None:
    env = {
        **env,
        "BRAPPED_MUSICBRAINZ": "true",
        "BRAPPED_MUSICBRAINZ_URL": env["BRAPPED_SPOTIFY_ACCOUNTS_URL"] + "/ws/2",
    }
    assert _run(runner, emu, env, "sync", "--enrich-budget", "0").exit_code == 0
    emu.counters.reset()
    result = _run(runner, emu, env, "enrich", "--max-calls", "80", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    total = sum(emu.counters.values())
    assert total == data["api_calls"] + data["musicbrainz"]["musicbrainz_requests"] == 80


def test_an_error_spotify_words_cannot_drive_the_terminal(
    runner: CliRunner, emu: Emulator, env: dict[str, str]
) -> None:
    # Spotify's own error message reaches the "Error: ..." line: a link or a screen clear in it
    # is shown as text, as every name is.
    hostile = "down \x1b]8;;https://evil.example\x1b\\x\x1b[2J"
    emu.faults.add(Fault("5xx", "/v1/me/player/recently-played", count=None, status=500, message=hostile))
    result = _run(runner, emu, env, "sync")
    assert result.exit_code == 69, result.output
    assert "\x1b" not in result.output
    assert result.stderr == "Error: Spotify: down \\x1b]8;;https://evil.example\\x1b\\x\\x1b[2J (HTTP 500)\n"
    # The run keeps those words as its message, which `status` shows later.
    status = _run(runner, emu, env, "status")
    assert "Last attempt:  failed: Spotify: down \\x1b]8;;https://evil.example" in status.output
    assert "\x1b" not in status.output
