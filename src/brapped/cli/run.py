"""`brapped run`: the unattended scheduler (sync, enrich, daily report, optional dashboard)."""

from __future__ import annotations

import _thread
import json
import logging
import re
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from types import FrameType
from typing import Any

import click

from brapped.cli.context import AppContext, pass_app
from brapped.cli.serve import dashboard_url, listen, uvicorn_server
from brapped.config import Settings
from brapped.errors import BrappedError
from brapped.logs import SecretFilter, escape_controls, mask_secrets
from brapped.pipeline.schedule import Schedule, Scheduler, SchedulerError, Steps, parse_report_time
from brapped.serialise import instant_text
from brapped.store import Store

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, None: 60}


def parse_duration(text: str, option: str | None = None) -> timedelta:
    """'30' or '30m' (minutes), '45s', '2h', '1d'; `option` is named in the error."""
    hint = None if option is None else (option,)
    match = _DURATION.match(text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration like 30m, 45s, 2h", param_hint=hint)
    if float(match.group(1)) <= 0:
        raise click.BadParameter(f"{text!r} is no time at all: give more than 0", param_hint=hint)
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


class EventFormatter(logging.Formatter):
    """One line per event: text (`time level event: message`) or a JSON object."""

    def __init__(self, fmt: str) -> None:
        super().__init__()
        self.json = fmt == "json"

    def format(self, record: logging.LogRecord) -> str:
        name = getattr(record, "event", None) or record.name
        data: Mapping[str, Any] = getattr(record, "data", None) or {}
        when = instant_text(datetime.fromtimestamp(record.created, UTC))
        message = mask_secrets(record.getMessage())
        if record.exc_info:
            trace = mask_secrets(self.formatException(record.exc_info).replace("\n", " | "))
            message += " | " + escape_controls(trace)
        if self.json:
            body = {"ts": when, "level": record.levelname.lower(), "event": name}
            body.update({k: v for k, v in data.items() if k not in body})
            body["message"] = message
            return mask_secrets(json.dumps(body, default=str, ensure_ascii=False))
        return f"{when} {record.levelname.lower():7} {name}: {message}"


def configure_event_logging(fmt: str, level: int = logging.INFO) -> None:
    """Log lines to stderr for `run` (replaces the global --log-level handler)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(SecretFilter())
    handler.setFormatter(EventFormatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("brapped").setLevel(level)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT ask the loop to stop after the current step; a second one interrupts it.

    Python runs a signal's handler in the main thread only between bytecodes, so not while that
    thread waits in C (a database lock, a socket) or holds a lock the handler would need (stderr's,
    an Event's). The handler therefore does nothing but raise on a second signal: Python's own C
    handler writes each signal's number to a socket at once (`signal.set_wakeup_fd`), and a watcher
    thread reads it, logs the request and sets `stop`.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach only the main thread: nothing to listen for here
        return
    interrupt = threading.Event()
    # A socket pair, not a pipe: Windows takes only a socket as the wakeup fd.
    reader, writer = socket.socketpair()
    writer.setblocking(False)

    raised: list[bool] = []

    def handle(_signum: int, _frame: FrameType | None) -> None:
        if interrupt.is_set() and not raised:  # is_set takes no lock
            raised.append(True)
            raise KeyboardInterrupt  # the user insists: the open transaction rolls back

    def watch() -> None:
        seen = 0
        while data := reader.recv(64):
            for signum in data:
                if signum == 0:
                    return  # the context ended
                if signum not in previous:
                    continue  # another signal someone else handles
                seen += 1
                if seen == 1:
                    _log_stop_request(signal.Signals(signum))
                    stop.set()
                else:
                    interrupt.set()
                    if not raised:
                        # The main thread's handler may have run for this signal already: again.
                        _thread.interrupt_main(signal.SIGINT)

    previous = {int(signum): signal.signal(signum, handle) for signum in (signal.SIGTERM, signal.SIGINT)}
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    watcher = threading.Thread(target=watch, name="brapped-signals", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        for number, handler in previous.items():
            signal.signal(number, handler)
        with suppress(OSError):  # a buffer full of signals: the watcher is a daemon, left to exit
            writer.send(b"\0")
        watcher.join(5)
        writer.close()
        if not watcher.is_alive():
            reader.close()


def _log_stop_request(signum: signal.Signals) -> None:
    logging.getLogger("brapped.pipeline.schedule").info(
        "stop requested, finishing the current step",
        extra={"event": "scheduler.stopping", "data": {"signal": signum.name}},
    )


StepsFactory = Callable[[AppContext, Store], Steps]


def spotify_steps(app: AppContext, store: Store) -> Steps:
    """The real steps: sync and enrich through the Spotify client, the report through insights."""
    from brapped.pipeline.accounts import enrich_with_any, sync_all
    from brapped.spotify import connect, connect_all

    settings = app.settings
    client = connect(settings, app.clock)
    facts = None
    if settings.musicbrainz:
        from brapped import musicbrainz
        from brapped.pipeline.artist_facts import BackgroundFacts

        facts = BackgroundFacts(store, musicbrainz.connect(settings, app.clock, store))

    def sync() -> Mapping[str, Any]:
        from brapped.insights import try_refresh

        # Token files are listed again every round: an account authorised meanwhile joins in.
        household = connect_all(settings, app.clock) or [connect(settings, app.clock)]
        try:
            result = sync_all(store, household)
        finally:
            for member in household:
                member.http.close()
        # Cheap unless the sums are missing, stale or a month behind (then seconds, in the loop's time).
        try_refresh(store, settings.tz, settings.stream_threshold_ms, app.clock.now())
        error = result.first_error()
        if error is not None and (result.rate_limited is not None or all(p.error for p in result.accounts)):
            raise error  # paused, or nothing synced: the loop logs it and backs off
        counts = result.counts()
        return {**counts, "outcome": "ok" if error is None else "partial"}

    def enrich() -> Mapping[str, Any]:
        # Within the budget, background enrichment also resolves tracks only an export named.
        from brapped.insights import try_refresh

        # Any account whose authorisation works: one revoked account must not stop it for the household.
        household = connect_all(settings, app.clock) or [client]
        try:
            result = enrich_with_any(store, household, max_calls=int(settings.enrich_budget), resolve=True)
        finally:
            for member in household:
                if member is not client:
                    member.http.close()
        # Resolving merges tracks and credits of older plays: rebuild the sums now, not next round.
        try_refresh(store, settings.tz, settings.stream_threshold_ms, app.clock.now())
        # MusicBrainz after Spotify, in the background: at one request per second it may take hours.
        counts = result.counts()
        if facts is not None:
            counts["musicbrainz"] = facts.kick()
        return counts

    def close() -> None:
        client.http.close()
        if facts is not None:
            facts.close()

    return Steps(sync=sync, enrich=enrich, report=report_step(store, settings), close=close)


def report_step(store: Store, settings: Settings, http: Any = None) -> Callable[[date], Mapping[str, Any]]:
    """Write the day report to home/reports/ and deliver it to the configured webhook and mailbox."""
    from brapped.pipeline.delivery import deliver_day_report

    def report(day: date) -> Mapping[str, Any]:
        return deliver_day_report(store, settings, day, client=http)

    return report


# Tests swap this to run the loop with fakes or with an emulator-backed client.
STEPS_FACTORY: list[StepsFactory] = [spotify_steps]


@click.command("run")
@click.option(
    "--interval",
    metavar="DURATION",
    help=(
        "Time between syncs: 30m, 45s, 2h (default: sync_interval_minutes in config.toml or "
        "BRAPPED_SYNC_INTERVAL, whole minutes: 30)."
    ),
)
@click.option("--report-time", metavar="HH:MM", help="Local time of the daily report (default: 08:00).")
@click.option("--once", is_flag=True, help="One sync + enrich, the report if due, then exit (for cron/CI).")
@click.option("--for", "run_for", metavar="DURATION", help="Stop after this long (default: until SIGTERM).")
@click.option("--serve", is_flag=True, help="Also serve the dashboard.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Dashboard address with --serve.")
@click.option(
    "--port", default=8765, show_default=True, type=click.IntRange(1, 65535), help="Dashboard port."
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per event on stderr, as text or JSON objects.",
)
@click.option(
    "--lock-ttl",
    metavar="DURATION",
    default="5m",
    show_default=True,
    help="How long a crashed scheduler blocks the next one; the heartbeat comes 5 times as often.",
)
@pass_app
def run_command(
    app: AppContext,
    interval: str | None,
    report_time: str | None,
    once: bool,
    run_for: str | None,
    serve: bool,
    host: str,
    port: int,
    log_format: str,
    lock_ttl: str,
) -> None:
    """Run unattended: sync every interval, enrich within budget, write the daily report.

    The report for each local day is written at --report-time the next morning to
    BRAPPED_HOME/reports/DATE.md and DATE.json, POSTed to BRAPPED_WEBHOOK_URL (Slack/Discord) and
    e-mailed via BRAPPED_SMTP_URL to BRAPPED_MAIL_TO when those are set. One scheduler per database:
    a second `run` exits with code 3. SIGTERM/SIGINT stop it after the step in progress.
    """
    settings = app.settings
    configure_event_logging(log_format)
    default_every = timedelta(minutes=int(settings.sync_interval_minutes))
    every = parse_duration(interval, "--interval") if interval else default_every
    ttl = parse_duration(lock_ttl, "--lock-ttl")
    until = app.clock.now() + parse_duration(run_for, "--for") if run_for else None
    try:
        report_at = parse_report_time(report_time or str(settings.report_time))
    except SchedulerError as exc:
        raise click.BadParameter(str(exc), param_hint=("--report-time",) if report_time else None) from exc
    try:
        schedule = Schedule(
            sync_every=every,
            report_at=report_at,
            timezone=settings.tz,
            heartbeat_every=ttl / 5,
            lock_ttl=ttl,
        )
    except SchedulerError as exc:
        raise click.BadParameter(str(exc)) from exc
    if serve:
        from brapped.web import check_bind

        # Before the database is opened: refusing to start should not migrate anything.
        check_bind(host, app.settings.values.get("dashboard_token"))
    # Bound first: a busy port stops `run` with one line, rather than a dashboard logged as
    # started that nothing serves.
    sock = listen(host, port) if serve else None
    store = app.store()
    steps = STEPS_FACTORY[0](app, store)
    stop = threading.Event()
    scheduler = Scheduler(store, app.clock, schedule, steps, stop=stop)
    server = _serve(app, store, host, sock) if sock is not None else None
    try:
        with stop_on_signals(stop):
            summary = scheduler.run(until=until, once=once)
    except KeyboardInterrupt as exc:
        raise BrappedError("interrupted") from exc
    finally:
        if server is not None:
            server.should_exit = True
        if steps.close is not None and not scheduler.steps_closed:
            steps.close()
    if once and summary.last_sync_error is not None:
        # Cron and CI see the sync's own exit code (75 rate limited, 77 authorisation needed, ...).
        error = summary.last_sync_error
        if isinstance(error, BrappedError):
            raise error
        raise BrappedError(f"the sync failed: {type(error).__name__}: {error}")


def _serve(app: AppContext, store: Store, host: str, sock: socket.socket) -> Any:
    """The dashboard in a background thread on `sock`, sharing the scheduler's store (same rules
    as `serve`)."""
    from brapped.web import app_for_host

    web = app_for_host(store, app.settings, app.clock, host)
    warmer = web.state.dashboard.start_warming()
    server: Any = uvicorn_server(web)

    def serve_then_stop_warming() -> None:
        try:
            server.run(sockets=[sock])
        finally:
            warmer.stop()
            sock.close()

    thread = threading.Thread(target=serve_then_stop_warming, name="dashboard", daemon=True)
    thread.start()
    port = sock.getsockname()[1]
    started = {"event": "dashboard.started", "data": {"port": port}}
    log = logging.getLogger("brapped.pipeline.schedule")
    log.info(f"dashboard on {dashboard_url(host, port)}", extra=started)
    return server


commands: list[click.Command] = [run_command]
