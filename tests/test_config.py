from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from brapped.cli import cli
from brapped.config import ConfigError, load_settings, mask_url


def test_precedence_flag_env_file_default(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('timezone = "Asia/Tokyo"\nretry_after_cap = 5\nclient_id = "f"\n')
    env = {"BRAPPED_TIMEZONE": "Europe/Berlin", "SPOTIFY_CLIENT_ID": "from-env"}
    settings = load_settings({"timezone": "America/New_York"}, env=env, home=tmp_path)
    assert (settings.tz, settings.sources["timezone"]) == ("America/New_York", "flag")
    assert (settings.client_id, settings.sources["client_id"]) == ("from-env", "env")
    assert (settings.retry_after_cap, settings.sources["retry_after_cap"]) == (5, "config")
    assert (settings.session_gap_minutes, settings.sources["session_gap_minutes"]) == (30, "default")
    assert settings.sources["home"] == "flag"


def test_bad_config_file_and_values_are_reported(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("timezone = ")
    with pytest.raises(ConfigError, match=r"config\.toml"):
        load_settings({}, env={}, home=tmp_path)
    (tmp_path / "config.toml").write_text('colour = "blue"\n')
    with pytest.raises(ConfigError, match="colour"):
        load_settings({}, env={}, home=tmp_path)
    (tmp_path / "config.toml").write_text("")
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        load_settings({"timezone": "Mars/Olympus"}, env={}, home=tmp_path)


def test_config_show_masks_secrets(
    runner: CliRunner, tmp_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "supersecretvalue123")
    monkeypatch.setenv("BRAPPED_DATABASE_URL", "postgresql://u:dbpassword@127.0.0.1/x")
    result = runner.invoke(cli, ["config", "show", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "supersecretvalue123" not in result.output and "dbpassword" not in result.output
    data = json.loads(result.stdout)
    assert data["client_secret"]["source"] == "env"
    assert data["home"] == {"value": str(tmp_home), "source": "env"}
    table = runner.invoke(cli, ["config", "show"])
    assert "supersecretvalue123" not in table.output


def test_every_command_has_help(runner: CliRunner) -> None:
    import click

    def walk(command: click.Command, path: list[str]) -> list[list[str]]:
        found = [path]
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                found += walk(sub, [*path, name])
        return found

    for path in walk(cli, []):
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        command = cli
        for name in path:
            assert isinstance(command, click.Group)
            command = command.commands[name]
        assert (command.help or "").strip(), f"`brapped {' '.join(path)}` has no help text"


# Every way a database password can be written (libpq reads them all), and where it must not show.
PASSWORD_FORMS = [
    # (URL or DSN, the secret, what must still show)
    ("postgresql://u:s3cretPW@db.example:5432/brapped", "s3cretPW", "db.example:5432/brapped"),
    ("postgresql://u@db.example/brapped?password=s3cretPW", "s3cretPW", "db.example/brapped"),
    ("postgresql://u@db.example/brapped?sslmode=bogus&password=s3cretPW&x=1", "s3cretPW", "sslmode=bogus"),
    ("postgresql://u@db.example/brapped?PASSWORD=s3cretPW", "s3cretPW", "db.example/brapped"),
    ("postgresql://u@db.example/brapped?sslpassword=s3cretPW", "s3cretPW", "db.example/brapped"),
    ("postgresql://u@db.example/brapped?pgpassword=s3cretPW", "s3cretPW", "db.example/brapped"),
    ("postgresql://u:s3c@retPW@db.example/brapped", "retPW", "db.example/brapped"),
    ("postgresql://u:s3c@retPW@db.example/brapped", "s3c", "db.example/brapped"),
    ("postgresql://u:s3c?retPW@db.example/brapped", "retPW", "db.example/brapped"),
    ("postgresql://u:s3c/retPW@db.example/brapped", "retPW", "db.example/brapped"),
    ("postgresql://u:s3cretPW@[::1/brapped", "s3cretPW", "::1/brapped"),
    ("postgresql://u:s3cretPW@db.example:notaport/brapped", "s3cretPW", "db.example:notaport/brapped"),
    ("postgresql+psycopg://u:s3cret%40PW@db.example/brapped", "s3cret", "db.example/brapped"),
    ("host=db.example user=u password=s3cretPW dbname=brapped", "s3cretPW", "dbname=brapped"),
    ("host=db.example password='s3cret PW' dbname=brapped", "s3cret", "dbname=brapped"),
    ("host=db.example password = s3cretPW dbname=brapped", "s3cretPW", "dbname=brapped"),
]


@pytest.mark.parametrize(("url", "secret", "shown"), PASSWORD_FORMS)
def test_mask_url_hides_every_form_of_password(url: str, secret: str, shown: str) -> None:
    masked = mask_url(url)
    assert secret not in masked
    assert "***" in masked
    assert shown in masked


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////home/me/.local/share/brapped/brapped.db",
        "sqlite:////tmp/a@b/brapped.db",
        "postgresql://u@db.example:5432/brapped?sslmode=require",
        "postgresql://u@db.example/brapped?application_name=a@b",
        "https://api.spotify.com/v1/me/player/recently-played?limit=50",
    ],
)
def test_mask_url_leaves_urls_without_a_password_alone(url: str) -> None:
    assert mask_url(url) == url


@pytest.mark.parametrize(("url", "secret", "shown"), PASSWORD_FORMS)
def test_config_show_never_shows_a_database_password(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, url: str, secret: str, shown: str
) -> None:
    """Shown masked when the URL is usable, named in a one-line error when it is not."""
    monkeypatch.setenv("BRAPPED_DATABASE_URL", url)
    for fmt in ("json", "table"):
        result = runner.invoke(cli, ["config", "show", "--format", fmt])
        assert "Traceback" not in result.output
        assert secret not in result.stdout + result.stderr
        if fmt == "json":
            assert shown in result.stdout + result.stderr
        if result.exit_code != 0:
            assert result.stderr.startswith("Error: database_url from BRAPPED_DATABASE_URL: ")
            assert len(result.stderr.strip().splitlines()) == 1


def test_musicbrainz_settings(tmp_path: Path) -> None:
    from brapped.musicbrainz import user_agent

    defaults = load_settings(env={}, home=tmp_path)
    assert defaults.musicbrainz is True and defaults.musicbrainz_url == "https://musicbrainz.org/ws/2"
    assert user_agent(defaults.musicbrainz_contact) == "brapped/0.1.0 ( https://github.com/brapped/brapped )"
    assert load_settings(env={"BRAPPED_MUSICBRAINZ": "false"}, home=tmp_path).musicbrainz is False
    (tmp_path / "config.toml").write_text('musicbrainz = false\nmusicbrainz_contact = "me@example.com"\n')
    configured = load_settings(env={}, home=tmp_path)
    assert configured.musicbrainz is False and configured.sources["musicbrainz"] == "config"
    assert user_agent(configured.musicbrainz_contact) == "brapped/0.1.0 ( me@example.com )"
    with pytest.raises(ConfigError, match=r"musicbrainz .* must be true or false"):
        load_settings(env={"BRAPPED_MUSICBRAINZ": "maybe"}, home=tmp_path)
