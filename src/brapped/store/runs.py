"""The `runs` table: a record of every sync, import, enrich, migrate and scheduler run.

A run that is killed (SIGKILL, power loss, out of memory) never writes its outcome. Each run records
its owner (`host`, `pid`) and how long it may go without a heartbeat (`stale_after_s`), so that
whoever reads runs (`brapped status`, the Data health page, the start of the next run) can tell a
run still going from one whose process is gone, and mark the latter `interrupted`
(`interrupt_stale_runs`). On this host the process table answers; a run of another host (a
PostgreSQL database shared by machines) is judged by its heartbeat alone.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update

from brapped.clock import human_duration
from brapped.store.tables import runs

RUNNING = "running"
INTERRUPTED = "interrupted"
# How long a run may go without a heartbeat before another host calls it interrupted. Imports beat
# between files, and one file (or a bulk load's closing index build) may take minutes on a long
# history; a scheduler gives its own bound (its lock's time to live). Syncs and enrichments write
# their row in one transaction with their work, so they are never seen running.
STALE_AFTER: dict[str, timedelta] = {
    "import": timedelta(minutes=30),
    "run": timedelta(minutes=5),
}
# For a kind not above, and for rows written before revision 0009 (no bound recorded).
DEFAULT_STALE_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class Owner:
    """The process that runs a run: its host name and process id."""

    host: str
    pid: int

    @classmethod
    def this_process(cls) -> Owner:
        return cls(socket.gethostname()[:255], os.getpid())


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (a zombie, killed but not yet reaped, does not).

    Where that cannot be asked without risk (Windows, where signalling kills), True: the heartbeat
    bound decides then."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    except OSError:
        return True
    try:
        # Linux: field 3 of /proc/PID/stat is the state; Z is a zombie (dead, waiting for its parent).
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def start_run(
    conn: Connection,
    kind: str,
    now: datetime,
    user_id: str | None = None,
    *,
    stale_after: timedelta | None = None,
    owner: Owner | None = None,
) -> int:
    """Insert a run with outcome 'running', owned by this process, and return its id.

    Runs of others found stale first become `interrupted` (`interrupt_stale_runs`). `stale_after`:
    how long this run may go without a heartbeat (default: by kind, `STALE_AFTER`). It reads, then
    writes: on SQLite call it in `Store.begin(immediate=True)`, or another writer's commit in
    between fails it at once."""
    interrupt_stale_runs(conn, now)
    who = owner or Owner.this_process()
    bound = stale_after or STALE_AFTER.get(kind, DEFAULT_STALE_AFTER)
    result = conn.execute(
        insert(runs).values(
            kind=kind,
            user_id=user_id,
            started_at=now,
            heartbeat_at=now,
            outcome=RUNNING,
            host=who.host,
            pid=who.pid,
            stale_after_s=max(1, int(bound.total_seconds())),
        )
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def finish_run(
    conn: Connection,
    run_id: int,
    now: datetime,
    outcome: str,
    counts: Mapping[str, Any] | None = None,
    message: str | None = None,
) -> None:
    """Record how a run ended. `outcome`: ok | partial | rate_limited | failed."""
    conn.execute(
        update(runs)
        .where(runs.c.id == run_id)
        .values(
            finished_at=now,
            heartbeat_at=now,
            outcome=outcome,
            counts=json.dumps(dict(counts), sort_keys=True, default=str) if counts is not None else None,
            message=message,
        )
    )


def record_run(
    conn: Connection,
    kind: str,
    started: datetime,
    finished: datetime,
    outcome: str,
    counts: Mapping[str, Any] | None = None,
    message: str | None = None,
    user_id: str | None = None,
) -> int:
    """Insert a finished run in one go (e.g. a failure recorded after the work rolled back)."""
    run_id = start_run(conn, kind, started, user_id)
    finish_run(conn, run_id, finished, outcome, counts, message)
    return run_id


def heartbeat(conn: Connection, run_id: int, now: datetime) -> None:
    """The run is alive at `now`."""
    conn.execute(update(runs).where(runs.c.id == run_id).values(heartbeat_at=now))


def stale_reason(
    row: Mapping[str, Any],
    now: datetime,
    here: Owner,
    alive: Callable[[int], bool] = process_alive,
) -> str | None:
    """Why a `running` run is stale at `now`, read on host `here`, or None while it may be going.

    On its own host a run lives as long as its process does (a run may be silent for long: a bulk
    load's closing index build). Elsewhere only the heartbeat tells: silent longer than its bound."""
    host, pid = row.get("host"), row.get("pid")
    if host == here.host and pid is not None:
        if pid != here.pid and not alive(int(pid)):
            return f"its process ({pid} on {host}) ended without finishing the run"
        return None
    bound = float(row.get("stale_after_s") or DEFAULT_STALE_AFTER.total_seconds())
    last = row.get("heartbeat_at") or row["started_at"]
    silent = (now - last).total_seconds()
    if silent <= bound:
        return None
    who = f" of process {pid} on {host}" if host else ""
    return f"no heartbeat{who} for {human_duration(silent)} (a run is given {human_duration(bound)})"


def interrupt_stale_runs(
    conn: Connection,
    now: datetime,
    *,
    here: Owner | None = None,
    alive: Callable[[int], bool] = process_alive,
) -> list[int]:
    """Mark every `running` run that is stale (`stale_reason`) `interrupted`, with the reason as its
    message and its last heartbeat (the last moment it was known alive) as its end. Returns their ids.

    Writes only when some run is stale, so a reader beside a busy run just reads."""
    who = here or Owner.this_process()
    columns = (
        runs.c.id,
        runs.c.host,
        runs.c.pid,
        runs.c.stale_after_s,
        runs.c.heartbeat_at,
        runs.c.started_at,
    )
    rows = conn.execute(select(*columns).where(runs.c.outcome == RUNNING)).mappings().all()
    marked: list[int] = []
    for row in rows:
        reason = stale_reason(dict(row), now, who, alive)
        if reason is None:
            continue
        done = conn.execute(
            update(runs)
            .where(runs.c.id == row["id"], runs.c.outcome == RUNNING)  # unless it finished meanwhile
            .values(
                outcome=INTERRUPTED,
                finished_at=row["heartbeat_at"] or row["started_at"],
                message=reason,
            )
        )
        if done.rowcount:
            marked.append(int(row["id"]))
    return marked


def last_run(conn: Connection, kind: str, outcome: str | None = None) -> Mapping[str, Any] | None:
    """The newest run of `kind` (optionally with that outcome), as a mapping, or None."""
    query = select(runs).where(runs.c.kind == kind)
    if outcome is not None:
        query = query.where(runs.c.outcome == outcome)
    row = conn.execute(query.order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(1)).mappings().first()
    return dict(row) if row is not None else None


def latest_runs(conn: Connection) -> dict[str, dict[str, Any]]:
    """The newest run of each kind, by kind, as mappings without `counts`."""
    newest: dict[str, dict[str, Any]] = {}
    kinds = conn.execute(select(runs.c.kind).distinct()).scalars().all()
    for kind in sorted(kinds):
        row = last_run(conn, kind)
        if row is not None:
            newest[kind] = {k: v for k, v in row.items() if k != "counts"}
    return newest
