"""`brapped demo`: see brapped work end to end on a simulated listener, offline, in about a minute."""

from __future__ import annotations

import os
import sys
import threading
import webbrowser
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import click

from brapped.cli.context import AppContext, emit_json, pass_app, safe, summary_format_option
from brapped.cli.progress import StageUpdate, stage_bars
from brapped.config import default_home
from brapped.pipeline.demo import DEMO_DAYS, DEMO_SEED, DemoResult, demo_settings, run_demo

_STEPS = {
    "authorise": "Authorising with Spotify (PKCE, emulated)",
    "sync": "Syncing hourly",
    "import": "Importing last year's export",
    "enrich": "Resolving and enriching",
    "musicbrainz": "Genres from MusicBrainz (emulated, 1 request/s of emulated time)",
}


def _demo_home(app: AppContext) -> Path:
    if app.home is not None:  # --home given: the demo lives there
        return app.home
    base = os.environ.get("BRAPPED_HOME")
    return (Path(base).expanduser() if base else default_home()) / "demo"


def _summary_lines(result: DemoResult) -> list[str]:
    imported = result.imported
    resolved, total = result.resolved
    who = safe(f"{result.display_name} ({result.user_id})" if result.display_name else result.user_id)
    return [
        f"Demo home: {result.home}  (database {result.db_url})",
        f"Authorised as {who} through the {result.auth_flow.upper()} flow; tokens in "
        f"{result.home / 'token.json'} (mode 0600).",
        f"Synced {result.syncs:,} times, hourly from {result.sync_from:%Y-%m-%d %H:%M} to "
        f"{result.now:%Y-%m-%d %H:%M} UTC: {result.synced_plays:,} plays, {result.sync_api_calls:,} "
        f"API calls, {result.token_requests:,} token refreshes, {result.gaps} gaps.",
        f"Imported the year before from {len(result.import_files)} export files: {imported.get('new', 0):,} "
        f"new plays, {imported.get('merged', 0):,} merged with synced ones, "
        f"{imported.get('known', 0):,} already known.",
        f"Enriched: {resolved:,} of {total:,} tracks resolved with {result.enrich_api_calls:,} API calls.",
        f"MusicBrainz: {result.musicbrainz} ({result.musicbrainz_requests:,} requests).",
        f"The database holds {result.plays:,} plays of {result.tracks:,} tracks by "
        f"{result.artists:,} artists (done in {result.seconds:.0f} s).",
    ]


@contextmanager
def _progress(app: AppContext) -> Iterator[StageUpdate]:
    """A progress callback: a bar on a terminal, one line per step otherwise."""
    if app.err.is_terminal:
        with stage_bars(app, describe=lambda step: _STEPS.get(step, step)) as update:
            yield update
        return

    announced: set[str] = set()

    def plain(step: str, done: int, total: int) -> None:
        if step not in announced:
            announced.add(step)
            click.echo(f"{_STEPS.get(step, step)}...", err=True)

    yield plain


@click.command("demo")
@click.option(
    "--days",
    type=click.IntRange(1, 90),
    default=DEMO_DAYS,
    show_default=True,
    help="Simulated days of syncs.",
)
@click.option("--seed", type=int, default=DEMO_SEED, show_default=True, help="The simulated listener.")
@click.option("--serve", is_flag=True, help="Then open the dashboard on the demo database.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Dashboard port with --serve.",
)
@summary_format_option
@pass_app
@click.pass_context
def demo_command(
    ctx: click.Context, app: AppContext, days: int, seed: int, serve: bool, port: int, fmt: str
) -> None:
    """Run brapped end to end on a simulated Spotify listener: nothing to configure, no network.

    Starts the built-in Spotify emulator, authorises through the real PKCE flow, syncs a simulated
    month hourly, imports the listener's export of the year before, enriches, then prints today's
    report and a Wrapped of the last twelve months. Everything lands in an SQLite database in the
    demo home (HOME/demo, or DIR with `brapped --home DIR demo`), replaced on every run; your own
    brapped home, settings and tokens are never touched. Explore it afterwards with
    `brapped --home DEMO_HOME report ...`, or add --serve for the dashboard.
    """
    from brapped.cli.report_tables import emit_day, emit_wrapped_table
    from brapped.insights import Period, day_report, try_refresh, wrapped
    from brapped.insights import today as local_today

    home = _demo_home(app)
    # The user's timezone (flag, environment or system) is the one setting the demo keeps.
    settings = demo_settings(home, app.flags.get("timezone") or os.environ.get("BRAPPED_TIMEZONE"))
    with _progress(app) as update:
        result = run_demo(home, days=days, seed=seed, timezone=settings.tz, progress=update)

    # From here on every command-line helper works on the demo database.
    app.home = home
    app._settings = settings
    tz = settings.tz
    # As `import` and `run` leave a database: the report summaries built (the demo's all-time
    # pages and reports read them, and `status` would say they are missing).
    try_refresh(app.store(), tz, settings.stream_threshold_ms, result.now)
    today = local_today(result.now, tz)
    period = Period(today - timedelta(days=364), today, tz)
    with app.store().connect() as conn:
        day = day_report(conn, today, tz, stream_threshold_ms=settings.stream_threshold_ms)
        year = wrapped(
            conn,
            period,
            stream_threshold_ms=settings.stream_threshold_ms,
            session_gap_minutes=settings.session_gap_minutes,
            limit=10,
        )
    if fmt == "json":
        summary = {k: v for k, v in vars(result).items() if k != "import_files"}
        summary["import_files"] = len(result.import_files)
        emit_json(app, {"demo": summary, "today": day, "wrapped": year})
    else:
        for line in _summary_lines(result):
            click.echo(line)
        click.echo()
        emit_day(app, "table", day)
        click.echo()
        emit_wrapped_table(app, "table", year)
        click.echo()
        # A database given by the environment would beat the demo home's for these commands.
        where = f"--home {home}" + (
            f" --db {result.db_url}" if os.environ.get("BRAPPED_DATABASE_URL") else ""
        )
        click.echo(f"Explore further: brapped {where} report top artists | brapped {where} serve")
    if serve:
        from brapped.cli.serve import serve as serve_command

        if sys.stdout.isatty():
            url = f"http://127.0.0.1:{port}/"
            threading.Timer(1.5, webbrowser.open, args=(url,)).start()
        ctx.invoke(serve_command, host="127.0.0.1", port=port)


commands: list[click.Command] = [demo_command]
