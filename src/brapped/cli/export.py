"""`brapped export`: the star schema and a flat plays_wide table as files."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import click

from brapped.cli.context import AppContext, emit_json, emit_rows, pass_app
from brapped.pipeline.export import FORMATS, Format, export


@click.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="csv",
    show_default=True,
    help="File format (parquet needs the `parquet` extra: pip install 'brapped[parquet]').",
)
@click.option("--json-summary", is_flag=True, help="Print the files written as JSON instead of a table.")
@pass_app
def export_command(app: AppContext, directory: Path, fmt: str, json_summary: bool) -> None:
    """Write every star-schema table and plays_wide into DIRECTORY, one file each.

    plays_wide has one row per play with track, album, main artist, featured artists (a list) and
    the local time in the configured timezone. Existing files of the same names are replaced.
    """
    result = export(app.store(), directory, cast(Format, fmt), app.clock, app.settings.tz)
    rows = [{"file": name, "rows": count} for name, count in result.files.items()]
    if json_summary:
        emit_json(app, {"directory": str(result.directory), "format": result.format, "files": result.files})
        return
    emit_rows(app, "table", rows, ["file", "rows"], title=f"Exported to {result.directory}")


commands: list[click.Command] = [export_command]
