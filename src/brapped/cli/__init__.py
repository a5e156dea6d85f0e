"""The `brapped` command line: global options here, one module per command group."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from brapped import __version__
from brapped.cli.context import AppContext, safe
from brapped.errors import BrappedError
from brapped.logs import mask_secrets

# Each module exposes `commands: list[click.Command]`; here, which commands each one defines, so
# that a command's module is imported only when it runs (tests/cli/test_lazy.py keeps this true).
COMMANDS = {
    "config": "config_cmd",
    "db": "db",
    "emulator": "emulator",
    "auth": "auth",
    "accounts": "accounts",
    "compare": "compare",
    "sync": "sync",
    "import": "imports",
    "enrich": "enrich",
    "status": "status",
    "report": "report",
    "search": "explore",
    "artist": "explore",
    "track": "explore",
    "serve": "serve",
    "run": "run",
    "migrate": "migrate",
    "export": "export",
    "playlist": "playlist",
    "demo": "demo",
}
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))


class BrappedGroup(click.Group):
    """Turns expected failures into one line on stderr and an exit code, never a traceback.

    Commands load on demand: `brapped report ...` never imports the dashboard, the emulator or the
    OAuth client (docs/decisions.md).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMANDS.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(f"brapped.cli.{module_name}")
        for command in module.commands:
            if command.name == cmd_name:
                return command  # type: ignore[no-any-return]
        raise AssertionError(f"brapped.cli.{module_name} defines no command {cmd_name!r}")

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrappedError as exc:
            # Masked again: a message may quote what a driver or a server said about a URL. And
            # shown as text: it may quote Spotify's own words or a name, which are not ours.
            click.echo(f"Error: {safe(mask_secrets(str(exc)))}", err=True)
            ctx.exit(exc.exit_code)
        except SQLAlchemyError as exc:  # a database fault not anticipated by the library
            orig = getattr(exc, "orig", None) or exc
            first_line = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
            click.echo(f"Error: database: {safe(mask_secrets(first_line))}", err=True)
            ctx.exit(1)


@click.group(cls=BrappedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="brapped")
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    help="Database URL (sqlite:///FILE or postgresql://...). Env: BRAPPED_DATABASE_URL.",
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the default database, config.toml, tokens and reports. Env: BRAPPED_HOME.",
)
@click.option(
    "--timezone", "timezone", metavar="ZONE", help="IANA timezone for reports. Env: BRAPPED_TIMEZONE."
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    envvar="BRAPPED_LOG_LEVEL",
    help="Log to stderr at this level (default: warning). Env: BRAPPED_LOG_LEVEL.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    db_url: str | None,
    home: Path | None,
    timezone: str | None,
    log_level: str | None,
) -> None:
    """brapped: your Spotify listening history in a database you own, and what it says about you."""
    if ctx.obj is None:
        ctx.obj = AppContext()
    app: AppContext = ctx.obj
    app.flags.update({"database_url": db_url, "timezone": timezone})
    if home is not None:
        app.home = home
    ctx.call_on_close(app.close)
    if log_level:
        from brapped.logs import configure_logging

        configure_logging(getattr(logging, log_level.upper()))


def all_commands() -> dict[str, click.Command]:
    """Every command by name, each module imported (for documentation checks)."""
    ctx = click.Context(cli)
    return {name: command for name in cli.list_commands(ctx) if (command := cli.get_command(ctx, name))}


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="brapped")
    sys.exit(0)
