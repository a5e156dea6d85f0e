"""`brapped config`: the effective settings and where each came from."""

from __future__ import annotations

import click

from brapped.cli.context import AppContext, emit_rows, format_option, pass_app


@click.group("config")
def config_group() -> None:
    """Show brapped's settings (flag > environment > config file > default)."""


@config_group.command("show")
@format_option
@pass_app
def show_command(app: AppContext, fmt: str) -> None:
    """Print every setting, its value (secrets masked) and its source."""
    settings = app.settings
    rows = [{"setting": n, "value": v, "source": s} for n, v, s in settings.shown()]
    if fmt == "json":
        emit_rows(
            app,
            fmt,
            rows,
            json_data={r["setting"]: {"value": r["value"], "source": r["source"]} for r in rows},
        )
        return
    if fmt == "table":
        missing = "" if settings.config_file.exists() else " (none yet)"
        app.out.print(f"config file: {settings.config_file}{missing}", markup=False, highlight=False)
    emit_rows(app, fmt, rows, ["setting", "value", "source"])


commands: list[click.Command] = [config_group]
