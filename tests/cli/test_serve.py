"""`brapped serve` refuses a dashboard token too short to keep the dashboard private."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from brapped.cli import cli
from brapped.web.security import MIN_TOKEN_LENGTH


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """uvicorn.run replaced by a recorder: the command returns instead of serving."""
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    return calls


@pytest.mark.parametrize("token", ["x", "0123456789abcde"])
@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1"])
def test_serve_refuses_a_short_token(
    runner: CliRunner,
    tmp_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    served: list[dict[str, Any]],
    token: str,
    host: str,
) -> None:
    monkeypatch.setenv("BRAPPED_DASHBOARD_TOKEN", token)
    result = runner.invoke(cli, ["serve", "--host", host])
    assert result.exit_code == 2, result.output
    assert served == []
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"at least {MIN_TOKEN_LENGTH} characters" in result.stderr
    assert "BRAPPED_DASHBOARD_TOKEN" in result.stderr
    assert f"={token}" not in result.stderr and f"'{token}'" not in result.stderr
    assert not (tmp_home / "brapped.db").exists()  # refused before the database was opened


def test_serve_accepts_a_token_of_the_minimum_length(
    runner: CliRunner, tmp_home: Path, monkeypatch: pytest.MonkeyPatch, served: list[dict[str, Any]]
) -> None:
    assert MIN_TOKEN_LENGTH == 16
    monkeypatch.setenv("BRAPPED_DASHBOARD_TOKEN", "0123456789abcdef")
    result = runner.invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 0, result.output
    assert served[0]["host"] == "0.0.0.0"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("::1", "http://[::1]:8765/"),
        ("fe80::1", "http://[fe80::1]:8765/"),
        ("127.0.0.1", "http://127.0.0.1:8765/"),
    ],
)
def test_serve_prints_the_dashboard_address_as_text(
    runner: CliRunner,
    tmp_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    served: list[dict[str, Any]],
    host: str,
    url: str,
) -> None:
    """An IPv6 address is bracketed in the URL; Rich must not eat the brackets as markup."""
    if host != "127.0.0.1":
        monkeypatch.setenv("BRAPPED_DASHBOARD_TOKEN", "0123456789abcdef")
    result = runner.invoke(cli, ["serve", "--host", host])
    assert result.exit_code == 0, result.output
    assert url in result.stderr, result.stderr
    assert served[0]["host"] == host
