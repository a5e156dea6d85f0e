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
from brapped.cli.context import AppContext
from brapped.errors import BrappedError

# Each module exposes `commands: list[click.Command]`.
COMMAND_MODULES = (
    "config_cmd",
    "db",
    "emulator",
    "auth",
    "sync",
    "imports",
    "enrich",
    "status",
    "report",
    "explore",
    "serve",
    "run",
    "migrate",
    "export",
    "demo",
)


class BrappedGroup(click.Group):
    """Turns expected failures into one line on stderr and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrappedError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except SQLAlchemyError as exc:  # a database fault not anticipated by the library
            orig = getattr(exc, "orig", None) or exc
            first_line = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
            click.echo(f"Error: database: {first_line}", err=True)
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


for _name in COMMAND_MODULES:
    _module = importlib.import_module(f"brapped.cli.{_name}")
    for _command in _module.commands:
        cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="brapped")
    sys.exit(0)
