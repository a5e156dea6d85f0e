"""What every command shares: settings, the open store, the clock, output formats, errors."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from brapped.clock import Clock, SystemClock
from brapped.config import ConfigError, Settings, load_settings, make_home
from brapped.logs import escape_controls
from brapped.serialise import instant_text, json_bytes
from brapped.store import Store, StoreError, open_store
from brapped.store.engine import parse_url

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("table", "json", "csv")
SUMMARY_FORMATS = ("table", "json")


@dataclass
class AppContext:
    """Built once per invocation from the global options; commands ask it for what they need."""

    flags: dict[str, Any] = field(default_factory=dict)
    home: Path | None = None
    clock: Clock = field(default_factory=SystemClock)
    _settings: Settings | None = None
    _store: Store | None = None
    out: Console = field(default_factory=lambda: Console(soft_wrap=True))
    err: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True))

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            settings = load_settings(self.flags, home=self.home)
            if settings.database_url:
                _check_database_url(settings)
            self._settings = settings
        return self._settings

    def store(self, *, migrate: bool = True, memory_map: bool = True) -> Store:
        """The database, opened (and migrated) on first use; closed when the command ends.
        `memory_map`: see `store.open_store` (a command that only writes, the import, goes without)."""
        if self._store is None:
            url = self.settings.db_url
            if url.startswith("sqlite:///") and self.settings.database_url is None:
                # The default database lives in home: create home on first use.
                make_home(self.settings.home)
            self._store = open_store(url, migrate=migrate, memory_map=memory_map)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


pass_app = click.make_pass_decorator(AppContext)


def _check_database_url(settings: Settings) -> None:
    """Every command, even `config show`, stops at a malformed database URL with one line naming
    the problem and where the URL came from, its password masked."""
    origin = {"flag": "--db", "env": "BRAPPED_DATABASE_URL"}.get(
        settings.sources["database_url"], str(settings.config_file)
    )
    try:
        parse_url(str(settings.database_url))
    except StoreError as exc:
        raise ConfigError(f"database_url from {origin}: {exc}") from exc


def _format_choice(choices: Sequence[str]) -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default="table",
        show_default=True,
        help="Output format.",
    )


def format_option(func: F) -> F:
    """`--format table|json|csv` for every command that outputs data."""
    return _format_choice(FORMATS)(func)


def summary_format_option(func: F) -> F:
    """`--format table|json` for commands that print a summary or a few lines, not rows: CSV would
    only repeat the text, so it is not offered."""
    return _format_choice(SUMMARY_FORMATS)(func)


def to_json(data: Any) -> str:
    """JSON text for data holding datetimes, dates, decimals and dataclasses; DEL and the C1
    controls inside strings written as `\\u00NN` escapes (the encoder escapes only C0 ones)."""
    return json_bytes(data, indent=True).decode().translate(_JSON_CONTROL)


def emit_json(app: AppContext, data: Any) -> None:
    click.echo(to_json(data))


def local_minute(iso: str | None) -> str:
    """A report's local instant (ISO text with its offset) to the minute, as a terminal shows it:
    "2025-11-07 16:38", the zone being the report's."""
    return "" if iso is None else datetime.fromisoformat(iso).strftime(_MINUTE)


def minute_in(value: datetime | None, zone: str) -> str:
    """An instant to the minute in `zone`, as `local_minute` shows a report's."""
    return "" if value is None else value.astimezone(ZoneInfo(zone)).strftime(_MINUTE)


_MINUTE = "%Y-%m-%d %H:%M"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _bool(value)
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, datetime):
        return instant_text(value, "auto")
    return str(value)


def emit_rows(
    app: AppContext,
    fmt: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    title: str | None = None,
    json_data: Any = None,
    whole: Sequence[str] = (),
) -> None:
    """Rows as a Rich table, CSV, or JSON (`json_data` replaces the rows as the JSON document).
    `whole`: columns kept on one line while the others still have room (ids to type into other
    commands). Nothing is cut with "…": what does not fit is folded onto the next line."""
    if fmt == "json":
        emit_json(app, rows if json_data is None else json_data)
        return
    cols = list(columns) if columns else (list(rows[0].keys()) if rows else [])
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(cols)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else _csv_text(row.get(c)) for c in cols])
        click.echo(buffer.getvalue(), nl=False)
        return
    heading = plain(title) if title is not None else None
    table = Table(title=heading, title_justify="left", header_style="bold")
    headers = [plain(col.replace("_", " ")) for col in cols]
    cells = [[plain(_cell(row.get(c))) for c in cols] for row in rows]
    numbers = [i for i, c in enumerate(cols) if _numeric(row.get(c) for row in rows)]
    kept = [i for i, c in enumerate(cols) if c in whole]
    widths = _pinned_widths(
        [h.plain for h in headers], [[c.plain for c in r] for r in cells], (numbers, kept), app.out.width
    )
    for index, header in enumerate(headers):
        # Folded, never cut with "…": a name, an id or a URL cut short reads as another one.
        table.add_column(header, overflow="fold", width=widths.get(index))
    for row_cells in cells:
        table.add_row(*row_cells)
    app.out.print(table)


_FLEX_MIN = 5  # the fewest characters a line of a name gets before ids and numbers are folded too


def _numeric(values: Any) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)


def _pinned_widths(
    headers: Sequence[str], cells: Sequence[Sequence[str]], groups: Sequence[Sequence[int]], width: int
) -> dict[int, int]:
    """Fixed widths for the columns a narrow terminal must not break: numbers, then `whole` ones,
    each group only while the other columns keep some room (without it Rich gave them none)."""

    def value_width(index: int) -> int:
        return max([1, *(cell_len(row[index]) for row in cells)])

    def natural(index: int) -> int:
        return max([cell_len(headers[index]), *(cell_len(row[index]) for row in cells)])

    room = width - 3 * len(headers) - 1  # a border and two spaces of padding per column
    if sum(natural(i) for i in range(len(headers))) <= room:
        return {}  # everything fits on one line as it is
    pinned: dict[int, int] = {}
    for group in groups:
        # The header's longest word on one line too if there is room for it, else the values only.
        for with_header in (True, False):
            trial = dict(pinned)
            for index in group:
                words = headers[index].split() if with_header else []
                trial[index] = max([value_width(index), *(cell_len(w) for w in words)])
            rest = sum(min(natural(i), _FLEX_MIN) for i in range(len(headers)) if i not in trial)
            if sum(trial.values()) + rest <= room:
                pinned = trial
                break
    return pinned


def _bool(value: bool) -> str:
    # As JSON and config.toml write it: Python's "True" is no value config.toml takes.
    return "true" if value else "false"


def _csv_cell(value: Any) -> Any:
    if isinstance(value, bool):
        return _bool(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, datetime):
        return instant_text(value, "auto")
    return value


# What makes a spreadsheet read a cell as a formula (the full-width forms too: Excel in some
# locales takes those as the ASCII ones).
_FORMULA_START = tuple("=+-@\uff1d\uff0b\uff0d\uff20")


def _csv_text(value: Any) -> str:
    """A CSV cell as text: controls escaped (`safe`), and a name that a spreadsheet would run as a
    formula (anyone can publish a track called `=HYPERLINK(...)`) behind a `'`, as OWASP advises.
    Numbers, and text that is a plain number, stay as they are."""
    text = safe(str(_csv_cell(value)))
    if isinstance(value, str) and text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# In JSON DEL and the C1 controls keep their value as escapes: a C1 CSI (U+009B) is as live on a
# terminal as ESC [, and the encoder escapes only the C0 ones; bidirectional overrides likewise.
_JSON_CONTROL = {
    c: f"\\u{c:04x}" for c in [127, *range(128, 160), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
}


def safe(text: str | None) -> str:
    """`text` with control characters shown as `\\xNN` (`logs.escape_controls`): names come from
    Spotify, from export files anyone can craft and from the user."""
    return escape_controls(text or "")


def plain(text: str | None) -> Text:
    """Data for a Rich console as literal text: no markup (`[/]`, `[link=...]`), no `:emoji:` codes,
    no control characters. Everything the CLI hands to Rich goes through here."""
    return Text(safe(text))


def printable_text(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback refusing NUL and other control characters in free text (PostgreSQL cannot even
    compare a NUL, and no name in Spotify's catalogue has one)."""
    if value is not None and any(ord(ch) < 32 for ch in value):
        raise click.BadParameter("must not contain control characters")
    return value
