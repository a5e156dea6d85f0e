"""The CLI's one progress bar: a label, the bar, done/total and the time elapsed, on stderr."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from brapped.cli.context import AppContext, safe

StageUpdate = Callable[[str, int, int], None]


def progress_bar(
    app: AppContext, *, label: str = "{task.description}", suffix: str | None = None, transient: bool = True
) -> Progress:
    """A Rich progress bar on the command's stderr console; `label` and `suffix` are column templates.

    Descriptions are text, not markup: they hold file names and stage names."""
    columns = [TextColumn(label, markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    if suffix is not None:
        columns.append(TextColumn(suffix, markup=False))
    return Progress(*columns, console=app.err, transient=transient)


@contextmanager
def stage_bars(
    app: AppContext,
    *,
    describe: Callable[[str], str] = str,
    label: str = "{task.description}",
    transient: bool = True,
) -> Iterator[StageUpdate]:
    """A running bar with one row per stage; yields the (stage, done, total) callback that draws it."""
    with progress_bar(app, label=label, transient=transient) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(safe(describe(stage)), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update
