"""Reading and staging import files in a worker process while this one loads the previous file.

Parsing a file and turning its plays into staging rows is Python work bound to one core; loading
them is mostly SQLite's or PostgreSQL's. With the two in separate processes a bulk import keeps two
cores busy. A worker `prepare`s each file for the loader's database (`brapped.imports.staging`);
it never opens the user's database. The loader decides what the plays mean against it
(`brapped.pipeline.import_load`), and prepares a file itself (`prepare`, in its own process) when
it would otherwise wait for the worker (`brapped.pipeline.readahead`).

This module is what a worker imports: it stays light (no SQLAlchemy) so a worker starts quickly.
"""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
import threading
from concurrent.futures import Future
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import IO, BinaryIO

from brapped.imports import ParsedFile, Skipped, Source, parse_file
from brapped.imports.staging import CopyFile, StagedFile, copy_text, stage

Prepared = StagedFile | CopyFile | ParsedFile | Skipped


def prepare(source: Source, now: datetime, keep_personal: bool, dialect: str, user_id: str) -> Prepared:
    """Read and parse one file, and make its plays ready for the loader of `dialect` (in a worker,
    or in the loader when it has nothing else to do); raises `ImportFileError` as `parse_file` does.

    SQLite takes a staging image (`stage`). PostgreSQL takes the plays as columns and their COPY
    text (`CopyFile`) when the file's music came as columns, else the parsed rows: the loader
    spent a third of a bulk load unpickling rows and building the text while the server waited.
    """
    parsed = parse_file(source.name, source.read(), now, keep_personal=keep_personal, columns=True)
    if isinstance(parsed, Skipped):
        return parsed
    if dialect == "sqlite":
        return stage(parsed)
    columns = parsed.music_columns
    if columns is None:
        return parsed
    return CopyFile(parsed, copy_text(columns, user_id))


class WorkerGone(Exception):
    """The worker process ended before answering (killed, crashed, or never started)."""


class Readers:
    """Worker processes preparing files (`prepare`) ahead of the loader, in turn; a context manager."""

    def __init__(self, workers: int) -> None:
        self._workers: list[WorkerProcess] = []
        try:
            for _ in range(workers):
                self._workers.append(WorkerProcess())
        except BaseException:
            self.close()
            raise
        self._turn = 0

    def __enter__(self) -> Readers:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def submit(
        self, source: Source, now: datetime, keep_personal: bool, dialect: str, user_id: str
    ) -> Future[Prepared]:
        """The outcome of `prepare(...)` in a worker, later; its error if the worker raised one."""
        worker = self._workers[self._turn % len(self._workers)]
        self._turn += 1
        return worker.submit(source, now, keep_personal, dialect, user_id)

    def close(self, now: bool = False, wait: bool = True) -> None:
        """End the workers (`now`: without waiting for the file in hand; `wait=False`: see
        `WorkerProcess.close`)."""
        for worker in self._workers:
            worker.close(now, wait)


class WorkerProcess:
    """One worker process preparing files (`prepare`) in the order they are submitted.

    The worker is `python -m brapped.imports.worker`, a fresh interpreter that reads pickled jobs
    on its stdin and writes pickled outcomes on its stdout, after a marker (`READY`); whatever
    else its code writes there goes to its stderr. Not `multiprocessing`: its spawn mode
    runs the caller's main module again in the child (a script without a `__main__` guard would
    import again, recursively), and fork would copy this process's database connections and
    threads into the child. When this process dies the worker reads the end of its input and exits.
    """

    def __init__(self) -> None:
        # The worker finds brapped where this process found it, installed or not.
        root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "brapped.imports.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # The library prints nothing: what goes wrong in a worker shows as its file read here
            # instead (and logged by the loader).
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self._futures: dict[int, Future[Prepared]] = {}
        self._lock = threading.Lock()
        self._next = 0
        self._gone = False  # no more outcomes will be read: a job submitted now fails at once
        self._collector = threading.Thread(target=self._collect, name="brapped-import-worker", daemon=True)
        self._collector.start()

    def submit(
        self, source: Source, now: datetime, keep_personal: bool, dialect: str, user_id: str
    ) -> Future[Prepared]:
        """The outcome of `prepare(...)` in the worker, later; its error if the worker raised one."""
        future: Future[Prepared] = Future()
        with self._lock:
            if self._gone:
                future.set_exception(WorkerGone("the import worker process ended"))
                return future
            key, self._next = self._next, self._next + 1
            self._futures[key] = future
        try:
            job = pickle.dumps((key, source, now, keep_personal, dialect, user_id), pickle.HIGHEST_PROTOCOL)
            stdin = self._process.stdin
            assert stdin is not None
            stdin.write(job)
            stdin.flush()
        except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
            # A source that cannot travel (its reader is a closure) or a worker that is gone (and
            # the collector may have failed the future already).
            with self._lock:
                mine = self._futures.pop(key, None) is not None
            if mine:
                future.set_exception(exc)
        return future

    def _collect(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        readable = _skip_to_ready(stdout)
        while readable:
            try:
                key, failed, value = pickle.load(stdout)
                with self._lock:
                    future = self._futures.pop(key)
            except EOFError:
                break
            except Exception:
                # Bytes that are no outcome (whatever pickle makes of them, or one of no job):
                # nothing more can be read after them.
                readable = False
                break
            if failed:
                future.set_exception(value)
            else:
                future.set_result(value)
        if not readable:
            # The worker is ended (it would go on with jobs whose outcomes nobody reads) and its
            # files are read here.
            with suppress(OSError):
                self._process.kill()
        with self._lock:
            left, self._futures, self._gone = list(self._futures.values()), {}, True
        for future in left:
            future.set_exception(WorkerGone("the import worker process ended"))

    def kill(self) -> None:
        """End the process at once, whatever file it has in hand (its outcome never comes)."""
        self._process.kill()

    def close(self, now: bool = False, wait: bool = True) -> None:
        """End the worker: it finishes the file in hand, sees the end of its input and exits
        (`now`: killed instead). `wait=False`: only that, without waiting for its exit, which a
        later `close` waits for."""
        if self._process.stdin is not None:
            with suppress(OSError):
                self._process.stdin.close()
        if now:
            self.kill()
        if not wait:
            return
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._collector.join()
        if self._process.stdout is not None:
            self._process.stdout.close()


# What a worker writes before its first outcome: what came before it (a banner printed by a
# `sitecustomize` at the interpreter's start, say) is not read as an outcome.
READY = b"\0brapped import worker ready\0"


def _skip_to_ready(stream: IO[bytes], limit: int = 1 << 20) -> bool:
    """Read `stream` up to and including `READY`; False when it ends, or `limit` bytes pass, first."""
    window = b""
    for _ in range(limit):
        byte = stream.read(1)
        if not byte:
            return False
        window = (window + byte)[-len(READY) :]
        if window == READY:
            return True
    return False


def _serve(jobs: BinaryIO, outcomes: BinaryIO) -> None:
    """The worker's loop: a job in, its outcome out, until the input ends."""
    outcomes.write(READY)
    outcomes.flush()
    # Rows, tuples and strings by the hundred thousand and no reference cycles: the cycle
    # collector would only rescan them. A worker lives for one import; reference counting frees
    # each file's objects.
    gc.disable()
    while True:
        try:
            key, source, now, keep_personal, dialect, user_id = pickle.load(jobs)
        except EOFError:
            return
        answer: tuple[int, bool, object]
        try:
            answer = (key, False, prepare(source, now, keep_personal, dialect, user_id))
        except Exception as exc:  # the caller sees it as `prepare`'s own error
            answer = (key, True, exc)
        try:
            data = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            data = pickle.dumps((key, True, WorkerGone(f"the outcome could not be sent back: {exc}")))
        outcomes.write(data)
        outcomes.flush()


if __name__ == "__main__":
    # Through the module's importable name: what it pickles must name `brapped.imports.worker`
    # classes, not this `__main__`'s copies.
    from brapped.imports import worker

    # The outcomes get a descriptor of their own, and anything else written to standard output
    # (a library's print, C code writing to descriptor 1) goes to standard error instead.
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    with suppress(BrokenPipeError, KeyboardInterrupt):
        worker._serve(sys.stdin.buffer, channel)
