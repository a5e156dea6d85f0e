"""`brapped serve` refuses a dashboard token too short to keep the dashboard private."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from brapped.cli import cli
from brapped.web.security import MIN_TOKEN_LENGTH


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """uvicorn.Server.run replaced by a recorder of the socket it was given: the command returns
    instead of serving."""
    import uvicorn

    calls: list[dict[str, Any]] = []

    def record(server: Any, sockets: list[socket.socket] | None = None) -> None:
        assert sockets is not None and len(sockets) == 1
        host, port = sockets[0].getsockname()[:2]
        calls.append({"app": server.config.app, "host": host, "port": port})

    monkeypatch.setattr(uvicorn.Server, "run", record)
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
    result = runner.invoke(cli, ["serve", "--host", host, "--port", "0"])
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
    result = runner.invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert served[0]["host"] == "0.0.0.0"


@pytest.mark.parametrize(("host", "url"), [("::1", "http://[::1]:"), ("127.0.0.1", "http://127.0.0.1:")])
def test_serve_prints_the_dashboard_address_as_text(
    runner: CliRunner,
    tmp_home: Path,
    served: list[dict[str, Any]],
    host: str,
    url: str,
) -> None:
    """An IPv6 address is bracketed in the URL; Rich must not eat the brackets as markup. Port 0
    takes a free port, and the address printed is the one really listened on."""
    result = runner.invoke(cli, ["serve", "--host", host, "--port", "0"])
    assert result.exit_code == 0, result.output
    assert served[0]["host"] == host and served[0]["port"] > 0
    assert f"{url}{served[0]['port']}/" in result.stderr, result.stderr


def test_serve_on_a_busy_port_is_one_line_of_error(runner: CliRunner, tmp_home: Path) -> None:
    """Before: the address was printed, then uvicorn's own error; nothing is printed as served now,
    and the database is not opened."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(cli, ["serve", "--port", str(port)])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot listen on http://127.0.0.1:{port}/: Address already in use"
    ]
    assert not (tmp_home / "brapped.db").exists()
