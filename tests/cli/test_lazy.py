"""The CLI imports a command's module only when that command runs, and the map of commands is true."""

from __future__ import annotations

import importlib
import subprocess
import sys

from brapped.cli import COMMAND_MODULES, COMMANDS, all_commands


def test_the_command_map_matches_what_each_module_defines() -> None:
    defined = {
        command.name: module
        for module in COMMAND_MODULES
        for command in importlib.import_module(f"brapped.cli.{module}").commands
    }
    assert defined == COMMANDS
    assert sorted(all_commands()) == sorted(COMMANDS)


def test_a_report_does_not_import_the_dashboard_emulator_or_oauth() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from brapped.cli import cli\n"
        "result = CliRunner().invoke(cli, ['report', 'wrapped', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "roots = ('brapped', 'fastapi', 'authlib', 'alembic')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in roots))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for heavy in ("brapped.web", "brapped.emulator", "brapped.spotify", "fastapi", "authlib", "alembic"):
        assert f"'{heavy}'" not in loaded, f"{heavy} imported by `brapped report wrapped --help`"
    assert "'brapped.cli.report'" in loaded
