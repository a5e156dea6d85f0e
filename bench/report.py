"""The one interface every benchmark module implements, and how results become docs/benchmarks.md.

A benchmark module (`bench/<name>_bench.py`) exposes:

    TITLE: str                       # section heading in docs/benchmarks.md
    NOTES: str = ""                  # optional markdown shown under the heading (method, sizes, caveats)
    def run(quick: bool) -> list[Result]: ...

`run` does its own repetitions and reports medians (see `measure`), and measures each baseline in the
same run, on the same data, so ratios compare like with like on whatever machine ran them. `quick`
means tiny sizes and one repetition: it only proves the benchmark still works (tests/bench/).
"""

from __future__ import annotations

import gc
import math
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Result:
    """One figure. `baseline` is the same measure of the reference (pandas, the minimum possible...)
    taken in the same run; `ratio` says how much better brapped is (> 1 = better), computed by the
    module because only it knows whether bigger is better for this unit."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    ratio: float | None = None
    notes: str = ""
    samples: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "notes": self.notes,
            "samples": self.samples,
        }


def faster_ratio(value: float, baseline: float) -> float:
    """Ratio for "smaller is better" units (seconds, MB, calls): baseline / value."""
    return baseline / value if value else float("inf")


def higher_ratio(value: float, baseline: float) -> float:
    """Ratio for "bigger is better" units (plays per second): value / baseline."""
    return value / baseline if baseline else float("inf")


def measure(action: Callable[[], Any], repeat: int) -> tuple[float, list[float]]:
    """Median wall-clock seconds of `action` over `repeat` runs, and every sample."""
    samples: list[float] = []
    for _ in range(max(1, repeat)):
        gc.collect()
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), samples


def percentile(samples: list[float], pct: float) -> float:
    """The `pct` percentile (0-100) by nearest rank, for latency p50/p95."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory of this process (or of its waited-for children) in MB.

    The peak of a process never goes down: measure memory in a fresh subprocess (see
    `bench.import_bench`) when several figures share one interpreter.
    """
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    peak = resource.getrusage(who).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


class Unavailable(Exception):
    """A service a benchmark needs (PostgreSQL) cannot be reached: report it as skipped."""


def postgres_admin_url() -> str:
    """Where benchmarks create their PostgreSQL databases (env BRAPPED_BENCH_POSTGRES_URL)."""
    import os

    return os.environ.get("BRAPPED_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)


@contextmanager
def postgres_database(prefix: str = "brapped_bench") -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one benchmark; dropped afterwards.

    Raises `Unavailable` when the server cannot be reached.
    """
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = make_url(postgres_admin_url()).set(drivername="postgresql+psycopg")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        engine.dispose()
        raise Unavailable(f"PostgreSQL not reachable at {postgres_admin_url()}: {exc}") from exc
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
