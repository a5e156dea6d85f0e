"""`brapped migrate`: copy the database to another one (SQLite <-> PostgreSQL), then verify."""

from __future__ import annotations

from pathlib import Path

import click

from brapped.cli.context import AppContext, emit_json, emit_rows, format_option, pass_app, plain
from brapped.cli.progress import stage_bars
from brapped.errors import BrappedError
from brapped.pipeline.copy_database import TransferResult, copy_database
from brapped.store import open_store
from brapped.store.engine import parse_url


class VerificationFailed(BrappedError):
    """The copy finished but a table's rows differ between source and target."""

    exit_code = 2


@click.command("migrate")
@click.option("--to", "to_url", required=True, metavar="URL", help="Target database URL (created/upgraded).")
@click.option(
    "--from",
    "from_url",
    metavar="URL",
    help="Source database URL (default: the configured database, see --db).",
)
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1), help="Rows per batch.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
@format_option
@pass_app
def migrate_command(
    app: AppContext, to_url: str, from_url: str | None, batch_size: int, progress: bool, fmt: str
) -> None:
    """Copy every table to another database, then verify row counts and checksums.

    The target's schema is upgraded first. Rows already in the target are skipped, so an interrupted
    migrate is resumed by running the same command again. The verification is printed and stored in
    the target's `runs` table (kind `migrate`). Exit code 2 when verification fails.
    """
    # Both URLs are read before either database is opened: a typo in --to must not leave a new,
    # empty source database behind.
    parse_url(to_url)
    _refuse_missing_file(from_url or app.settings.db_url)
    source = open_store(from_url, migrate=False) if from_url else app.store(migrate=False)
    target = open_store(to_url, migrate=False)
    try:
        if progress:
            with stage_bars(app, label="{task.description:<15}", transient=False) as update:

                def report(table: str, done: int, total: int) -> None:
                    # An empty table shows as done (1/1) rather than 0/0.
                    update(table, done if total else 1, total or 1)

                result = copy_database(source, target, app.clock, batch_size=batch_size, progress=report)
        else:
            result = copy_database(source, target, app.clock, batch_size=batch_size)
    finally:
        if from_url:
            source.close()
        target.close()
    for warning in result.warnings:
        click.echo(f"Warning: {warning}", err=True)
    _show(app, fmt, result)
    if not result.ok:
        bad = ", ".join(c.table for c in result.tables if not c.ok)
        raise VerificationFailed(f"verification failed for: {bad} (see runs id {result.run_id})")


def _refuse_missing_file(url: str) -> None:
    """A source SQLite file that is not there is a typo: opening it would create an empty one (and
    then the target) only to say its schema is missing."""
    parsed = parse_url(url)
    database = str(parsed.database or "")
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return
    path = Path(database).expanduser()
    if not path.exists():
        raise BrappedError(f"no database at {path} to copy from")


def _show(app: AppContext, fmt: str, result: TransferResult) -> None:
    if fmt == "json":
        emit_json(app, {**result.counts(), "run_id": result.run_id})
        return
    rows = [
        {
            "table": c.table,
            "copied": c.copied,
            "source_rows": c.source_rows,
            "target_rows": c.target_rows,
            "checksum": c.source_checksum[:12],
            "verified": "ok" if c.ok else "MISMATCH",
        }
        for c in result.tables
    ]
    if fmt == "table":
        app.out.print(plain(f"{result.source} -> {result.target}"))
    emit_rows(app, fmt, rows)
    if fmt == "table":
        state = "verified" if result.ok else "NOT verified"
        app.out.print(plain(f"{result.copied:,} rows copied, {state} (run {result.run_id})."))


commands: list[click.Command] = [migrate_command]
