"""`brapped status`: is collection healthy? Last sync, gaps, rate limits, token age, backlog."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from brapped.cli.context import AppContext, emit_json, local_minute, pass_app, safe, summary_format_option
from brapped.pipeline.accounts import needing_auth
from brapped.pipeline.health import collection_status, settle_runs
from brapped.serialise import instant_text


def _isos(data: Any) -> Any:
    """Every datetime in `data` as ISO text with milliseconds and Z (the documented JSON form)."""
    if isinstance(data, datetime):
        return instant_text(data)
    if isinstance(data, dict):
        return {key: _isos(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_isos(value) for value in data]
    return data


def collect_status(app: AppContext) -> dict[str, Any]:
    """The health report as data (what `status --format json` prints)."""
    store = app.store()
    now = app.clock.now()
    settle_runs(store, now)
    with store.connect() as conn:
        data = collection_status(
            conn, app.settings.token_file, now, env_refresh_token=bool(app.settings.refresh_token)
        )
        # A household: accounts whose authorisation Spotify refused (the others still sync).
        data["auth_needed"] = needing_auth(conn)
    return {"database": store.url, **_isos(data)}


def _minute(iso: str | None) -> str:
    """An instant of the JSON form ("2026-12-07T11:00:00.000Z") as a terminal shows it."""
    return "" if iso is None else f"{local_minute(iso)} UTC"


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


@click.command("status")
@summary_format_option
@pass_app
def status_command(app: AppContext, fmt: str) -> None:
    """Health of your collection: last successful sync and its age, plays per account, gaps that
    may be missing plays, a pending rate-limit wait, how long the Spotify authorisation has left
    (warns in its last 14 days), the enrichment backlog, and MusicBrainz coverage (artists mapped,
    with genres, unmapped and why, due for a lookup)."""
    data = collect_status(app)
    if fmt == "json":
        emit_json(app, data)
        return
    last = data["last_sync"]
    click.echo(
        f"Last sync:     {_minute(last['at'])} ({_age(last['age_seconds'])})"
        if last
        else "Last sync:     never"
    )
    if data["last_run"] and data["last_run"]["outcome"] not in ("ok", None):
        click.echo(f"Last attempt:  {data['last_run']['outcome']}: {safe(data['last_run']['message'])}")
    for kind, run in data["runs"].items():
        # A sync's outcome is the line above; an import or scheduler run still going, or killed:
        if kind != "sync" and run["outcome"] in ("running", "interrupted"):
            detail = (
                safe(run["message"])
                if run["outcome"] == "interrupted"
                else f"since {_minute(run['started_at'])}"
            )
            click.echo(f"{'Last ' + kind + ':':<15}{run['outcome']}: {detail}")
    for account in data["accounts"]:
        who, newest = safe(account["user_id"]), _minute(account["newest_play"])
        click.echo(f"Plays:         {account['plays']:,} for {who} (newest {newest})")
    if not data["accounts"]:
        click.echo("Plays:         none yet")
    open_gaps = [g for g in data["gaps"] if not g["filled"]]
    click.echo(f"Gaps:          {len(open_gaps)} open" + (":" if open_gaps else ""))
    for gap in open_gaps:
        click.echo(f"  {_minute(gap['from'])} .. {_minute(gap['to'])}")
    if data["resume_after"]:
        click.echo(f"Rate limited:  next sync after {_minute(data['resume_after'])}")
    token = data["token"]
    if token["expires_at"]:
        known = "" if token["issued_at_known"] else " (estimated: token came from the environment)"
        click.echo(
            f"Authorisation: expires {token['expires_at'][:10]}, in {token['expires_in_days']} days{known}"
        )
    elif token["present"]:
        click.echo("Authorisation: from SPOTIFY_REFRESH_TOKEN (not used yet)")
    else:
        click.echo("Authorisation: none: run `brapped auth`")
    if token["warning"]:
        click.echo(f"Warning: {token['warning']}", err=True)
    for refused in data["auth_needed"]:
        click.echo(
            f"Warning: account {safe(refused['user_id'])} needs `brapped auth`: {safe(refused['problem'])}",
            err=True,
        )
    e = data["enrichment"]
    click.echo(
        f"Enrichment:    {e['tracks_resolved']:,} of {e['tracks_total']:,} tracks resolved; "
        f"{e['artists']:,} artists and {e['albums']:,} albums without details"
    )
    m = data["musicbrainz"]
    why = ", ".join(f"{n:,} {reason.replace('_', ' ')}" for reason, n in m["unmapped"].items()) or "none"
    click.echo(
        f"MusicBrainz:   {m['mapped']:,} of {m['artists']:,} artists mapped, "
        f"{m['with_genres']:,} with genres; unmapped: {why}; {m['due']:,} due for a lookup"
    )
    if m["last_run"] and m["last_run"]["outcome"] not in ("ok", None):
        click.echo(f"               last pass {m['last_run']['outcome']}: {safe(m['last_run']['message'])}")
    s = data["summaries"]
    if not s["built"]:
        state = "not built (all-time reports read every play; `brapped run` and the dashboard build them)"
    elif s["stale"]:
        state = "stale: older plays changed (reports read every play until `brapped run` rebuilds them)"
    else:
        state = (
            f"fresh: plays before {str(s['cutoff'])[:10]} summed for {s['tracks']:,} tracks "
            f"({s['timezone']}); reports of closed periods kept: {s['kept_reports']:,}"
        )
    click.echo(f"Summaries:     {state}")


commands: list[click.Command] = [status_command]
