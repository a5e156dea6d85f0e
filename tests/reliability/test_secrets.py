"""Secrets: after a full run at debug level, no credential anywhere but the 0600 token file.

Every secret the emulated Spotify hands out (authorisation codes, access and refresh tokens across
rotations) and every secret configured (dashboard token, webhook URL) is collected from the
emulator's side of the wire, then searched for in every command's output and log, in every table
of the database, and in every file brapped wrote.
"""

from __future__ import annotations

import json
import stat
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from brapped.cli import cli
from brapped.cli.context import AppContext
from brapped.config import load_settings
from brapped.emulator import DEFAULT_CLIENT_ID, EmulatedClock, Emulator, Fault, serve_in_thread, write_export
from brapped.spotify import TokenSet, TokenStore, authorise
from brapped.store import open_store, tables
from tests.reliability.conftest import START

DASHBOARD_TOKEN = "dash-7f3a9c1e5b2d4f60a8e1"
WEBHOOK = "https://hooks.example.invalid/services/T000/B000/XsecretX9a8b7c6d"


class Wiretap:
    """Wraps the emulator's dispatch to note every credential crossing the wire."""

    def __init__(self, emu: Emulator) -> None:
        self.secrets: set[str] = set()
        real = emu.dispatch

        def dispatch(
            method: str, path: str, query: str, authorization: str | None, body: bytes, base: str
        ) -> Any:
            reply = real(method, path, query, authorization, body, base)
            form = dict(parse_qsl(body.decode("utf-8", "replace")))
            for key in ("code", "code_verifier", "refresh_token"):
                if form.get(key):
                    self.secrets.add(form[key])
            if isinstance(reply.json, dict):
                for key in ("access_token", "refresh_token"):
                    if reply.json.get(key):
                        self.secrets.add(str(reply.json[key]))
            location = reply.headers.get("location") or reply.headers.get("Location")
            if location:
                code = dict(parse_qsl(urlsplit(location).query)).get("code")
                if code:
                    self.secrets.add(code)
            return reply

        emu.dispatch = dispatch  # type: ignore[method-assign]


@pytest.fixture
def tapped() -> Iterator[tuple[Emulator, str, Wiretap]]:
    emu = Emulator(seed=17, clock=EmulatedClock(START))
    tap = Wiretap(emu)
    with serve_in_thread(emu) as url:
        yield emu, url, tap


def _browser(url: str) -> None:
    """The user's browser: Spotify approves and redirects to brapped's loopback server."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as answer:
        answer.read()


def test_no_secret_in_any_output_log_table_or_file(
    db_url: str, tmp_path: Path, tapped: tuple[Emulator, str, Wiretap]
) -> None:
    emu, url, tap = tapped
    home = tmp_path / "home"
    env = {
        "BRAPPED_HOME": str(home),
        "BRAPPED_DATABASE_URL": db_url,
        "BRAPPED_TIMEZONE": "UTC",
        "SPOTIFY_CLIENT_ID": DEFAULT_CLIENT_ID,
        "BRAPPED_SPOTIFY_API_URL": f"{url}/v1",
        "BRAPPED_SPOTIFY_ACCOUNTS_URL": url,
        "BRAPPED_DASHBOARD_TOKEN": DASHBOARD_TOKEN,
        "BRAPPED_WEBHOOK_URL": WEBHOOK,
    }
    settings = load_settings(env=env)
    auth = authorise(settings, emu.clock, _browser, port=0, timeout=30)
    assert auth.pkce

    runner = CliRunner()
    outputs: list[str] = []

    def brapped(*args: str) -> None:
        result = runner.invoke(cli, ["--log-level", "debug", *args], env=env, obj=AppContext(clock=emu.clock))
        outputs.append(result.stdout + result.stderr)
        assert result.exit_code == 0, result.stdout + result.stderr

    for round_ in range(4):
        emu.clock.advance(timedelta(hours=2))  # the access token expires: a refresh and a rotation
        if round_ == 1:
            emu.faults.add(Fault("401", path="/v1/me/player/recently-played"))  # refresh once more
        if round_ == 2:
            emu.faults.add(Fault("5xx", path="/api/token", status=503))  # the refresh is retried
        brapped("sync")
        brapped("sync", "--format", "json")
    export = write_export(emu, tmp_path / "export", START - timedelta(days=7), START, formats=("extended",))
    brapped("import", str(export))
    brapped("enrich", "--resolve", "--max-calls", "15")
    brapped("status")
    brapped("status", "--format", "json")
    brapped("config", "show")
    brapped("report", "today")

    token_file = home / "token.json"
    saved = json.loads(token_file.read_text())
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert saved["refresh_token"] in tap.secrets  # the tap saw what brapped keeps
    assert len({s for s in tap.secrets if s != saved["refresh_token"]}) >= 10  # codes, rotations...
    secrets = tap.secrets | {DASHBOARD_TOKEN, WEBHOOK, "XsecretX9a8b7c6d"}

    haystacks: dict[str, str] = {f"output {i}": text for i, text in enumerate(outputs)}
    store = open_store(db_url, migrate=False)
    try:
        with store.connect() as conn:
            for table in tables.TABLES_IN_ORDER:
                rows = conn.execute(select(table)).all()
                haystacks[f"table {table.name}"] = "\n".join(repr(tuple(r)) for r in rows)
    finally:
        store.close()
    for path in sorted(home.rglob("*")):
        if path.is_file() and path != token_file:
            haystacks[str(path)] = path.read_bytes().decode("utf-8", "replace")
    assert any("DEBUG" in text for text in outputs), "debug logging did not run"

    def leaks(places: dict[str, str]) -> list[tuple[str, str]]:
        return sorted({(where, s[:6] + "…") for where, text in places.items() for s in secrets if s in text})

    assert leaks({"the token file": token_file.read_text()}), "the search would not find a secret"
    assert leaks(haystacks) == []


def _with_password(pg_url: str, form: str) -> str:
    """The test database's URL with the password written in one of the ways libpq accepts."""
    scheme, rest = pg_url.split("://", 1)
    return {
        "userinfo": f"{scheme}://{rest.replace('@', ':pw4Alpha-pw4Omega@', 1)}",
        "query": f"{pg_url}?password=pw4Alpha-pw4Omega",
        "sslpassword": f"{pg_url}?sslpassword=pw4Alpha-pw4Omega",
        "unencoded @": f"{scheme}://{rest.replace('@', ':pw4Alpha@pw4Omega@', 1)}",
        "bad sslmode": f"{pg_url}?password=pw4Alpha-pw4Omega&sslmode=bogus",
        "PGPASSWORD key": f"{pg_url}?PGPASSWORD=pw4Alpha-pw4Omega",
    }[form]


@pytest.mark.parametrize(
    "form", ["userinfo", "query", "sslpassword", "unencoded @", "bad sslmode", "PGPASSWORD key"]
)
def test_no_database_password_in_any_command_output(runner: CliRunner, pg_url: str, form: str) -> None:
    """However the password is written, no command shows it, in its output, errors or debug log;
    each still shows which host and database it means."""
    url = _with_password(pg_url, form)
    database = pg_url.rsplit("/", 1)[1]
    commands = [
        ["db", "info"],
        ["db", "info", "--format", "json"],
        ["db", "upgrade"],
        ["status", "--format", "json"],
        ["config", "show", "--format", "json"],
        ["config", "show"],  # a table: the URL may be cut short, never shown with its password
    ]
    for command in commands:
        result = runner.invoke(cli, ["--log-level", "debug", "--db", url, *command])
        shown = result.stdout + result.stderr
        assert "Traceback" not in shown, (command, shown)
        assert "pw4Alpha" not in shown and "pw4Omega" not in shown, (form, command, shown)
        if command != ["config", "show"]:
            assert "127.0.0.1" in shown and database in shown, (form, command, shown)


def test_the_home_the_first_auth_creates_is_private(tmp_path: Path, umask_022: None) -> None:
    """`brapped auth` is usually the first command: the home it creates for the tokens is 0700."""
    home = tmp_path / "new" / "home"
    tokens = TokenStore(home / "token.json")
    tokens.save(TokenSet(client_id="cid", refresh_token="AQ-refresh", issued_at=START))
    with tokens.locked():
        pass
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in home.iterdir()} == {0o600}
