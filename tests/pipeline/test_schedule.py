"""The scheduler loop with fake steps and an emulated clock: timing, lock, failures, stop, pace."""

from __future__ import annotations

import json
import threading
import time as wallclock
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from brapped.emulator import EmulatedClock
from brapped.pipeline.schedule import (
    Schedule,
    Scheduler,
    SchedulerError,
    SchedulerLocked,
    Steps,
    acquire_lock,
    interval_warning,
    listening_pace,
    next_report_at,
    parse_report_time,
    report_due_day,
)
from brapped.store import Store, tables

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday; Berlin is UTC+1 in March before the 29th
BERLIN = "Europe/Berlin"


def schedule(**kw: Any) -> Schedule:
    values: dict[str, Any] = {
        "sync_every": timedelta(minutes=30),
        "report_at": time(8, 0),
        "timezone": BERLIN,
    }
    values.update(kw)
    return Schedule(**values)


class Recorder:
    """Fake steps that note when they ran (in emulated time)."""

    def __init__(self, clock: EmulatedClock, fail_syncs: set[int] | None = None) -> None:
        self.clock = clock
        self.syncs: list[datetime] = []
        self.enrichs: list[datetime] = []
        self.reports: list[tuple[date, datetime]] = []
        self.fail_syncs = fail_syncs or set()
        self.on_sync: Any = None

    def sync(self) -> dict[str, Any]:
        self.syncs.append(self.clock.now())
        if self.on_sync:
            self.on_sync(len(self.syncs))
        if len(self.syncs) in self.fail_syncs:
            raise RuntimeError("Spotify is down")
        self.clock.advance(2)  # a sync takes a little time
        return {"new_plays": 1}

    def enrich(self) -> dict[str, Any]:
        self.enrichs.append(self.clock.now())
        return {"api_calls": 0}

    def report(self, day: date) -> dict[str, Any]:
        self.reports.append((day, self.clock.now()))
        return {"plays": 0}

    def steps(self) -> Steps:
        return Steps(sync=self.sync, enrich=self.enrich, report=self.report)


def run_row(store: Store, run_id: int | None) -> dict[str, Any]:
    with store.connect() as conn:
        return dict(conn.execute(select(tables.runs).where(tables.runs.c.id == run_id)).mappings().one())


def test_a_simulated_day_syncs_on_schedule_and_reports_once(store: Store) -> None:
    clock = EmulatedClock(START)
    fake = Recorder(clock)
    quiet = schedule(heartbeat_every=timedelta(minutes=10), lock_ttl=timedelta(minutes=30))
    summary = Scheduler(store, clock, quiet, fake.steps()).run(until=START + timedelta(days=1))
    # Every 30 minutes from the start, measured from when each sync was due (not when it ended).
    assert fake.syncs == [START + timedelta(minutes=30 * i) for i in range(48)]
    assert len(fake.enrichs) == 48
    # 08:00 in Berlin on 2 March is 07:00 UTC: the report for 1 March is written then (right after
    # the 07:00 sync, which takes 2 s), once. The report for 28 February fell due before the first
    # start and is not written.
    assert fake.reports == [(date(2026, 3, 1), datetime(2026, 3, 2, 7, 0, 2, tzinfo=UTC))]
    assert summary.syncs == 48 and summary.reports == ["2026-03-01"] and summary.stopped_by == "until"
    row = run_row(store, summary.run_id)
    assert (row["kind"], row["outcome"], row["started_at"]) == ("run", "ok", START)
    assert row["finished_at"] == row["heartbeat_at"] == clock.now()
    assert json.loads(row["counts"])["syncs"] == 48
    with store.connect() as conn:
        assert conn.execute(select(tables.locks)).all() == []  # released


def test_heartbeat_is_written_while_running(store: Store) -> None:
    clock = EmulatedClock(START)
    fake = Recorder(clock)
    beats: list[Any] = []

    def look(n: int) -> None:
        with store.connect() as conn:
            beats.append(conn.execute(select(tables.runs.c.heartbeat_at)).scalar_one())
            beats.append(conn.execute(select(tables.locks.c.expires_at)).scalar_one())

    fake.on_sync = look
    Scheduler(store, clock, schedule(), fake.steps()).run(until=START + timedelta(hours=1))
    # At the second sync (30 min in) the heartbeat is at most a minute old and the lock extends past now.
    heartbeat, expires = beats[2], beats[3]
    assert START + timedelta(minutes=29) <= heartbeat <= START + timedelta(minutes=30)
    assert expires > START + timedelta(minutes=30)


def test_a_second_scheduler_refuses_and_an_expired_lock_is_taken_over(store: Store) -> None:
    clock = EmulatedClock(START)
    with store.begin() as conn:
        acquire_lock(conn, "other-host:1:abc", START, timedelta(minutes=5))
    fake = Recorder(clock)
    with pytest.raises(SchedulerLocked, match="other-host:1:abc"):
        Scheduler(store, clock, schedule(), fake.steps()).run(once=True)
    assert fake.syncs == []
    clock.advance(timedelta(minutes=5))  # the other scheduler crashed: its lock expires
    summary = Scheduler(store, clock, schedule(), fake.steps()).run(once=True)
    assert summary.syncs == 1


def test_failed_sync_is_logged_and_the_loop_goes_on(
    sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = EmulatedClock(START)
    fake = Recorder(clock, fail_syncs={2})
    with caplog.at_level("INFO", logger="brapped.pipeline.schedule"):
        summary = Scheduler(sqlite_store, clock, schedule(), fake.steps()).run(
            until=START + timedelta(hours=2)
        )
    assert (summary.syncs, summary.sync_failures) == (3, 1)
    assert len(fake.enrichs) == 3  # no enrichment after the failed sync
    failed = [r for r in caplog.records if getattr(r, "event", "") == "sync.failed"]
    assert len(failed) == 1 and "RuntimeError: Spotify is down" in failed[0].getMessage()


def test_stop_request_ends_after_the_step_in_progress(sqlite_store: Store) -> None:
    clock = EmulatedClock(START)
    stop = threading.Event()
    fake = Recorder(clock)
    fake.on_sync = lambda n: stop.set() if n == 3 else None
    summary = Scheduler(sqlite_store, clock, schedule(), fake.steps(), stop=stop).run()
    assert len(fake.syncs) == 3 and summary.syncs == 3  # the third sync finished
    assert len(fake.enrichs) == 2  # but nothing new started after the stop request
    assert summary.stopped_by == "signal"
    assert run_row(sqlite_store, summary.run_id)["outcome"] == "ok"


def test_once_reports_only_when_due_and_only_once(sqlite_store: Store) -> None:
    clock = EmulatedClock(datetime(2026, 3, 2, 6, 30, tzinfo=UTC))  # 07:30 in Berlin: not yet due
    fake = Recorder(clock)
    Scheduler(sqlite_store, clock, schedule(), fake.steps()).run(once=True)
    # The newest due report (28 February's, due 1 March 08:00) fell due before the first start.
    assert fake.reports == []
    clock.set(datetime(2026, 3, 2, 7, 5, tzinfo=UTC))
    Scheduler(sqlite_store, clock, schedule(), fake.steps()).run(once=True)
    Scheduler(sqlite_store, clock, schedule(), fake.steps()).run(once=True)
    assert [d for d, _ in fake.reports] == [date(2026, 3, 1)]
    assert len(fake.syncs) == 3
    # Down for three days: on return only the newest report is written.
    clock.set(datetime(2026, 3, 5, 9, 0, tzinfo=UTC))
    Scheduler(sqlite_store, clock, schedule(), fake.steps()).run(once=True)
    assert [d for d, _ in fake.reports] == [date(2026, 3, 1), date(2026, 3, 4)]


def test_a_failing_report_is_retried_then_given_up(sqlite_store: Store) -> None:
    clock = EmulatedClock(datetime(2026, 3, 2, 6, 0, tzinfo=UTC))
    attempts: list[date] = []

    def report(day: date) -> dict[str, Any]:
        attempts.append(day)
        raise OSError("disk full")

    steps = Steps(sync=lambda: {}, report=report)
    summary = Scheduler(sqlite_store, clock, schedule(), steps).run(until=clock.now() + timedelta(hours=3))
    assert attempts == [date(2026, 3, 1)] * 3
    assert summary.report_failures == 3 and summary.reports == []


def test_report_times_follow_the_local_zone_across_dst() -> None:
    s = schedule()
    # Berlin moves to summer time on 29 March 2026: 08:00 is 07:00 UTC before, 06:00 UTC after.
    assert next_report_at(datetime(2026, 3, 28, 7, 0, tzinfo=UTC), s) == datetime(
        2026, 3, 29, 6, 0, tzinfo=UTC
    )
    assert next_report_at(datetime(2026, 3, 28, 6, 59, tzinfo=UTC), s) == datetime(
        2026, 3, 28, 7, 0, tzinfo=UTC
    )
    assert report_due_day(datetime(2026, 3, 29, 6, 0, tzinfo=UTC), s) == date(2026, 3, 28)
    assert report_due_day(datetime(2026, 3, 29, 5, 59, tzinfo=UTC), s) == date(2026, 3, 27)


def test_bad_schedules_are_refused() -> None:
    with pytest.raises(SchedulerError, match="positive"):
        schedule(sync_every=timedelta(0))
    with pytest.raises(SchedulerError, match="outlive"):
        schedule(lock_ttl=timedelta(seconds=30), heartbeat_every=timedelta(seconds=60))
    with pytest.raises(SchedulerError, match="HH:MM"):
        parse_report_time("8am")
    assert parse_report_time("07:45") == time(7, 45)


def test_interval_warning_follows_the_listeners_pace(store: Store) -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    with store.connect() as conn:
        pace = listening_pace(conn, now)
    # No history: a brisk 20 plays an hour is assumed, so 50 plays take 2.5 hours.
    assert (pace.peak_plays_per_hour, pace.measured) == (20, False)
    assert interval_warning(pace, timedelta(minutes=150)) is None
    assert "sync every 150 minutes or less" in str(interval_warning(pace, timedelta(hours=3)))
    with store.begin() as conn:
        conn.execute(insert(tables.tracks).values(id="t", name="Short song"))
        busy_hour = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
        conn.execute(
            insert(tables.plays),
            [
                {
                    "user_id": "u",
                    "played_at": busy_hour + timedelta(seconds=59 * i),
                    "track_id": "t",
                    "source": "api",
                }
                for i in range(60)
            ]
            + [
                {
                    "user_id": "u",
                    "played_at": busy_hour - timedelta(days=2, minutes=i),
                    "track_id": "t",
                    "source": "api",
                }
                for i in range(10)
            ],
        )
    with store.connect() as conn:
        pace = listening_pace(conn, now)
    assert (pace.peak_plays_per_hour, pace.measured) == (60, True)
    assert interval_warning(pace, timedelta(minutes=30)) is None
    warning = interval_warning(pace, timedelta(hours=1))
    assert (
        warning is not None and "60 plays an hour" in warning and "sync every 50 minutes or less" in warning
    )


def test_the_lock_stays_held_through_a_step_longer_than_its_ttl(store: Store) -> None:
    from brapped.clock import SystemClock

    clock = SystemClock()
    attempts: list[str] = []

    def slow_sync() -> dict[str, Any]:
        wallclock.sleep(1.2)  # longer than the lock's 0.6 s: only the heartbeat thread keeps it
        try:
            with store.begin() as conn:
                acquire_lock(conn, "intruder", clock.now(), timedelta(seconds=5))
            attempts.append("taken")
        except SchedulerLocked:
            attempts.append("refused")
        return {}

    tight = schedule(heartbeat_every=timedelta(seconds=0.1), lock_ttl=timedelta(seconds=0.6))
    summary = Scheduler(store, clock, tight, Steps(sync=slow_sync)).run(once=True)
    assert attempts == ["refused"] and summary.syncs == 1
    with store.connect() as conn:
        assert conn.execute(select(tables.locks)).all() == []


def test_a_scheduler_whose_lock_was_taken_stops(sqlite_store: Store) -> None:
    from brapped.clock import SystemClock

    clock = SystemClock()

    def steal() -> dict[str, Any]:
        with sqlite_store.begin() as conn:
            conn.execute(tables.locks.update().values(owner="thief"))
        wallclock.sleep(0.5)
        return {}

    tight = schedule(
        sync_every=timedelta(seconds=0.2),
        heartbeat_every=timedelta(seconds=0.1),
        lock_ttl=timedelta(seconds=1),
    )
    with pytest.raises(SchedulerLocked, match="another scheduler took it"):
        Scheduler(sqlite_store, clock, tight, Steps(sync=steal)).run()
    with sqlite_store.connect() as conn:
        assert conn.execute(select(tables.runs.c.outcome)).scalar_one() == "failed"
        assert conn.execute(select(tables.locks.c.owner)).scalar_one() == "thief"  # not ours to release
