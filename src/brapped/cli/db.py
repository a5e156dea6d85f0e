"""`brapped db`: schema upgrades and what is in the database."""

from __future__ import annotations

import click

from brapped.cli.context import AppContext, emit_json, emit_rows, format_option, pass_app


@click.group("db")
def db_group() -> None:
    """Create, upgrade and inspect the database."""


@db_group.command("upgrade")
@pass_app
def upgrade_command(app: AppContext) -> None:
    """Create the tables, or apply the migrations this version of brapped needs."""
    store = app.store(migrate=False)
    before, after = store.upgrade()
    if before == after:
        click.echo(f"{store.url}: schema already at revision {after}; nothing to do.")
    else:
        click.echo(f"{store.url}: schema upgraded from {before or 'empty'} to {after}.")


@db_group.command("info")
@format_option
@pass_app
def info_command(app: AppContext, fmt: str) -> None:
    """Database URL (password masked), schema revision and the row count of every data table
    (not of the summaries and caches brapped derives from them)."""
    info = app.store().info()
    if fmt == "json":
        emit_json(
            app,
            {
                "url": info.url,
                "dialect": info.dialect,
                "revision": info.revision,
                "head": info.head,
                "up_to_date": info.up_to_date,
                "tables": info.tables,
            },
        )
        return
    rows = [{"table": name, "rows": count} for name, count in info.tables.items()]
    if fmt == "table":
        state = "up to date" if info.up_to_date else f"needs `brapped db upgrade` (head {info.head})"
        app.out.print(f"database: {info.url}", markup=False, highlight=False)
        app.out.print(f"schema:   {info.revision or 'empty'} ({state})", markup=False, highlight=False)
    emit_rows(app, fmt, rows, ["table", "rows"])


commands: list[click.Command] = [db_group]
