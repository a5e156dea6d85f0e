"""The long-running `brapped run` loop: sync on a schedule, enrich, write and deliver the daily report.

The work itself is injected as three steps (sync, enrich, report) so the loop is tested with fakes and
with the real pipeline against the emulator alike; time comes from an injected clock. One scheduler per
database: a row in `locks` with an expiry that the heartbeat pushes forward, so a crashed scheduler
blocks the next one for at most `lock_ttl`. A stop request (SIGTERM/SIGINT in the CLI) is honoured
between steps: the step in progress finishes and commits (or fails and rolls back) first.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from brapped.clock import Clock, SystemClock
from brapped.errors import BrappedError
from brapped.spotify.client import RECENTLY_PLAYED_LIMIT
from brapped.spotify.errors import RateLimited
from brapped.store import Store
from brapped.store.runs import finish_run, heartbeat, start_run
from brapped.store.state import get_state, set_state
from brapped.store.tables import locks, plays
from brapped.store.views import utc_hour

log = logging.getLogger("brapped.pipeline.schedule")

LOCK_NAME = "scheduler"
REPORT_STATE_KEY = "report_last_day"
# When a scheduler first ran on this database: reports that fell due before it are not written
# (a first start would otherwise report on a day brapped knew nothing about).
REPORT_SINCE_KEY = "report_since"
# With no history yet, assume a brisk pace: three-minute songs back to back.
DEFAULT_PLAYS_PER_HOUR = 20
PACE_WINDOW = timedelta(days=28)

SyncStep = Callable[[], Mapping[str, Any]]
EnrichStep = Callable[[], Mapping[str, Any]]
ReportStep = Callable[[date], Mapping[str, Any]]


class SchedulerError(BrappedError):
    """The scheduler cannot run as configured."""


class SchedulerLocked(SchedulerError):
    """Another scheduler holds the lock on this database."""

    exit_code = 3


@dataclass(frozen=True)
class Schedule:
    """When things happen. `report_at` is local time in `timezone`."""

    sync_every: timedelta
    report_at: time
    timezone: str
    heartbeat_every: timedelta = timedelta(seconds=60)
    lock_ttl: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if self.sync_every <= timedelta(0):
            raise SchedulerError("the sync interval must be positive")
        if self.lock_ttl <= self.heartbeat_every:
            raise SchedulerError("the lock must outlive the time between heartbeats")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Steps:
    """The work the loop schedules. `enrich` and `report` may be absent."""

    sync: SyncStep
    enrich: EnrichStep | None = None
    report: ReportStep | None = None
    close: Callable[[], None] | None = None  # called once when the run ends


@dataclass
class RunSummary:
    """What one scheduler run did (also stored as the `run` row's counts)."""

    run_id: int | None = None
    syncs: int = 0
    sync_failures: int = 0
    enrichments: int = 0
    enrich_failures: int = 0
    reports: list[str] = field(default_factory=list)
    report_failures: int = 0
    stopped_by: str = ""
    last_sync_error: Exception | None = None

    def counts(self) -> dict[str, Any]:
        return {
            "syncs": self.syncs,
            "sync_failures": self.sync_failures,
            "enrichments": self.enrichments,
            "enrich_failures": self.enrich_failures,
            "reports": self.reports,
            "report_failures": self.report_failures,
            "stopped_by": self.stopped_by,
        }


def parse_report_time(text: str) -> time:
    """'HH:MM' (24-hour) as a time."""
    try:
        hours, minutes = text.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError as exc:
        raise SchedulerError(f"report time {text!r} is not HH:MM (24-hour), e.g. 08:00") from exc


def report_due_day(now: datetime, schedule: Schedule) -> date:
    """The latest local day whose report is due at `now`: a day's report is due at `report_at` next day."""
    local = now.astimezone(schedule.zone)
    yesterday = local.date() - timedelta(days=1)
    return yesterday if local.time() >= schedule.report_at else yesterday - timedelta(days=1)


def report_due_at(day: date, schedule: Schedule) -> datetime:
    """When the report for local `day` falls due (UTC): `report_at` local time the next day."""
    return datetime.combine(day + timedelta(days=1), schedule.report_at, schedule.zone).astimezone(UTC)


def next_report_at(now: datetime, schedule: Schedule) -> datetime:
    """The next instant (UTC) the local clock shows `report_at`, strictly after `now`."""
    zone = schedule.zone
    local_day = now.astimezone(zone).date()
    for offset in range(3):
        candidate = datetime.combine(local_day + timedelta(days=offset), schedule.report_at, zone)
        if candidate > now:
            return candidate.astimezone(now.tzinfo)
    raise AssertionError("a report time always comes within two days")  # pragma: no cover


# --- the lock ---------------------------------------------------------------------------------------


def default_owner() -> str:
    """Who holds the lock: host, process and a random part (pids repeat across containers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire_lock(conn: Connection, owner: str, now: datetime, ttl: timedelta, name: str = LOCK_NAME) -> None:
    """Take the lock or raise SchedulerLocked; an expired lock (a crashed holder) is taken over."""
    conn.execute(delete(locks).where(locks.c.name == name, locks.c.expires_at <= now))
    values = {"name": name, "owner": owner, "acquired_at": now, "expires_at": now + ttl}
    statement = (
        postgresql.insert(locks).values(values).on_conflict_do_nothing()
        if conn.dialect.name == "postgresql"
        else sqlite.insert(locks).values(values).on_conflict_do_nothing()
    )
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT through SQLAlchemy.
    if conn.execute(statement.returning(locks.c.name)).first() is not None:
        return
    holder = conn.execute(select(locks).where(locks.c.name == name)).mappings().one()
    raise SchedulerLocked(
        f"another `brapped run` ({holder['owner']}) is running on this database; its lock expires at "
        f"{holder['expires_at']:%Y-%m-%d %H:%M:%S} UTC unless it keeps its heartbeat"
    )


def refresh_lock(conn: Connection, owner: str, now: datetime, ttl: timedelta, name: str = LOCK_NAME) -> bool:
    """Push the expiry forward; False when the lock is no longer ours (it expired and was taken)."""
    result = conn.execute(
        update(locks).where(locks.c.name == name, locks.c.owner == owner).values(expires_at=now + ttl)
    )
    return result.rowcount == 1


def release_lock(conn: Connection, owner: str, name: str = LOCK_NAME) -> None:
    conn.execute(delete(locks).where(locks.c.name == name, locks.c.owner == owner))


# --- pace ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pace:
    """The listener's busiest hour lately, and what it means for the sync interval."""

    peak_plays_per_hour: int
    measured: bool  # False: no recent history, DEFAULT_PLAYS_PER_HOUR assumed
    longest_safe_interval: timedelta

    def plays_per_interval(self, interval: timedelta) -> float:
        return self.peak_plays_per_hour * interval.total_seconds() / 3600


def listening_pace(conn: Connection, now: datetime) -> Pace:
    """Plays in the busiest UTC hour of the last four weeks, and the longest interval that keeps up."""
    hour = utc_hour(plays.c.played_at)
    per_hour = (
        select(func.count().label("n"))
        .where(plays.c.played_at >= now - PACE_WINDOW, plays.c.played_at <= now)
        .group_by(plays.c.user_id, hour)
        .subquery()
    )
    peak = conn.execute(select(func.max(per_hour.c.n))).scalar_one_or_none()
    measured = bool(peak)
    rate = int(peak) if peak else DEFAULT_PLAYS_PER_HOUR
    safe = timedelta(hours=RECENTLY_PLAYED_LIMIT / rate)
    return Pace(rate, measured, safe)


def interval_warning(pace: Pace, interval: timedelta) -> str | None:
    """A warning when syncing every `interval` can miss plays at this pace, else None."""
    if interval <= pace.longest_safe_interval:
        return None
    basis = "your busiest hour lately" if pace.measured else "a brisk pace (no recent plays to go by)"
    minutes = int(pace.longest_safe_interval.total_seconds() // 60)
    return (
        f"syncing every {_human(interval)} can lose plays: at {basis}, {pace.peak_plays_per_hour} plays an "
        f"hour, about {pace.plays_per_interval(interval):.0f} plays happen between syncs and Spotify's "
        f"recently-played only returns the last {RECENTLY_PLAYED_LIMIT}; sync every {minutes} minutes or less"
    )


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


# --- the loop -----------------------------------------------------------------------------------------


def event(name: str, message: str, level: int = logging.INFO, **data: Any) -> None:
    """One log line per event: `event` and `data` are kept for the JSON formatter."""
    log.log(level, message, extra={"event": name, "data": data})


class Scheduler:
    """Runs the steps on schedule until stopped (or until `until` / after one round with `once`)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        schedule: Schedule,
        steps: Steps,
        *,
        stop: threading.Event | None = None,
        owner: str | None = None,
        keepalive: bool | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.schedule = schedule
        self.steps = steps
        self.steps_closed = False  # `run` closes them when it ends (a failed start leaves it to the caller)
        self.stop = stop or threading.Event()
        self.owner = owner or default_owner()
        # On the wall clock a thread keeps the lock alive while a long step runs (a sync waiting on
        # Spotify's rate limit can outlast the lock); an emulated clock only moves between steps.
        self.keepalive = isinstance(clock, SystemClock) if keepalive is None else keepalive
        self._failed_days: dict[date, int] = {}
        self._lock_lost = threading.Event()

    def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if isinstance(self.clock, SystemClock):
            self.stop.wait(seconds)  # wakes at once on a stop request
        else:
            self.clock.sleep(seconds)

    def check_interval(self) -> str | None:
        """Warn (and return the warning) when the sync interval can lose plays."""
        with self.store.connect() as conn:
            pace = listening_pace(conn, self.clock.now())
        warning = interval_warning(pace, self.schedule.sync_every)
        if warning:
            event("interval.too_long", warning, logging.WARNING, peak_plays_per_hour=pace.peak_plays_per_hour)
        return warning

    def run(self, *, until: datetime | None = None, once: bool = False) -> RunSummary:
        """Take the lock, then loop: sync (and enrich) when due, report when due, heartbeat.

        `once`: one sync (+ enrich) and the report if due, then return (for cron and CI schedulers).
        """
        summary = RunSummary()
        now = self.clock.now()
        with self.store.begin(immediate=True) as conn:
            acquire_lock(conn, self.owner, now, self.schedule.lock_ttl)
            run_id = summary.run_id = start_run(conn, "run", now, stale_after=self.schedule.lock_ttl)
            if get_state(conn, REPORT_SINCE_KEY) is None:
                set_state(conn, REPORT_SINCE_KEY, now.isoformat(), now)
        event(
            "scheduler.started",
            f"scheduler started (run {summary.run_id}), syncing every {_human(self.schedule.sync_every)}, "
            f"report at {self.schedule.report_at:%H:%M} {self.schedule.timezone}",
            run_id=summary.run_id,
            owner=self.owner,
        )
        outcome, message = "ok", None
        done = threading.Event()
        keeper = threading.Thread(
            target=self._keep_alive, args=(run_id, done), name="brapped-heartbeat", daemon=True
        )
        if self.keepalive:
            keeper.start()
        try:
            self.check_interval()
            self._loop(summary, until, once)
            if not summary.stopped_by:
                summary.stopped_by = "once" if once else "until"
        except BaseException as exc:  # record why the run ended whatever it was, then let it propagate
            outcome, message = "failed", f"{type(exc).__name__}: {exc}"
            summary.stopped_by = summary.stopped_by or type(exc).__name__
            raise
        finally:
            done.set()
            if keeper.is_alive():
                keeper.join()
            if self.steps.close is not None:
                # Before the run's last line: a background step (MusicBrainz) ends and says so first.
                self.steps.close()
                self.steps_closed = True
            end = self.clock.now()
            with self.store.begin() as conn:
                finish_run(conn, run_id, end, outcome, summary.counts(), message)
                release_lock(conn, self.owner)
            event(
                "scheduler.stopped",
                f"scheduler stopped ({summary.stopped_by}): {summary.syncs} syncs, "
                f"{len(summary.reports)} reports",
                run_id=summary.run_id,
                **summary.counts(),
            )
        return summary

    def _loop(self, summary: RunSummary, until: datetime | None, once: bool) -> None:
        next_sync = self.clock.now()
        next_beat = self.clock.now() + self.schedule.heartbeat_every
        while True:
            if self._lock_lost.is_set():
                raise SchedulerLocked("the scheduler lock expired and another scheduler took it; stopping")
            if self.stop.is_set():
                summary.stopped_by = summary.stopped_by or "signal"
                return
            now = self.clock.now()
            if until is not None and now >= until:
                return
            if now >= next_sync:
                self._sync(summary)
                # A sync slower than the interval is followed by the next one at once, but the
                # report and the heartbeat below still get their turn.
                next_sync = max(next_sync + self.schedule.sync_every, self.clock.now())
            if not self.stop.is_set():
                self._report_if_due(summary)
            if once:
                return
            now = self.clock.now()
            if now >= next_beat:
                self._heartbeat(summary, now)
                next_beat = now + self.schedule.heartbeat_every
            wake = min(next_sync, next_beat, next_report_at(now, self.schedule))
            if until is not None:
                wake = min(wake, until)
            self._wait((wake - now).total_seconds())

    def _sync(self, summary: RunSummary) -> None:
        started = self.clock.now()
        try:
            counts = dict(self.steps.sync())
        except RateLimited as exc:
            # Spotify asked for a pause: the pipeline stored the resume time and later syncs skip
            # the API until then. A warning, not an error: nothing is wrong and nothing is lost yet.
            summary.sync_failures += 1
            summary.last_sync_error = exc
            event("sync.rate_limited", str(exc), logging.WARNING, resume_at=exc.resume_at.isoformat())
            return
        except Exception as exc:  # one failed sync must not end an unattended scheduler
            summary.sync_failures += 1
            summary.last_sync_error = exc
            event("sync.failed", f"sync failed: {_reason(exc)}", logging.ERROR, error=_reason(exc))
            return
        summary.syncs += 1
        seconds = (self.clock.now() - started).total_seconds()
        event("sync.done", f"sync done in {seconds:.1f} s: {_brief(counts)}", **counts)
        if self.steps.enrich is None or self.stop.is_set():
            return
        try:
            enriched = dict(self.steps.enrich())
        except Exception as exc:  # enrichment is best effort; the next round retries
            summary.enrich_failures += 1
            event("enrich.failed", f"enrich failed: {_reason(exc)}", logging.WARNING, error=_reason(exc))
            return
        summary.enrichments += 1
        event("enrich.done", f"enrich done: {_brief(enriched)}", **enriched)

    def _report_if_due(self, summary: RunSummary) -> None:
        if self.steps.report is None:
            return
        due = report_due_day(self.clock.now(), self.schedule)
        with self.store.connect() as conn:
            last = get_state(conn, REPORT_STATE_KEY)
            since = get_state(conn, REPORT_SINCE_KEY)
        if last is not None and date.fromisoformat(last) >= due:
            return
        if since is not None and report_due_at(due, self.schedule) < datetime.fromisoformat(since):
            return
        try:
            result = dict(self.steps.report(due))
        except Exception as exc:  # a report that cannot be written is retried on the next wake-up
            summary.report_failures += 1
            self._failed_days[due] = self._failed_days.get(due, 0) + 1
            event(
                "report.failed", f"report for {due} failed: {_reason(exc)}", logging.ERROR, error=_reason(exc)
            )
            if self._failed_days[due] >= 3:
                # Give up on this day instead of retrying forever; the failure is in the log and runs.
                self._mark_reported(due)
            return
        self._mark_reported(due)
        summary.reports.append(due.isoformat())
        problems = result.pop("delivery_errors", None)
        event("report.done", f"report for {due} written: {_brief(result)}", day=due.isoformat(), **result)
        for problem in problems or ():
            event("report.delivery_failed", str(problem), logging.WARNING, day=due.isoformat())

    def _mark_reported(self, day: date) -> None:
        with self.store.begin() as conn:
            set_state(conn, REPORT_STATE_KEY, day.isoformat(), self.clock.now())

    def _keep_alive(self, run_id: int, done: threading.Event) -> None:
        """Heartbeat and lock refresh from a thread, every `heartbeat_every`, until `done`."""
        while not done.wait(self.schedule.heartbeat_every.total_seconds()):
            now = self.clock.now()
            try:
                with self.store.begin() as conn:
                    heartbeat(conn, run_id, now)
                    ours = refresh_lock(conn, self.owner, now, self.schedule.lock_ttl)
            except Exception as exc:  # a database hiccup: the lock has slack, the next beat retries
                event("heartbeat.failed", f"heartbeat failed: {_reason(exc)}", logging.WARNING)
                continue
            if not ours:
                event("lock.lost", "the scheduler lock was taken over; stopping", logging.ERROR)
                self._lock_lost.set()
                self.stop.set()
                return

    def _heartbeat(self, summary: RunSummary, now: datetime) -> None:
        with self.store.begin() as conn:
            heartbeat(conn, summary.run_id or 0, now)
            still_ours = refresh_lock(conn, self.owner, now, self.schedule.lock_ttl)
        if not still_ours:
            raise SchedulerLocked("the scheduler lock expired and another scheduler took it; stopping")
        event("heartbeat", "heartbeat", logging.DEBUG, run_id=summary.run_id)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _brief(counts: Mapping[str, Any]) -> str:
    parts = [
        f"{k}={v}" for k, v in counts.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)
    ]
    return ", ".join(parts) or "nothing to say"
