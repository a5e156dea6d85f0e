"""`brapped config show` (brapped.cli.config_cmd): settings as config.toml writes them."""

from __future__ import annotations

import csv
import io
import tomllib
from pathlib import Path

from click.testing import CliRunner

from brapped.cli import cli


def test_a_switch_is_shown_as_config_toml_writes_it(runner: CliRunner, tmp_home: Path) -> None:
    """`musicbrainz` showed as Python's "True", which config.toml refuses; README says true|false."""
    (tmp_home / "config.toml").write_text("musicbrainz = false\n")
    env = {"BRAPPED_MUSICBRAINZ": None}  # the tests' own setting: the file's is shown
    result = runner.invoke(cli, ["--home", str(tmp_home), "config", "show", "--format", "csv"], env=env)
    assert result.exit_code == 0, result.stderr
    rows = {r["setting"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert (rows["musicbrainz"]["value"], rows["musicbrainz"]["source"]) == ("false", "config")
    # What is shown can be written back.
    assert tomllib.loads(f"musicbrainz = {rows['musicbrainz']['value']}") == {"musicbrainz": False}
    table = runner.invoke(cli, ["--home", str(tmp_home), "config", "show"], env={**env, "COLUMNS": "100"})
    assert table.exit_code == 0, table.stderr
    line = next(x for x in table.stdout.splitlines() if "│ musicbrainz " in x)
    assert [c.strip() for c in line.strip("│").split("│")] == ["musicbrainz", "false", "config"]


def test_the_table_says_whether_the_config_file_is_there(runner: CliRunner, tmp_home: Path) -> None:
    # "config file: HOME/config.toml" read as if it were being read when there was none.
    args = ["--home", str(tmp_home), "config", "show"]
    missing = runner.invoke(cli, args)
    assert missing.exit_code == 0, missing.stderr
    assert missing.stdout.splitlines()[0] == f"config file: {tmp_home / 'config.toml'} (none yet)"
    (tmp_home / "config.toml").write_text("enrich_budget = 10\n")
    present = runner.invoke(cli, args)
    assert present.stdout.splitlines()[0] == f"config file: {tmp_home / 'config.toml'}"
