"""`brapped sync`: fetch new plays from Spotify into the database."""

from __future__ import annotations

from typing import Any

import click

from brapped.cli.auth import household_clients
from brapped.cli.context import AppContext, emit_json, pass_app, safe, summary_format_option
from brapped.pipeline.accounts import AccountSync, HouseholdSync, sync_all
from brapped.pipeline.sync import SyncResult
from brapped.serialise import instant_text


def sync_json(result: SyncResult) -> dict[str, Any]:
    """The JSON document `brapped sync --format json` prints."""
    enrichment = result.enrichment
    return {
        "user_id": result.user_id,
        "run_id": result.run_id,
        "outcome": result.outcome,
        **{k: v for k, v in result.counts().items() if k != "gaps"},
        "gaps": [{"from": instant_text(a), "to": instant_text(b)} for a, b in result.gaps],
        "cursor": instant_text(result.cursor_after),
        "resume_after": instant_text(result.rate_limited.resume_at) if result.rate_limited else None,
        "enrichment": enrichment.counts() if enrichment else None,
        "enrichment_error": result.enrichment_error,
    }


def household_json(household: HouseholdSync) -> dict[str, Any]:
    """`sync --format json`: totals over every account at the top (with one account: that account's
    document, as before), and each account's document under `accounts`."""
    parts = [_account_json(part) for part in household.accounts]
    synced = [p.result for p in household.accounts if p.result is not None]
    top: dict[str, Any] = sync_json(synced[0]) if len(synced) == 1 else {}
    if len(synced) > 1:
        top = sync_json(synced[0])
        for key in ("new_plays", "seen_plays", "merged_plays", "new_tracks", "new_albums", "new_artists"):
            top[key] = sum(int(r.counts()[key]) for r in synced)
        top["api_calls"] = sum(r.api_calls for r in synced)
        top["gaps"] = [g for r in synced for g in sync_json(r)["gaps"]]
    limited = household.rate_limited
    top["outcome"] = "rate_limited" if limited else ("ok" if synced else "failed")
    top["resume_after"] = instant_text(limited.resume_at) if limited else None
    top["accounts"] = parts
    return top


def _account_json(part: AccountSync) -> dict[str, Any]:
    base = sync_json(part.result) if part.result is not None else {"user_id": part.user_id}
    base["outcome"] = part.outcome
    base["error"] = part.message
    return base


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


@click.command("sync")
@click.option(
    "--enrich-budget",
    type=click.IntRange(0),
    default=None,
    help="API calls allowed for artist details after the sync (default: enrich_budget, 50; 0 = none).",
)
@summary_format_option
@pass_app
def sync_command(app: AppContext, enrich_budget: int | None, fmt: str) -> None:
    """Fetch plays newer than the newest stored one (recently-played, 50 per call), with their
    tracks, albums and artists, in one transaction. Safe to run as often as you like.

    Spotify keeps only your last 50 plays: sync at least every few hours (or use `brapped run`).
    A gap it could not cover is recorded and shown by `brapped status`; an export import fills it.
    Exit codes: 0 done, 75 rate limited (retry after the time shown), 77 authorisation needed,
    69 Spotify unavailable.
    """
    budget = int(app.settings.enrich_budget) if enrich_budget is None else enrich_budget
    store = app.store()
    with household_clients(app) as clients:
        household = sync_all(store, clients, enrich_budget=budget)
    if fmt == "json":
        emit_json(app, household_json(household))
    several = len(household.accounts) > 1
    for part in household.accounts:
        who = safe(part.user_id or "?")
        if part.result is not None:
            _report(part.result, fmt, f" {who}" if several else "")
        elif several:
            click.echo(f"Account {who}: {part.outcome}: {safe(part.message)}", err=True)
    error = household.first_error()
    if error is not None:
        # Every other account was synced first; the exit code says what went wrong (75, 77, 69).
        raise error


def _report(result: SyncResult, fmt: str, who: str) -> None:
    if fmt != "json":
        parts = [
            f"{_plural(result.new_plays, 'new play')}",
            f"{_plural(result.new_tracks, 'new track')}",
            f"{_plural(result.new_artists, 'new artist')}",
            f"{_plural(len(result.gaps), 'gap')}",
            f"{_plural(result.api_calls, 'API call')}",
        ]
        line = f"Synced{who}: " + ", ".join(parts)
        enriched = result.enrichment
        if enriched and enriched.api_calls:
            artists = _plural(enriched.artists_enriched, "artist")
            line += f" ({enriched.api_calls:,} of them for details of {artists})"
        click.echo(line + ".")
        if result.enrichment_error:
            click.echo(f"Warning: enrichment stopped: {safe(result.enrichment_error)}", err=True)
    for gap_from, gap_to in result.gaps:
        click.echo(
            f"Warning: plays between {instant_text(gap_from)} and {instant_text(gap_to)} may be missing "
            "(Spotify only keeps the last 50). Import your Spotify data export to fill the gap.",
            err=True,
        )


commands: list[click.Command] = [sync_command]
