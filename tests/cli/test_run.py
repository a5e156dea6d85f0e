"""`brapped run` options, exit codes and log lines, with fake steps or without Spotify at all."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner

from brapped.cli import cli
from brapped.cli import run as run_module
from brapped.cli.context import AppContext
from brapped.cli.run import parse_duration
from brapped.emulator import EmulatedClock
from brapped.pipeline.schedule import Steps
from brapped.spotify.errors import RateLimited
from brapped.store import Store

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def fake_steps(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Replace the Spotify-backed steps; `behaviour['sync']` decides what a sync does."""
    behaviour: dict[str, Any] = {"sync": lambda: {"new_plays": 2}, "closed": 0}

    def factory(app: AppContext, store: Store) -> Steps:
        def close() -> None:
            behaviour["closed"] += 1

        return Steps(sync=lambda: behaviour["sync"](), close=close)

    monkeypatch.setattr(run_module, "STEPS_FACTORY", [factory])
    yield behaviour


def test_rate_limited_once_exits_75_with_a_warning_line(
    runner: CliRunner, sqlite_url: str, fake_steps: dict[str, Any]
) -> None:
    def limited() -> dict[str, Any]:
        raise RateLimited(7200, START + timedelta(hours=2))

    fake_steps["sync"] = limited
    result = runner.invoke(
        cli, ["--db", sqlite_url, "run", "--once"], obj=AppContext(clock=EmulatedClock(START))
    )
    assert result.exit_code == 75
    lines = result.stderr.splitlines()
    [warning] = [line for line in lines if " sync.rate_limited: " in line]
    assert warning.split()[1] == "warning"
    assert "Error: Spotify rate limit: asked to wait 7,200 s" in result.stderr
    assert fake_steps["closed"] == 1


def test_text_log_lines_and_a_warning_for_a_long_interval(
    runner: CliRunner, sqlite_url: str, fake_steps: dict[str, Any]
) -> None:
    result = runner.invoke(
        cli,
        ["--db", sqlite_url, "run", "--once", "--interval", "4h"],
        obj=AppContext(clock=EmulatedClock(START)),
    )
    assert result.exit_code == 0, result.stderr
    events = [line.split()[2].rstrip(":") for line in result.stderr.splitlines()]
    assert events == ["scheduler.started", "interval.too_long", "sync.done", "scheduler.stopped"]
    assert "syncing every 4 h can lose plays" in result.stderr
    assert "new_plays=2" in result.stderr


def test_without_spotify_credentials_once_exits_77(runner: CliRunner, sqlite_url: str) -> None:
    result = runner.invoke(cli, ["--db", sqlite_url, "run", "--once", "--log-format", "json"])
    assert result.exit_code == 77
    failed = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [e["event"] for e in failed if e["level"] == "error"] == ["sync.failed"]
    assert "SPOTIFY_CLIENT_ID" in result.stderr


def test_bad_options(runner: CliRunner, sqlite_url: str) -> None:
    for args, message in (
        # The option is named: "Invalid value: 'soon' is not ..." left the user to guess which.
        (["--interval", "soon"], "Invalid value for '--interval': 'soon' is not a duration like 30m"),
        (["--interval", "0m"], "Invalid value for '--interval': '0m' is no time at all: give more than 0"),
        (["--for", "2 weeks"], "Invalid value for '--for': '2 weeks' is not a duration"),
        (["--lock-ttl", "-5m"], "Invalid value for '--lock-ttl': '-5m' is not a duration"),
        (["--report-time", "25:99"], "Invalid value for '--report-time': report time '25:99' is not HH:MM"),
    ):
        result = runner.invoke(cli, ["--db", sqlite_url, "run", "--once", *args])
        assert result.exit_code == 2, args
        assert message in result.stderr, result.stderr
    assert parse_duration("90") == timedelta(minutes=90)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    with pytest.raises(click.BadParameter):
        parse_duration("-5m")


def test_run_serves_the_dashboard(tmp_path: Path, sqlite_url: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "BRAPPED_HOME": str(tmp_path),
        "BRAPPED_DATABASE_URL": sqlite_url,
        "BRAPPED_TIMEZONE": "UTC",
        "PATH": "",
        "PYTHONFAULTHANDLER": "1",  # SIGABRT prints every thread's stack: see below
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "brapped", "run", "--serve", "--port", str(port), "--interval", "1h"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # the dashboard listens from the start; the first sync is recorded soon after
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
                assert response.status_code == 200
                if response.json()["last_sync"] is not None:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "no sync shown on the dashboard"
            time.sleep(0.2)
        assert response.json()["last_sync"]["outcome"] == "failed"  # no Spotify app configured
        proc.terminate()
        try:
            # A step waiting for SQLite's write lock (up to its 30 s busy timeout) finishes first.
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # where it hangs, for whoever reads the failure
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"`brapped run` did not stop within 60 s of SIGTERM:\n{err[-8000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "dashboard.started" in err and "scheduler.stopped" in err


def test_serving_beyond_this_machine_needs_a_token(runner: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    result = runner.invoke(cli, ["--db", f"sqlite:///{db}", "run", "--once", "--serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "token" in result.stderr.lower()
    assert not db.exists()  # refused before the database was opened


def test_serving_with_a_short_token_is_refused(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "never.db"
    monkeypatch.setenv("BRAPPED_DASHBOARD_TOKEN", "short")
    result = runner.invoke(cli, ["--db", f"sqlite:///{db}", "run", "--once", "--serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "at least 16 characters" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not db.exists()  # refused before the database was opened


def test_serving_on_a_busy_port_stops_before_the_scheduler(runner: CliRunner, tmp_path: Path) -> None:
    """Before, the dashboard was logged as started and `run` went on without one."""
    db = tmp_path / "never.db"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(
            cli, ["--db", f"sqlite:///{db}", "run", "--once", "--serve", "--port", str(port)]
        )
    assert result.exit_code == 1, result.output
    assert "dashboard.started" not in result.stderr
    assert f"Error: cannot listen on http://127.0.0.1:{port}/: Address already in use" in result.stderr
    assert not db.exists()  # stopped before the database was opened
