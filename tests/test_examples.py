"""Every recipe in examples/ parsed and its `brapped` commands run for real (against the emulator)."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from brapped.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    EmulatedClock,
    Emulator,
    serve_in_thread,
)
from brapped.store import open_store, tables
from tests.conftest import REPO

EXAMPLES = REPO / "examples"
BRAPPED = Path(sys.executable).parent / "brapped"


@pytest.fixture
def spotify() -> Iterator[dict[str, str]]:
    """Emulated Spotify over HTTP, and the settings that point brapped at it."""
    emu = Emulator(seed=5, clock=EmulatedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))
    with serve_in_thread(emu) as url:
        yield {
            "SPOTIFY_CLIENT_ID": DEFAULT_CLIENT_ID,
            "SPOTIFY_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "SPOTIFY_REFRESH_TOKEN": emu.issue_refresh_token(pkce=False),
            "BRAPPED_SPOTIFY_API_URL": f"{url}/v1",
            "BRAPPED_SPOTIFY_ACCOUNTS_URL": url,
            # The emulator's MusicBrainz too: no example may reach the real one from a test.
            "BRAPPED_MUSICBRAINZ_URL": f"{url}/ws/2",
        }


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRAPPED_", "SPOTIFY_"))}
    env["PATH"] = f"{BRAPPED.parent}:/usr/bin:/bin"
    env.update(extra)
    return env


def fake_install(home: Path) -> None:
    """What `pip install --user brapped` leaves: ~/.local/bin/brapped."""
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "brapped").symlink_to(BRAPPED)


def count_plays(url: str) -> int:
    store = open_store(url, migrate=False)
    with store.connect() as conn:
        n = int(conn.execute(select(func.count()).select_from(tables.plays)).scalar_one())
    store.close()
    return n


def events(text: str) -> list[str]:
    return [json.loads(line)["event"] for line in text.splitlines() if line.startswith("{")]


# --- cron ---------------------------------------------------------------------------------------------


def test_cron_line(tmp_path: Path, sqlite_url: str, spotify: dict[str, str]) -> None:
    lines = [
        line
        for line in (EXAMPLES / "cron" / "brapped.cron").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    assert fields[:5] == ["*/30", "*", "*", "*", "*"]
    command = fields[5]
    assert " run --once " in command
    home = tmp_path / "home"
    fake_install(home)
    # cron runs the line with /bin/sh, a bare PATH and HOME set; settings come from the environment here.
    env = clean_env(HOME=str(home), PATH="/usr/bin:/bin", BRAPPED_DATABASE_URL=sqlite_url, **spotify)
    done = subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    log = (home / "brapped-cron.log").read_text()
    # MusicBrainz (the emulator's) runs in the background after enrichment; it ends with the round.
    assert events(log) == [
        "scheduler.started",
        "sync.done",
        "enrich.done",
        "musicbrainz.done",
        "scheduler.stopped",
    ]
    assert count_plays(sqlite_url) == 50  # a first sync gets what recently-played holds


# --- systemd ------------------------------------------------------------------------------------------


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string((EXAMPLES / "systemd" / name).read_text())
    return parser


def exec_start(parser: configparser.ConfigParser, home: Path) -> list[str]:
    return parser["Service"]["ExecStart"].replace("%h", str(home)).split()


def environment_file(parser: configparser.ConfigParser, home: Path, values: dict[str, str]) -> dict[str, str]:
    """Write the EnvironmentFile the unit names, then read it back the way systemd does (KEY=VALUE)."""
    path = Path(parser["Service"]["EnvironmentFile"].lstrip("-").replace("%h", str(home)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_systemd_service_runs_and_stops_on_its_kill_signal(
    tmp_path: Path, sqlite_url: str, spotify: dict[str, str]
) -> None:
    service = unit("brapped.service")
    assert service["Service"]["Type"] == "simple" and service["Service"]["Restart"] == "on-failure"
    assert service["Install"]["WantedBy"] == "default.target"
    home = tmp_path / "home"
    fake_install(home)
    env = clean_env(
        HOME=str(home), **environment_file(service, home, {"BRAPPED_DATABASE_URL": sqlite_url, **spotify})
    )
    proc = subprocess.Popen(exec_start(service, home), env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        seen = []
        deadline = time.monotonic() + 60
        while "sync.done" not in seen and time.monotonic() < deadline:
            seen += events(proc.stderr.readline())
        assert "sync.done" in seen
        proc.send_signal(getattr(signal, service["Service"]["KillSignal"]))
        _, rest = proc.communicate(timeout=int(service["Service"]["TimeoutStopSec"]))
    finally:
        if proc.poll() is None:
            proc.kill()
    # Exit 0 on SIGTERM: systemd records a clean stop and Restart=on-failure leaves it stopped.
    assert proc.returncode == 0, rest
    assert events(rest)[-1] == "scheduler.stopped"
    assert count_plays(sqlite_url) == 50


def test_systemd_timer_and_oneshot_service(tmp_path: Path, sqlite_url: str, spotify: dict[str, str]) -> None:
    timer = unit("brapped-once.timer")
    service = unit("brapped-once.service")
    assert (EXAMPLES / "systemd" / timer["Timer"]["Unit"]).exists()
    assert timer["Timer"]["Persistent"] == "true"
    assert service["Service"]["Type"] == "oneshot"
    if shutil.which("systemd-analyze"):  # Debian CI has it; it is the authority on calendar syntax
        check = subprocess.run(
            ["systemd-analyze", "calendar", timer["Timer"]["OnCalendar"]], capture_output=True, text=True
        )
        assert check.returncode == 0 and "*-*-* *:00/30:00" in check.stdout
    else:
        assert timer["Timer"]["OnCalendar"] == "*:0/30"
    home = tmp_path / "home"
    fake_install(home)
    env = clean_env(
        HOME=str(home), **environment_file(service, home, {"BRAPPED_DATABASE_URL": sqlite_url, **spotify})
    )
    done = subprocess.run(exec_start(service, home), env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "sync.done" in events(done.stderr)


# --- GitHub Actions -----------------------------------------------------------------------------------


def test_github_actions_workflow(tmp_path: Path, pg_url: str, spotify: dict[str, str]) -> None:
    workflow: dict[Any, Any] = yaml.safe_load((EXAMPLES / "github-actions" / "brapped.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    [schedule] = triggers["schedule"]
    minute, *rest = schedule["cron"].split()
    assert 0 <= int(minute) <= 59 and rest == ["*", "*", "*", "*"]  # hourly
    assert set(workflow["jobs"]) == {"sync", "pages"}
    job = workflow["jobs"]["sync"]
    env = job["env"]
    for name in (
        "SPOTIFY_CLIENT_ID",
        "SPOTIFY_CLIENT_SECRET",
        "SPOTIFY_REFRESH_TOKEN",
        "BRAPPED_DATABASE_URL",
    ):
        assert env[name] == f"${{{{ secrets.{name} }}}}"
    scripts = [step["run"] for step in job["steps"] if "run" in step]
    # Not on PyPI yet: installed from where the repository variable says.
    assert any('pip install "brapped[postgres] @ ${{ vars.BRAPPED_SOURCE }}"' in s for s in scripts)
    commands = [
        line.strip() for s in scripts for line in s.splitlines() if line.strip().startswith("brapped ")
    ]
    assert commands == ["brapped db upgrade", "brapped run --once --log-format json"]

    # The job's environment with its secrets filled in: the hosted PostgreSQL is a test database.
    secrets = {**spotify, "BRAPPED_DATABASE_URL": pg_url, "BRAPPED_WEBHOOK_URL": ""}
    resolved: dict[str, str] = {}
    for name, value in env.items():
        value = re.sub(r"\$\{\{ secrets\.(\w+) \}\}", lambda m: secrets[m.group(1)], str(value))
        resolved[name] = value.replace("${{ runner.temp }}", str(tmp_path))
    run_env = clean_env(**resolved, BRAPPED_SPOTIFY_API_URL=spotify["BRAPPED_SPOTIFY_API_URL"])
    run_env["BRAPPED_SPOTIFY_ACCOUNTS_URL"] = spotify["BRAPPED_SPOTIFY_ACCOUNTS_URL"]
    for command in commands:
        done = subprocess.run(
            ["bash", "-e", "-c", command], env=run_env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{command}: {done.stderr}"
    assert count_plays(pg_url) == 50

    # The optional Pages job: off unless the repository variable says so, after the sync, and it
    # publishes the folder its command writes.
    pages = workflow["jobs"]["pages"]
    assert pages["needs"] == "sync" and pages["if"] == "${{ vars.BRAPPED_PAGES == 'true' }}"
    assert pages["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert pages["environment"]["name"] == "github-pages"
    assert "SPOTIFY_REFRESH_TOKEN" not in pages["env"]  # it reads the database only
    uses = [step["uses"] for step in pages["steps"] if "uses" in step]
    assert uses == ["actions/setup-python@v5", "actions/upload-pages-artifact@v3", "actions/deploy-pages@v4"]
    [upload] = [step for step in pages["steps"] if step.get("uses", "").startswith("actions/upload-pages")]
    page_commands = [
        line.strip()
        for step in pages["steps"]
        if "run" in step
        for line in step["run"].splitlines()
        if line.strip().startswith("brapped ")
    ]
    assert page_commands == ["brapped report wrapped --html site --format json > wrapped.json"]
    page_env = dict(run_env)
    for name, value in pages["env"].items():
        value = re.sub(r"\$\{\{ secrets\.(\w+) \}\}", lambda m: secrets[m.group(1)], str(value))
        page_env[name] = value.replace("${{ runner.temp }}", str(tmp_path))
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    if page_env.get("PYTHONPATH"):  # run from another folder: a relative entry would point elsewhere
        page_env["PYTHONPATH"] = os.pathsep.join(
            str(Path(entry).resolve()) for entry in page_env["PYTHONPATH"].split(os.pathsep)
        )
    for command in page_commands:
        done = subprocess.run(
            ["bash", "-e", "-c", command],
            env=page_env,
            cwd=workspace,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{command}: {done.stderr}"
    published = workspace / upload["with"]["path"]
    assert (published / "index.html").is_file() and (published / "assets" / "app.css").is_file()
    assert json.loads((workspace / "wrapped.json").read_text())["plays"] > 0
