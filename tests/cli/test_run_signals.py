"""`brapped run`'s stop request: heard at once even while the main thread waits inside SQLite."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

# The main thread blocks in SQLite's busy wait (C code: no Python signal handler runs there) while
# another connection holds the write lock for HOLD seconds; then, after the stop, it loops in Python.
SCRIPT = """
import json, sqlite3, sys, threading, time
from brapped.cli.run import configure_event_logging, stop_on_signals

configure_event_logging("json")
db, hold = sys.argv[1], float(sys.argv[2])
holder = sqlite3.connect(db, isolation_level=None)
holder.execute("CREATE TABLE t (x)")
holder.execute("BEGIN IMMEDIATE")
waiter = sqlite3.connect(db, timeout=hold, isolation_level=None)
stop = threading.Event()
with stop_on_signals(stop):
    print("waiting", flush=True)
    started = time.monotonic()
    try:
        waiter.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        pass
    blocked = time.monotonic() - started
    print(json.dumps({"blocked": blocked, "stop": stop.is_set()}), flush=True)
    try:
        while True:  # a step that goes on: only a second signal ends it
            time.sleep(0.05)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
"""

HOLD = 6.0


def _line(proc: subprocess.Popen[str], stream: str, timeout: float) -> str:
    """The next line of the child's stdout or stderr, or "" when none came within `timeout`."""
    pipe = getattr(proc, stream)
    with selectors.DefaultSelector() as selector:
        selector.register(pipe, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return str(pipe.readline())


def test_a_stop_request_is_heard_while_the_main_thread_waits_in_sqlite(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "locked.db"), str(HOLD)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert _line(proc, "stdout", 30) == "waiting\n"
        time.sleep(0.5)  # into the busy wait
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        logged = _line(proc, "stderr", HOLD / 2)
        heard_after = time.monotonic() - sent
        # Logged while the main thread was still blocked: the wait lasts HOLD seconds.
        assert json.loads(logged)["event"] == "scheduler.stopping", logged
        assert json.loads(logged)["signal"] == "SIGTERM"
        assert heard_after < HOLD / 2
        after_wait = json.loads(_line(proc, "stdout", 30))
        assert after_wait["stop"] is True and after_wait["blocked"] >= HOLD - 1
        proc.send_signal(signal.SIGINT)  # the second request interrupts the step in progress
        assert _line(proc, "stdout", 30) == "interrupted\n"
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
