"""`brapped accounts remove`: what it says it did is what it did, for authorised and import-only users."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import insert

from brapped.cli import cli
from brapped.spotify.auth import TokenSet, TokenStore
from brapped.store import open_store, tables

AT = datetime(2025, 3, 1, 12, tzinfo=UTC)


def _household(home: Path) -> str:
    """ana is authorised (a token file) with one play; cy is import-only with two plays."""
    url = f"sqlite:///{home / 'brapped.db'}"
    store = open_store(url)
    with store.begin() as conn:
        conn.execute(insert(tables.tracks), [{"id": "t1", "name": "One"}])
        conn.execute(
            insert(tables.plays),
            [
                {"user_id": user, "track_id": "t1", "played_at": AT.replace(minute=m), "source": "export"}
                for user, m in [("ana", 0), ("cy", 1), ("cy", 2)]
            ],
        )
    store.close()
    TokenStore(home / "tokens" / "ana.json").save(
        TokenSet(client_id="app", refresh_token="refresh", issued_at=AT, user_id="ana")
    )
    return url


def _plays(runner: CliRunner, url: str) -> dict[str, int]:
    result = runner.invoke(cli, ["--db", url, "accounts", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    return {row["id"]: row["plays"] for row in json.loads(result.stdout)}


def test_removing_an_import_only_listener_says_nothing_was_removed(runner: CliRunner, tmp_home: Path) -> None:
    url = _household(tmp_home)
    result = runner.invoke(cli, ["--db", url, "accounts", "remove", "cy"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "Nothing to remove: cy has no tokens, so brapped does not sync it; its plays stay "
        "(add --delete-plays to delete them).\n"
    )
    assert _plays(runner, url) == {"ana": 1, "cy": 2}
    result = runner.invoke(cli, ["--db", url, "accounts", "remove", "cy", "--delete-plays"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Removed cy: 2 plays deleted.\n"
    assert _plays(runner, url) == {"ana": 1}


def test_removing_an_authorised_account_deletes_its_tokens_once(runner: CliRunner, tmp_home: Path) -> None:
    url = _household(tmp_home)
    result = runner.invoke(cli, ["--db", url, "accounts", "remove", "ana"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Removed ana: 1 token file deleted.\n"
    assert not (tmp_home / "tokens" / "ana.json").exists()
    assert _plays(runner, url) == {"ana": 1, "cy": 2}
    again = runner.invoke(cli, ["--db", url, "accounts", "remove", "ana"])
    assert again.exit_code == 0, again.stderr
    assert again.stdout.startswith("Nothing to remove: ana has no tokens")


def test_the_accounts_table_shows_whole_ids_in_80_columns(runner: CliRunner, tmp_home: Path) -> None:
    """Spotify user ids run to 28 characters; the table's other columns give way, not the id you
    type into --user and compare."""
    url = f"sqlite:///{tmp_home / 'brapped.db'}"
    store = open_store(url)
    long_id = "kw8ljklo3xq2zj5v9m1b7c4d6e0f"
    with store.begin() as conn:
        conn.execute(insert(tables.tracks), [{"id": "t1", "name": "One"}])
        conn.execute(
            insert(tables.plays),
            [{"user_id": long_id, "track_id": "t1", "played_at": AT, "source": "export"}],
        )
    store.close()
    result = runner.invoke(cli, ["--db", url, "accounts"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.stderr
    assert long_id in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_the_accounts_table_says_what_each_account_needs_in_80_columns(
    runner: CliRunner, tmp_home: Path
) -> None:
    url = _household(tmp_home)
    result = runner.invoke(
        cli, ["--db", url, "--timezone", "UTC", "accounts"], env={"COLUMNS": "80"}, terminal_width=80
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    text = " ".join(" ".join(c.strip() for c in line.split("│") if c.strip()) for line in lines)
    # ana's refresh token was issued at AT: Spotify's refresh tokens last six months.
    expires = TokenSet(client_id="app", refresh_token="r", issued_at=AT).refresh_expires_at
    assert f"ana 1 ok, tokens until {expires:%Y-%m-%d}" in text
    assert "cy 2 import-only" in text
    assert "…" not in result.stdout  # nothing cut short


def test_no_accounts_says_how_to_add_one(runner: CliRunner, tmp_home: Path) -> None:
    url = f"sqlite:///{tmp_home / 'brapped.db'}"
    result = runner.invoke(cli, ["--db", url, "accounts"])
    assert result.exit_code == 0, result.stderr
    hint = "No accounts yet: `brapped auth` adds one, `brapped import` a listener's export."
    assert result.stdout == hint + "\n"
    result = runner.invoke(cli, ["--db", url, "accounts", "--format", "csv"])
    assert result.stdout.splitlines() == [
        "id,display_name,kind,token_expires_at,last_sync,plays,episode_plays,status"
    ]
