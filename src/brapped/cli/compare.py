"""`brapped compare A B`: two listeners of the household side by side."""

from __future__ import annotations

from typing import Any

import click

from brapped.cli.context import AppContext, emit_json, emit_rows, format_option, pass_app
from brapped.cli.report import PERIOD_HELP, period_option
from brapped.insights import compare


def compare_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The comparison as rows (table and CSV): one per shared artist, then one per artist only one
    of them plays; the score and counts are in the title (table) or every row (CSV)."""
    a, b = data["a"]["user_id"], data["b"]["user_id"]
    rows: list[dict[str, Any]] = []
    for item in data["top_shared_artists"]:
        rows.append(
            {
                "kind": "shared artist",
                "name": item["name"],
                f"plays_{a}": item["plays_a"],
                f"plays_{b}": item["plays_b"],
                "first": item["discovered_first_by"],
            }
        )
    for item in data["top_shared_tracks"]:
        rows.append(
            {
                "kind": "shared track",
                "name": item["name"],
                f"plays_{a}": item["plays_a"],
                f"plays_{b}": item["plays_b"],
            }
        )
    for key, user in (("only_a", a), ("only_b", b)):
        for item in data[key]:
            rows.append({"kind": f"only {user}", "name": item["name"], f"plays_{user}": item["plays"]})
    for row in rows:
        row["score"] = data["score"]
        row["shared_artists"] = data["shared_artists"]
    return rows


@click.command("compare")
@click.argument("user_a", metavar="A")
@click.argument("user_b", metavar="B")
@click.option("--period", metavar="PERIOD", help=PERIOD_HELP)
@click.option(
    "--limit", default=10, show_default=True, type=click.IntRange(1, 100), help="Length of each list."
)
@format_option
@pass_app
def compare_command(
    app: AppContext, user_a: str, user_b: str, period: str | None, limit: int, fmt: str
) -> None:
    """Compare listeners A and B (user ids, see `brapped accounts`): a compatibility score 0-100 (the
    same both ways), how many artists they share, their top shared artists and tracks, who discovered
    each shared artist first, and what each plays that the other does not."""
    chosen = period_option(app, period)
    with app.store().connect() as conn:
        data = compare(conn, user_a, user_b, chosen, limit=limit)
    if fmt == "json":
        emit_json(app, data)
        return
    if fmt == "table" and chosen is not None and not data["a"]["plays"] and not data["b"]["plays"]:
        # As the party says "nobody listened": a score of 0 and no rows would read as nothing shared.
        click.echo(f"{user_a} and {user_b}: neither listened from {chosen.start} to {chosen.end}.")
        return
    rows = compare_rows(data)
    columns = ["kind", "name", f"plays_{user_a}", f"plays_{user_b}", "first"]
    if fmt == "csv":
        columns += ["score", "shared_artists"]
    title = (
        f"{user_a} and {user_b}: compatibility {data['score']}/100, {data['shared_artists']} shared artists, "
        f"{data['shared_tracks']} shared tracks"
    )
    emit_rows(app, fmt, rows, columns, title=title)


commands: list[click.Command] = [compare_command]
