"""`brapped accounts`: the household's accounts, and removing one."""

from __future__ import annotations

from typing import Any

import click

from brapped.cli.context import (
    AppContext,
    emit_json,
    emit_rows,
    format_option,
    minute_in,
    pass_app,
    safe,
    summary_format_option,
)
from brapped.pipeline.accounts import list_accounts, remove_account

COLUMNS = ("id", "display_name", "kind", "token_expires_at", "last_sync", "plays", "episode_plays", "status")


@click.group("accounts", invoke_without_command=True)
@format_option
@click.pass_context
def accounts_command(ctx: click.Context, fmt: str) -> None:
    """List every user in the database: id, display name, plays, the last successful sync, and
    status: import-only (plays from an export only), ok (brapped syncs it; with when its
    authorisation ends) or auth needed (Spotify refused its tokens: run `brapped auth`). CSV
    and JSON add the kind, the token's expiry and podcast plays as fields of their own.

    Add an account with `brapped auth` (each member signs in with their own Spotify account).
    """
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(AppContext)
    assert app is not None
    rows = list_accounts(app.store(), app.settings)
    if fmt != "table":
        emit_rows(app, fmt, rows, COLUMNS, json_data=rows)
        return
    if not rows:  # Rich draws nothing for a table without rows
        click.echo("No accounts yet: `brapped auth` adds one, `brapped import` a listener's export.")
        return
    # Five columns that fit 80: the id whole, each date a date, what the account needs in words.
    shown = [
        {
            "id": row["id"],
            "name": row["display_name"],
            "plays": row["plays"],
            "last sync": minute_in(row["last_sync"], app.settings.tz),
            "status": _status(row, app.settings.tz),
        }
        for row in rows
    ]
    emit_rows(app, fmt, shown, title="Accounts", whole=("id", "last sync"))


def _status(row: dict[str, Any], zone: str) -> str:
    """The account's status, with when its authorisation ends and any pause of its syncs."""
    status = str(row["status"])
    if row["token_expires_at"] is not None:
        status += f", tokens until {minute_in(row['token_expires_at'], zone)[:10]}"
    if row["resume_after"] is not None:
        status += f", syncs paused until {minute_in(row['resume_after'], zone)}"
    return status


@accounts_command.command("remove")
@click.argument("user_id", metavar="ID")
@click.option(
    "--delete-plays",
    is_flag=True,
    help="Also delete the account's plays, podcast plays, gaps and settings from the database.",
)
@summary_format_option
@pass_app
def remove_command(app: AppContext, user_id: str, delete_plays: bool, fmt: str) -> None:
    """Stop syncing account ID: delete its token file (its plays stay, as import-only, unless
    --delete-plays). Sign it out on Spotify too: spotify.com/account/apps."""
    result = remove_account(app.store(), app.settings, user_id, delete_plays=delete_plays)
    if fmt == "json":
        emit_json(app, result)
        return
    files = len(result["token_files_deleted"])
    if not files and not delete_plays:
        # An import-only listener: brapped already does not sync it. Exit 0: asking again is harmless.
        click.echo(
            f"Nothing to remove: {safe(user_id)} has no tokens, so brapped does not sync it; its plays "
            "stay (add --delete-plays to delete them)."
        )
        return
    done = [f"{files} token file{'s' if files != 1 else ''} deleted"] if files else []
    if delete_plays:
        done.append(f"{result['plays_deleted']:,} plays deleted")
    click.echo(f"Removed {safe(user_id)}: {', '.join(done)}.")


commands: list[click.Command] = [accounts_command]
