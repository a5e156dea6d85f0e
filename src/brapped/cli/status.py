"""`brapped status`: is collection healthy? Last sync, gaps, rate limits, token age, backlog."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from sqlalchemy import func, select

from brapped.cli.context import AppContext, emit_json, format_option, pass_app
from brapped.pipeline import backlog, resolve_progress, resume_after
from brapped.spotify import AuthRequired, TokenStore
from brapped.spotify.auth import REFRESH_TOKEN_LIFETIME_MONTHS, add_months
from brapped.store.runs import last_run
from brapped.store.tables import gaps, plays

TOKEN_WARNING_DAYS = 14


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z") if value else None


def collect_status(app: AppContext) -> dict[str, Any]:
    """The health report as data (what `status --format json` prints)."""
    now = app.clock.now()
    store = app.store()
    with store.connect() as conn:
        ok = last_run(conn, "sync", "ok")
        latest = last_run(conn, "sync")
        per_account = conn.execute(
            select(plays.c.user_id, func.count(), func.max(plays.c.played_at))
            .group_by(plays.c.user_id)
            .order_by(plays.c.user_id)
        ).all()
        open_gaps = conn.execute(
            select(gaps.c.user_id, gaps.c.gap_from, gaps.c.gap_to, gaps.c.filled_at).order_by(gaps.c.gap_from)
        ).all()
        waiting = resume_after(conn)
        work = backlog(conn)
        resolved, total = resolve_progress(conn)

    last_sync = None
    if ok is not None:
        at = ok["finished_at"] or ok["started_at"]
        last_sync = {"at": _iso(at), "age_seconds": int((now - at).total_seconds()), "run_id": ok["id"]}
    token: dict[str, Any] = {"present": False, "source": None, "issued_at": None, "expires_at": None}
    token["expires_in_days"] = None
    token["warning"] = None
    try:
        saved = TokenStore(app.settings.token_file).load()
    except AuthRequired as exc:
        saved, token["warning"] = None, str(exc)
    if saved is not None:
        expires = add_months(saved.issued_at, REFRESH_TOKEN_LIFETIME_MONTHS)
        days = (expires - now).total_seconds() / 86400
        token.update(
            present=True,
            source="auth" if saved.issued_at_known else "environment",
            user_id=saved.user_id,
            issued_at=_iso(saved.issued_at),
            issued_at_known=saved.issued_at_known,
            expires_at=_iso(expires),
            expires_in_days=int(days) if days >= 0 else int(days) - 1,
        )
        if days < 0:
            token["warning"] = "the Spotify authorisation has expired: run `brapped auth`"
        elif days < TOKEN_WARNING_DAYS:
            token["warning"] = f"the Spotify authorisation expires in {int(days)} days: run `brapped auth`"
    elif app.settings.refresh_token:
        token.update(present=True, source="environment")
    return {
        "now": _iso(now),
        "database": store.url,
        "last_sync": last_sync,
        "last_run": {
            "at": _iso(latest["started_at"]),
            "outcome": latest["outcome"],
            "message": latest["message"],
        }
        if latest
        else None,
        "accounts": [
            {"user_id": user, "plays": int(count), "newest_play": _iso(newest)}
            for user, count, newest in per_account
        ],
        "gaps": [
            {"user_id": user, "from": _iso(a), "to": _iso(b), "filled": filled is not None}
            for user, a, b, filled in open_gaps
        ],
        "resume_after": _iso(waiting) if waiting is not None and waiting > now else None,
        "token": token,
        "enrichment": {**work, "tracks_resolved": resolved, "tracks_total": total},
    }


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


@click.command("status")
@format_option
@pass_app
def status_command(app: AppContext, fmt: str) -> None:
    """Health of your collection: last successful sync and its age, plays per account, gaps that
    may be missing plays, a pending rate-limit wait, how long the Spotify authorisation has left
    (warns in its last 14 days), and the enrichment backlog."""
    data = collect_status(app)
    if fmt == "json":
        emit_json(app, data)
        return
    last = data["last_sync"]
    click.echo(
        f"Last sync:     {last['at']} ({_age(last['age_seconds'])})" if last else "Last sync:     never"
    )
    if data["last_run"] and data["last_run"]["outcome"] not in ("ok", None):
        click.echo(f"Last attempt:  {data['last_run']['outcome']}: {data['last_run']['message'] or ''}")
    for account in data["accounts"]:
        click.echo(
            f"Plays:         {account['plays']:,} for {account['user_id']} (newest {account['newest_play']})"
        )
    if not data["accounts"]:
        click.echo("Plays:         none yet")
    open_gaps = [g for g in data["gaps"] if not g["filled"]]
    click.echo(f"Gaps:          {len(open_gaps)} open" + (":" if open_gaps else ""))
    for gap in open_gaps:
        click.echo(f"  {gap['from']} .. {gap['to']}")
    if data["resume_after"]:
        click.echo(f"Rate limited:  next sync after {data['resume_after']}")
    token = data["token"]
    if token["expires_at"]:
        known = "" if token.get("issued_at_known", True) else " (estimated: token came from the environment)"
        click.echo(
            f"Authorisation: expires {token['expires_at'][:10]}, in {token['expires_in_days']} days{known}"
        )
    elif token["present"]:
        click.echo("Authorisation: from SPOTIFY_REFRESH_TOKEN (not used yet)")
    else:
        click.echo("Authorisation: none: run `brapped auth`")
    if token["warning"]:
        click.echo(f"Warning: {token['warning']}", err=True)
    e = data["enrichment"]
    click.echo(
        f"Enrichment:    {e['tracks_resolved']:,} of {e['tracks_total']:,} tracks resolved; "
        f"{e['artists']:,} artists and {e['albums']:,} albums without details"
    )


commands: list[click.Command] = [status_command]
