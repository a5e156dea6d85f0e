"""`brapped import`: load Spotify's "Download your data" files (zip, folder or single files)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from brapped.cli.context import AppContext, emit_json, pass_app, plain, safe, summary_format_option
from brapped.cli.progress import progress_bar
from brapped.pipeline.import_report import ImportResult, Progress
from brapped.pipeline.importing import import_paths


@contextmanager
def _progress_bar(app: AppContext) -> Iterator[Progress | None]:
    """A Rich progress bar on a terminal; nothing at all otherwise (pipes, CI, tests)."""
    if not sys.stderr.isatty():
        yield None
        return
    with progress_bar(app, label="importing", suffix="{task.description}") as bar:
        task = bar.add_task("", total=None)

        def update(done: int, total: int, name: str) -> None:
            short = name.replace("\\", "/").rsplit("/", 1)[-1]
            bar.update(task, completed=done, total=total, description=safe(short))

        yield update


def _summary(result: ImportResult) -> dict[str, Any]:
    return {
        "user_id": result.user_id,
        "user_source": result.user_source,
        "run_id": result.run_id,
        "ok": result.ok,
        "error": result.error,
        "totals": result.totals(),
        "warnings": result.warnings,
        "files": [
            {
                "name": f.name,
                "status": f.status,
                "format": f.format,
                "records": f.records,
                "new": f.new,
                "known": f.known,
                "merged": f.merged,
                "replaced": f.replaced,
                "skipped": f.skipped,
                "message": f.message,
            }
            for f in result.files
        ],
    }


def _print_table(app: AppContext, result: ImportResult) -> None:
    totals = result.totals()
    out = app.out
    for warning in result.warnings:
        app.err.print(plain(f"warning: {warning}"))
    out.print(plain(f"Imported for user {result.user_id} ({result.user_source})"))
    out.print(
        f"files read: {totals['files_read']:,}   failed: {totals['files_failed']:,}   "
        f"not history: {totals['files_skipped']:,}"
    )
    out.print(
        f"plays new: {totals['new']:,}   already known: {totals['known']:,}   "
        f"merged with synced: {totals['merged']:,}   replaced account-data: {totals['replaced']:,}"
    )
    if totals["skipped"]:
        out.print("skipped records:")
        for reason, count in totals["skipped"].items():
            out.print(plain(f"  {count:,}  {reason}"))
    if totals["gaps_filled"]:
        out.print(f"sync gaps filled: {totals['gaps_filled']:,}")
    not_history = [f for f in result.files if f.status == "skipped"]
    if not_history:
        out.print("not listening history (skipped):")
        for f in not_history:
            out.print(plain(f"  {f.name} ({f.message})"))
    for message in result.errors:
        app.err.print(plain(f"Error: {message}"))


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--user", "user_id", metavar="ID", help="Spotify user id the plays belong to.")
@click.option(
    "--keep-personal",
    is_flag=True,
    help="Also store IP addresses and user agents from the files (not stored by default).",
)
@summary_format_option
@pass_app
def import_command(
    app: AppContext, paths: tuple[Path, ...], user_id: str | None, keep_personal: bool, fmt: str
) -> None:
    """Import Spotify's data export: the zip Spotify sends, a folder, or single JSON files.

    Reads extended streaming history (Streaming_History_Audio_*.json, endsong_*.json) and account
    data (StreamingHistory_music_*.json, podcasts, audiobooks), detected by content. Plays already
    known are not added again; plays that sync saw too are merged into one (docs/merge.md). No
    Spotify API calls. Each file is imported whole or not at all; the exit status is 1 when any
    file failed. The user is --user, else the one synced account, else the files' username, else
    "me".
    """
    store = app.store(memory_map=False)

    def summaries() -> None:
        from brapped.insights import try_refresh

        settings = app.settings
        try_refresh(store, settings.tz, settings.stream_threshold_ms, app.clock.now())

    with _progress_bar(app) as progress:
        result = import_paths(
            store,
            list(paths),
            app.clock,
            user_id=user_id,
            keep_personal=keep_personal,
            progress=progress,
            summaries=summaries,
        )
    if fmt == "json":
        emit_json(app, _summary(result))
        for message in result.errors:
            click.echo(f"Error: {safe(message)}", err=True)
    else:
        _print_table(app, result)
    if not result.ok:
        raise SystemExit(1)


commands: list[click.Command] = [import_command]
