from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from brapped.cli import cli
from brapped.store.schema import head_revision
from tests.store.test_schema import REQUIRED


def test_db_upgrade_then_info_json(runner: CliRunner, empty_db_url: str) -> None:
    db_url = empty_db_url
    first = runner.invoke(cli, ["--db", db_url, "db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert "already" not in first.output
    second = runner.invoke(cli, ["--db", db_url, "db", "upgrade"])
    assert second.exit_code == 0
    assert "nothing to do" in second.output
    info = runner.invoke(cli, ["--db", db_url, "db", "info", "--format", "json"])
    assert info.exit_code == 0, info.output
    data = json.loads(info.stdout)
    assert data["revision"] == head_revision()
    assert set(REQUIRED) <= set(data["tables"])
    assert all(count == 0 for count in data["tables"].values())


def test_password_is_never_printed(runner: CliRunner, pg_url: str) -> None:
    from sqlalchemy.engine import make_url

    with_password = make_url(pg_url).set(password="s3cr3t-pw").render_as_string(hide_password=False)
    # trust auth accepts any password, so this really connects
    result = runner.invoke(cli, ["--db", with_password, "db", "info", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "s3cr3t-pw" not in result.output
    assert "***" in json.loads(result.stdout)["url"]
    table = runner.invoke(cli, ["--db", with_password, "db", "info"])
    assert "s3cr3t-pw" not in table.output


def test_default_database_is_sqlite_in_home(runner: CliRunner, tmp_home: Path) -> None:
    result = runner.invoke(cli, ["db", "info", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["dialect"] == "sqlite"
    assert (tmp_home / "brapped.db").exists()


def test_bad_urls_give_one_line_and_non_zero_exit(runner: CliRunner, tmp_path: Path) -> None:
    cases = [
        "not a url",
        "mysql://root@127.0.0.1/x",
        "postgresql://postgres:hunter2@127.0.0.1:1/none",
        f"sqlite:///{tmp_path}/missing-folder/x.db",
    ]
    for url in cases:
        result = runner.invoke(cli, ["--db", url, "db", "info"])
        assert result.exit_code == 1, (url, result.output)
        assert result.stderr.startswith("Error: "), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.output
        assert "hunter2" not in result.output


MALFORMED = [
    "postgresql://u@127.0.0.1:notaport/x",
    "postgresql://u@[::1/x",
    "postgresql://u:hunter2@127.0.0.1:notaport/x",
    "postgresql://u:hunter2@[::1/x",
    "postgresql://u:hunter2@127.0.0.1:70000/x",
    "postgresql://u:hun@ter2@127.0.0.1/x",  # an unencoded @ in the password
]


def assert_one_error_line(result: Result) -> str:
    """The CLI's convention for an expected failure: one line on stderr, no traceback."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("url", MALFORMED)
@pytest.mark.parametrize(
    "command",
    [
        ["db", "info"],
        ["db", "upgrade"],
        ["status", "--format", "json"],
        ["config", "show"],
        ["report", "today"],
        ["search", "x"],
        ["run", "--once"],
        ["serve"],
    ],
    ids=lambda command: " ".join(command),
)
def test_a_malformed_url_is_one_line_for_every_command(
    runner: CliRunner, url: str, command: list[str]
) -> None:
    line = assert_one_error_line(runner.invoke(cli, ["--db", url, *command]))
    assert "hunter2" not in line and "ter2" not in line
    assert "127.0.0.1" in line or "::1" in line, line


@pytest.mark.parametrize("url", MALFORMED)
def test_a_malformed_migrate_target_is_one_line(runner: CliRunner, tmp_path: Path, url: str) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    line = assert_one_error_line(runner.invoke(cli, ["--db", source, "migrate", "--to", url]))
    assert "hunter2" not in line and "ter2" not in line
    assert "127.0.0.1" in line or "::1" in line, line
    assert not (tmp_path / "source.db").exists()  # refused before the source was opened (and created)


@pytest.mark.parametrize("flag", ["--to", "--from"])
def test_a_bad_migrate_url_creates_no_database(runner: CliRunner, tmp_home: Path, flag: str) -> None:
    target = f"sqlite:///{tmp_home / 'target.db'}"
    args = (
        ["migrate", "--to", "mysql://127.0.0.1/x"]
        if flag == "--to"
        else ["migrate", "--to", target, "--from", "nope://x"]
    )
    result = runner.invoke(cli, args)
    assert result.exit_code != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sorted(p.name for p in tmp_home.iterdir() if p.suffix == ".db") == []


@pytest.mark.parametrize("given", ["--from", "--db"])
def test_migrate_from_a_missing_sqlite_file_is_refused(runner: CliRunner, tmp_home: Path, given: str) -> None:
    """A typo in the source's path made an empty source database and the target, then said the
    source "is at schema revision none" and to run `db upgrade` on it."""
    source = f"sqlite:///{tmp_home / 'tpyo.db'}"
    target = f"sqlite:///{tmp_home / 'target.db'}"
    args = ["--db", source] if given == "--db" else []
    args += ["migrate", "--to", target, "--no-progress"]
    args += ["--from", source] if given == "--from" else []
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert result.stderr == f"Error: no database at {tmp_home / 'tpyo.db'} to copy from\n"
    assert sorted(p.name for p in tmp_home.iterdir() if p.suffix == ".db") == []


def test_a_malformed_url_names_its_problem(runner: CliRunner) -> None:
    def error(url: str) -> str:
        return runner.invoke(cli, ["--db", url, "db", "info"]).stderr.strip()

    assert "port" in error("postgresql://u@127.0.0.1:notaport/x")
    assert "]" in error("postgresql://u@[::1/x")
    assert "70000" in error("postgresql://u@127.0.0.1:70000/x")
    assert "%40" in error("postgresql://u:hun@ter2@127.0.0.1/x")
    assert "BRAPPED_DATABASE_URL" not in error("postgresql://u@[::1/x")  # it came from --db


def test_the_home_brapped_creates_is_private(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_022: None
) -> None:
    home = tmp_path / "new" / "home"
    monkeypatch.setenv("BRAPPED_HOME", str(home))
    result = runner.invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "brapped.db").stat().st_mode) == 0o600


def test_a_home_the_user_made_keeps_its_mode(runner: CliRunner, tmp_home: Path, umask_022: None) -> None:
    tmp_home.chmod(0o755)
    result = runner.invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(tmp_home.stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_home / "brapped.db").stat().st_mode) == 0o600
