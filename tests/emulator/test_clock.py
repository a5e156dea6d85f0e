"""The emulated clock: moves only when told to, never backwards by accident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from brapped.emulator import EmulatedClock
from brapped.emulator.clock import TickingClock


def test_emulated_clock_moves_only_when_told() -> None:
    clock = EmulatedClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock.now() == datetime(2026, 1, 1, tzinfo=UTC)
    clock.sleep(1.5)
    assert clock.now() == datetime(2026, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)
    assert clock.advance(timedelta(days=1)) == datetime(2026, 1, 2, 0, 0, 1, 500000, tzinfo=UTC)
    assert clock.set(datetime(2025, 6, 1, tzinfo=UTC)) == datetime(2025, 6, 1, tzinfo=UTC)
    clock.sleep(-3)  # a negative sleep is no sleep
    assert clock.now() == datetime(2025, 6, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set(datetime(2025, 6, 1))
    assert EmulatedClock().now().tzinfo is UTC


def test_ticking_clock_runs_and_jumps() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = TickingClock(start)
    first = clock.now()
    assert start <= first < start + timedelta(seconds=5)
    assert clock.advance(3600) >= start + timedelta(hours=1)
    assert clock.set(datetime(2027, 1, 1, tzinfo=UTC)) >= datetime(2027, 1, 1, tzinfo=UTC)
