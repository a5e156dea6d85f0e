"""How reports look in a terminal: the day's and Wrapped's tables, the rows of the top lists, and
the key/value form of a report for CSV."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from brapped.cli.context import AppContext, emit_json, emit_rows, local_minute

TABLE_TOP = 5  # rows of each top list shown as a table (JSON and CSV carry every row)


def flatten(data: Any, prefix: str = "") -> list[dict[str, Any]]:
    """A nested report as key/value rows ("top_tracks.1.name"), the CSV form of one report."""
    rows: list[dict[str, Any]] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            rows.extend(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(data, list) and any(isinstance(v, (Mapping, list)) for v in data):
        for index, value in enumerate(data, 1):
            rows.extend(flatten(value, f"{prefix}.{index}"))
    elif isinstance(data, list):
        rows.append({"key": prefix, "value": " ".join(str(v) for v in data)})
    else:
        rows.append({"key": prefix, "value": data})
    return rows


def emit_document(app: AppContext, fmt: str, document: Any) -> bool:
    """A report as JSON, or as CSV key/value rows (`flatten`); False for a table, which is the
    caller's to draw."""
    if fmt == "json":
        emit_json(app, document)
        return True
    if fmt == "csv":
        emit_rows(app, fmt, flatten(document), ["key", "value"])
        return True
    return False


# The part of a title that credits other artists: "(feat. X)", "[with X & Y]", "- ft. X".
_CREDIT_PART = re.compile(
    r"(?i)[(\[]\s*(?:feat\.?|ft\.?|featuring|with)\s+([^)\]]*)|\b(?:feat\.|ft\.|featuring)\s+(.*)"
)


def artists_text(credits: list[dict[str, Any]], title: str = "") -> str:
    """The artists, featured ones after "feat."; those the track's `title` credits already ("Two
    (feat. Beta)") left out there. A featured name that is only a word of the title stays."""
    credited = " | ".join(part for match in _CREDIT_PART.finditer(title) for part in match.groups() if part)

    def in_title(name: str) -> bool:
        return re.search(rf"(?<!\w){re.escape(name.casefold())}(?!\w)", credited.casefold()) is not None

    main = [a["name"] for a in credits if a.get("role", "main") == "main"]
    featured = [a["name"] for a in credits if a.get("role") == "featured" and not in_title(a["name"])]
    return ", ".join(main) + (f" (feat. {', '.join(featured)})" if featured else "")


def _minutes(value: float) -> str:
    return f"{value:,.1f} min"


def _streams(row: dict[str, Any], by: str) -> dict[str, Any]:
    # A list ranked by streams shows them: its plays alone can look out of order.
    return {"streams": row["streams"]} if by == "streams" else {}


def track_table(rows: list[dict[str, Any]], by: str = "plays") -> list[dict[str, Any]]:
    return [
        {
            "rank": t["rank"],
            "track": t["name"],
            "artists": artists_text(t["artists"]),
            "plays": t["plays"],
            **_streams(t, by),
            "minutes": t["minutes"],
        }
        for t in rows
    ]


def artist_table(rows: list[dict[str, Any]], by: str = "plays") -> list[dict[str, Any]]:
    return [
        {
            "rank": a["rank"],
            "artist": a["name"],
            "plays": a["plays"],
            "as_main": a["main_plays"],
            "as_featured": a["featured_plays"],
            **_streams(a, by),
            "minutes": a["minutes"],
            # A number, shown as every figure is (1,234.5): `:g` went to 1.23457e+06 past a million.
            **({"credit": float(a["credit"])} if "credit" in a else {}),
        }
        for a in rows
    ]


def album_table(rows: list[dict[str, Any]], by: str = "plays") -> list[dict[str, Any]]:
    return [
        {
            "rank": a["rank"],
            "album": a["name"],
            "artists": artists_text(a["artists"]),
            "plays": a["plays"],
            **_streams(a, by),
            "minutes": a["minutes"],
        }
        for a in rows
    ]


def pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:+.0f}%"


def emit_day(app: AppContext, fmt: str, report: dict[str, Any]) -> None:
    if emit_document(app, fmt, report):
        return
    average = report["average_day"]
    summary = [
        {
            "": "minutes listened",
            "value": report["minutes_listened"],
            "vs average day": pct(report["vs_average"]["minutes_listened"]),
        },
        {"": "plays", "value": report["plays"], "vs average day": pct(report["vs_average"]["plays"])},
        {"": "streams (>= threshold)", "value": report["streams"], "vs average day": ""},
        {"": "distinct tracks", "value": report["distinct_tracks"], "vs average day": ""},
        {"": "distinct artists", "value": report["distinct_artists"], "vs average day": ""},
        {"": "new tracks", "value": report["discoveries"]["new_tracks"], "vs average day": ""},
        {"": "new artists", "value": report["discoveries"]["new_artists"], "vs average day": ""},
        {
            "": "estimated share of time",
            "value": pct_plain(report["time_sources"]["estimated_share"]),
            "vs average day": "",
        },
    ]
    title = f"{report['date']} ({report['timezone']}, {report['hours_in_day']} h)"
    if average["days"]:
        title += f"; average day over {average['days']} days: {average['minutes_listened']} min"
    emit_rows(app, fmt, summary, title=title)
    if report["top_tracks"]:
        emit_rows(app, fmt, track_table(report["top_tracks"]), title="Top tracks")
    if report["top_artists"]:
        emit_rows(app, fmt, artist_table(report["top_artists"]), title="Top artists")
    if report["plays"]:
        peak = max(report["hours"]) or 1.0
        hours = [
            {"hour": f"{h:02d}", "minutes": m, "": "█" * round(30 * m / peak)}
            for h, m in enumerate(report["hours"])
        ]
        emit_rows(app, fmt, hours, title="Minutes per local hour")


def pct_plain(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def emit_wrapped_table(app: AppContext, fmt: str, data: dict[str, Any]) -> None:
    p = data["period"]
    streak = data["longest_streak"] or {}
    session = data["longest_session"] or {}
    busiest = data["busiest_day"] or {}
    repeated = data["most_repeated_track_in_a_day"] or {}
    age = data["listening_age"]
    change = data["change"]
    summary = [
        ("minutes listened", data["minutes_listened"], pct(change["minutes_listened"])),
        ("plays", data["plays"], pct(change["plays"])),
        ("streams", data["streams"], pct(change["streams"])),
        ("distinct tracks", data["distinct_tracks"], pct(change["distinct_tracks"])),
        ("distinct artists", data["distinct_artists"], pct(change["distinct_artists"])),
        ("distinct albums", data["distinct_albums"], ""),
        ("new artists", data["discoveries"]["new_artists"], ""),
        (
            "busiest day",
            f"{busiest.get('date', '')} ({_minutes(busiest.get('minutes', 0))})" if busiest else "",
            "",
        ),
        ("longest streak", f"{streak['days']} days from {streak['start']}" if streak else "", ""),
        (
            "longest session",
            f"{_minutes(session['minutes'])} from {local_minute(session['start'])}" if session else "",
            "",
        ),
        (
            "most repeated in a day",
            f"{repeated['track']['name']} x{repeated['plays']} on {repeated['date']}" if repeated else "",
            "",
        ),
        ("median release year", f"{age['median_release_year']:g}" if age["median_release_year"] else "", ""),
        ("skip rate", pct_plain(data["skip_rate"]["rate"]), ""),
        ("estimated share of time", pct_plain(data["estimated_share"]), ""),
        ("podcast minutes", data["spoken_word"]["podcasts"]["minutes"], ""),
        ("audiobook minutes", data["spoken_word"]["audiobooks"]["minutes"], ""),
    ]
    emit_rows(
        app,
        fmt,
        [{"": k, "value": v, "vs previous period": c} for k, v, c in summary],
        title=f"Wrapped {p['start']} to {p['end']} ({p['timezone']})",
    )
    emit_rows(app, fmt, artist_table(data["top_artists"][:TABLE_TOP]), title="Top artists (by credit)")
    tracks = track_table(data["top_tracks"][:TABLE_TOP], by="streams")
    emit_rows(app, fmt, tracks, title="Top tracks (by streams)")
    emit_rows(app, fmt, album_table(data["top_albums"][:TABLE_TOP]), title="Top albums")
    if data["top_genres"]:
        emit_rows(app, fmt, plain_rows(data["top_genres"][:TABLE_TOP], "genre"), title="Top genres")
    months = [
        {"month": m["month"], "artist": m["artist"]["name"], "plays": m["plays"]}
        for m in data["top_artist_by_month"]
    ]
    if months:
        emit_rows(app, fmt, months, title="Top artist of each month")
    _emit_wrapped_figures(app, fmt, data)


def _emit_wrapped_figures(app: AppContext, fmt: str, data: dict[str, Any]) -> None:
    """Wrapped's 2025 cards: obsession, rediscovery, forgotten favourite, listening age, new
    albums and the artist race (its leader after each frame)."""
    rows: list[tuple[str, str]] = []
    obsession = data.get("obsession")
    if obsession:
        track = obsession["track"]
        rows.append(
            (
                "obsession",
                f"{track['name']} by {artists_text(track['artists'], track['name'])}, "
                f"x{obsession['plays']} from {obsession['start']} to {obsession['end']}",
            )
        )
    back = data.get("rediscovery")
    if back:
        rows.append(
            (
                "rediscovery",
                f"{back['artist']['name']}: back on {back['back_on']} after {back['days_silent']} days "
                f"(last played {back['last_played_before']})",
            )
        )
    gone = data.get("forgotten_favourite")
    if gone:
        rows.append(
            (
                "forgotten favourite",
                f"{gone['artist']['name']}: once your #{gone['former_rank']}, "
                f"last played {gone['last_played'] or 'unknown'}",
            )
        )
    age = data.get("listening_age") or {}
    window = age.get("window")
    if window:
        rows.append(
            (
                "listening age",
                f"{age['age']}: music of {window['start']}-{window['end']} "
                f"({window['index']:.1f}x its share of the tracks you played before)",
            )
        )
    if rows:
        emit_rows(app, fmt, [{"": k, "value": v} for k, v in rows], title="Highlights")
    albums = data.get("top_new_albums") or []
    if albums:
        emit_rows(
            app,
            fmt,
            [
                {
                    "rank": a["rank"],
                    "album": a["name"],
                    "artists": artists_text(a["artists"]),
                    "released": a["release_date"],
                    "tracks streamed": f"{a['tracks_streamed']}/{a['total_tracks']}",
                    "streams": a["streams"],
                }
                for a in albums[:TABLE_TOP]
            ],
            title="Top new albums",
        )
    race = data.get("artist_race") or {}
    leaders = [
        {
            race.get("step", "frame"): f["label"],
            "leader": f["ranking"][0]["name"],
            "credit": float(f["ranking"][0]["credit"]),
            "top 3": ", ".join(a["name"] for a in f["ranking"][:3]),
        }
        for f in race.get("frames", [])
        if f["ranking"]
    ]
    if leaders:
        emit_rows(app, fmt, leaders, title="Artist race (so far, after each)")


def plain_rows(rows: list[dict[str, Any]], name: str, by: str = "plays") -> list[dict[str, Any]]:
    return [
        {"rank": r["rank"], name: r[name], "plays": r["plays"], **_streams(r, by), "minutes": r["minutes"]}
        for r in rows
    ]


def csv_item(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    if "artists" in out:
        out["artists"] = artists_text(out["artists"])
    if isinstance(out.get("album"), dict):
        out["album"] = out["album"]["name"]
    return out
