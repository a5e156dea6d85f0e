"""Commands of this group are being built (see the issue tracker); nothing is registered yet."""

from __future__ import annotations

import click

commands: list[click.Command] = []
