"""Wall time and peak memory of a command and every process it starts, as a user would see them.

`ru_maxrss` of children is no use here: a child started by `vfork`/`posix_spawn` inherits its
parent's figure, and it only reports the largest child, not what the tree held at once. Instead the
tree is sampled from /proc while it runs: each process's VmHWM (its own peak, kept by the kernel, so
a short spike between samples is not missed) and the sum of VmRSS over the live processes.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SAMPLE_SECONDS = 0.01


@dataclass(frozen=True)
class Measure:
    seconds: float
    # The largest sum of VmRSS over the tree seen at one sample: what the machine had to hold at once.
    at_once_mb: float
    # The sum of every process's own peak (VmHWM): an upper bound of `at_once_mb`.
    summed_peaks_mb: float
    processes: int
    stdout: str


def _status_kb(pid: int, field: str) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return None


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def _tree(root: int) -> list[int]:
    pids, queue = [], [root]
    while queue:
        pid = queue.pop()
        pids.append(pid)
        queue.extend(_children(pid))
    return pids


def run_measured(
    argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Measure:
    """Run `argv` to completion; raise RuntimeError with the end of its stderr when it fails."""
    # Output to files, not pipes: a command that writes more than a pipe holds (a progress bar on a
    # long import) would block until someone reads it, and nobody does before it exits.
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(argv), env=dict(env) if env is not None else None, cwd=cwd, stdout=out_file, stderr=err_file
        )
        peaks: dict[int, int] = {}
        at_once = 0
        while process.poll() is None:
            total = 0
            for pid in _tree(process.pid):
                rss = _status_kb(pid, "VmRSS:")
                hwm = _status_kb(pid, "VmHWM:")
                if rss is not None:
                    total += rss
                if hwm is not None:
                    peaks[pid] = max(peaks.get(pid, 0), hwm)
            at_once = max(at_once, total)
            time.sleep(SAMPLE_SECONDS)
        seconds = time.perf_counter() - started
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    if process.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {process.returncode}: {err.decode()[-2000:]}")
    return Measure(
        seconds=seconds,
        at_once_mb=at_once / 1024,
        summed_peaks_mb=max(sum(peaks.values()), at_once) / 1024,
        processes=len(peaks),
        stdout=out.decode(),
    )
