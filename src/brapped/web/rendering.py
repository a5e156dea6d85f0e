"""How the pages are rendered: the Jinja environment, escaping everything, and its number filters."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from brapped.web.bidi import bdi, initial
from brapped.web.encoding import jsonable

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _minutes(value: Any) -> str:
    """Minutes as a readable amount: 1,234 min, or 12.5 min under a hundred."""
    if value is None:
        return "–"
    number = float(value)
    return f"{number:,.0f}" if number >= 100 else f"{number:,.1f}".rstrip("0").rstrip(".")


def _hours(value: Any) -> str:
    if value is None:
        return "–"
    total = float(value)
    return f"{total / 60:,.1f} h" if total >= 60 else f"{total:,.0f} min"


def _number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{int(value):,}"


def _percent(value: Any) -> str:
    if value is None:
        return "–"
    return f"{float(value) * 100:.0f}%"


def _signed_percent(value: Any) -> str:
    if value is None:
        return "–"
    return f"{float(value) * 100:+.0f}%"


def _when(value: Any) -> str:
    """An instant as 'YYYY-MM-DD HH:MM UTC' (or a date as is)."""
    if value is None:
        return "never"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return str(value)


def environment() -> jinja2.Environment:
    """The templates' environment, with the filters they format numbers and instants with."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        # Every value from the data is escaped: names can contain HTML.
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        minutes=_minutes,
        hours=_hours,
        number=_number,
        percent=_percent,
        signed_percent=_signed_percent,
        when=_when,
        jsonable=jsonable,
        bdi=bdi,
        initial=initial,
    )
    return env
