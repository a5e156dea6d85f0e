"""The daily report leaves the database: files in home/reports/, a webhook POST, an e-mail.

The numbers come from `brapped.insights` (the day report's JSON); this module only formats and sends.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from brapped.config import Settings
from brapped.errors import BrappedError
from brapped.logs import mask_secrets
from brapped.serialise import json_bytes
from brapped.store import Store

DISCORD_LIMIT = 2000  # Discord refuses `content` longer than this
TIMEOUT = 15.0


class DeliveryError(BrappedError):
    """The webhook or the mail server refused the report, or could not be reached."""


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    json: Path


def report_json(report: Mapping[str, Any]) -> bytes:
    """The report as indented JSON (instants in ISO 8601 UTC)."""
    return json_bytes(report, indent=True)


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _names(entry: Mapping[str, Any]) -> str:
    artists = entry.get("artists")
    if isinstance(artists, Sequence) and not isinstance(artists, str) and artists:
        names = [a.get("name", "") if isinstance(a, Mapping) else str(a) for a in artists]
        return f" — {', '.join(n for n in names if n)}"
    if entry.get("artist"):
        return f" — {entry['artist']}"
    return ""


def _top(title: str, entries: Any) -> list[str]:
    if not entries:
        return []
    lines = ["", f"**{title}**"]
    for i, entry in enumerate(entries, 1):
        rank = entry.get("rank", i)
        lines.append(
            f"{rank}. {entry.get('name', '?')}{_names(entry)}: {_num(entry.get('plays', 0))} plays, "
            f"{_num(entry.get('minutes', 0))} min"
        )
    return lines


def _change(ratio: Any) -> str:
    if ratio is None:
        return "no earlier days to compare"
    return f"{ratio * 100:+.0f}% vs. your average day"


def render_markdown(report: Mapping[str, Any]) -> str:
    """The day report as short Markdown (fits chat messages): totals, top lists, discoveries."""
    day = report.get("date", "?")
    lines = [f"# brapped: {day} ({report.get('timezone', 'UTC')})", ""]
    vs = report.get("vs_average") or {}
    lines.append(
        f"- **{_num(report.get('minutes_listened', 0))} minutes** listened "
        f"({_change(vs.get('minutes_listened'))})"
    )
    lines.append(
        f"- **{_num(report.get('plays', 0))} plays**, {_num(report.get('streams', 0))} streams "
        f"({_change(vs.get('plays'))})"
    )
    lines.append(
        f"- {_num(report.get('distinct_tracks', 0))} tracks by {_num(report.get('distinct_artists', 0))} "
        "artists"
    )
    discoveries = report.get("discoveries") or {}
    if discoveries:
        lines.append(
            f"- new to you: {_num(discoveries.get('new_tracks', 0))} tracks, "
            f"{_num(discoveries.get('new_artists', 0))} artists"
        )
    lines += _top("Top artists", report.get("top_artists"))
    lines += _top("Top tracks", report.get("top_tracks"))
    spoken = report.get("spoken_word") or {}
    for key, label in (("podcasts", "Podcasts"), ("audiobooks", "Audiobooks")):
        part = spoken.get(key) or {}
        if part.get("plays"):
            lines += ["", f"**{label}**: {_num(part.get('minutes', 0))} min in {_num(part['plays'])} plays"]
    return "\n".join(lines) + "\n"


def write_report_files(directory: Path, report: Mapping[str, Any], markdown: str) -> ReportFiles:
    """Write `<date>.json` and `<date>.md` into `directory` (atomically: a reader never sees half)."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = str(report["date"])
    files = ReportFiles(directory / f"{stem}.md", directory / f"{stem}.json")
    for path, data in ((files.markdown, markdown.encode()), (files.json, report_json(report))):
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_bytes(data)
        partial.replace(path)
    return files


def slack_text(markdown: str) -> str:
    """Slack's mrkdwn flavour of the report: *bold* instead of **bold**, no # headings."""
    text = re.sub(r"^#+ (.+)$", r"*\1*", markdown, flags=re.MULTILINE)
    return re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)


def webhook_payload(markdown: str) -> dict[str, Any]:
    """One JSON body both Slack (`text`, mrkdwn) and Discord (`content`, Markdown, at most 2000
    characters) accept; each ignores the other's field."""
    content = markdown if len(markdown) <= DISCORD_LIMIT else markdown[: DISCORD_LIMIT - 2] + "…\n"
    return {"text": slack_text(markdown), "content": content, "username": "brapped"}


def post_webhook(url: str, markdown: str, client: httpx.Client | None = None) -> int:
    """POST the report to a Slack/Discord-compatible webhook; returns the HTTP status."""
    own = client is None
    http = client or httpx.Client(timeout=TIMEOUT)
    try:
        response = http.post(url, json=webhook_payload(markdown))
    except httpx.HTTPError as exc:
        raise DeliveryError(
            f"webhook {mask_secrets(_safe_url(url))} unreachable: {type(exc).__name__}"
        ) from exc
    finally:
        if own:
            http.close()
    if response.status_code >= 300:
        raise DeliveryError(
            f"webhook {_safe_url(url)} answered {response.status_code}: {mask_secrets(response.text[:200])}"
        )
    return response.status_code


def _safe_url(url: str) -> str:
    # Webhook URLs carry their secret in the path (Slack, Discord): show scheme and host only.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{':' + str(parts.port) if parts.port else ''}/…"


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    user: str | None
    password: str | None
    tls: str  # "ssl" (smtps://) | "starttls" (smtp://, when offered)


def parse_smtp_url(url: str) -> SmtpTarget:
    """smtp://user:pass@host:port (STARTTLS when the server offers it) or smtps:// (TLS from the start)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise DeliveryError("BRAPPED_SMTP_URL must look like smtp://user:password@host:587 or smtps://…:465")
    port = parts.port or (465 if parts.scheme == "smtps" else 587)
    return SmtpTarget(
        parts.hostname,
        port,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
        "ssl" if parts.scheme == "smtps" else "starttls",
    )


def _loopback(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1")


def send_mail(smtp_url: str, to: str, subject: str, markdown: str, sender: str | None = None) -> None:
    """E-mail the report (Markdown as the plain-text body) through the server in `smtp_url`."""
    target = parse_smtp_url(smtp_url)
    message = EmailMessage()
    message["Subject"] = subject
    message["To"] = to
    message["From"] = sender or (
        target.user if target.user and "@" in target.user else f"brapped@{socket.gethostname()}"
    )
    message.set_content(markdown)
    try:
        if target.tls == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                target.host, target.port, timeout=TIMEOUT, context=ssl.create_default_context()
            )
        else:
            server = smtplib.SMTP(target.host, target.port, timeout=TIMEOUT)
        with server:
            if target.tls == "starttls":
                server.ehlo()
                if server.has_extn("starttls"):
                    server.starttls(context=ssl.create_default_context())
                    server.ehlo()
                elif target.password and not _loopback(target.host):
                    raise DeliveryError(
                        f"{target.host} does not offer STARTTLS: refusing to send the password in clear "
                        "(use smtps:// or a server with TLS)"
                    )
            if target.user and target.password:
                server.login(target.user, target.password)
            server.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(
            f"e-mail via {target.host}:{target.port} failed: {type(exc).__name__}: {exc}"
        ) from exc


def deliver_day_report(
    store: Store, settings: Settings, day: date, *, client: httpx.Client | None = None
) -> dict[str, Any]:
    """Build the day report (insights), write it to home/reports/, POST and e-mail it when configured.

    With several synced accounts in the database (a household), the report of everyone together is still
    written to home/reports/DATE.*, and each account that played that day gets its own report:
    files in home/reports/USER/, and one webhook message and one e-mail each (docs/operations.md).
    Delivery problems do not undo the files: they come back in `delivery_errors`.
    """
    from brapped.insights import day_report, listeners

    threshold = int(settings.values.get("stream_threshold_ms") or 30000)
    with store.connect() as conn:
        report = day_report(conn, day, settings.tz, stream_threshold_ms=threshold)
        # A household: several accounts brapped syncs (import-only listeners get no messages).
        people = [p for p in listeners(conn) if p["account"]]
        own = (
            [
                (p, day_report(conn, day, settings.tz, user_id=p["id"], stream_threshold_ms=threshold))
                for p in people
            ]
            if len(people) > 1
            else []
        )
    markdown = render_markdown(report)
    files = write_report_files(settings.reports_dir, report, markdown)
    result: dict[str, Any] = {
        "markdown": str(files.markdown),
        "json": str(files.json),
        "plays": report.get("plays"),
    }
    errors: list[str] = []
    if not own:
        _send(settings, markdown, f"brapped: your day {day.isoformat()}", client, result, errors)
    else:
        result["accounts"] = {}
        for person, theirs in own:
            if not theirs.get("plays"):
                continue  # nothing to tell: no message for a listener who did not listen
            name = str(person["display_name"] or person["id"])
            text = render_markdown(theirs).replace("# brapped:", f"# brapped · {name}:", 1)
            mine = write_report_files(settings.reports_dir / _folder(str(person["id"])), theirs, text)
            part: dict[str, Any] = {
                "markdown": str(mine.markdown),
                "json": str(mine.json),
                "plays": theirs["plays"],
            }
            _send(settings, text, f"brapped: {name}'s day {day.isoformat()}", client, part, errors)
            result["accounts"][str(person["id"])] = part
    if errors:
        result["delivery_errors"] = errors
    return result


def _folder(user_id: str) -> str:
    """A listener's report folder: their id when it is a plain name, else a readable safe form."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", user_id).lstrip(".")
    return cleaned or "_"


def _send(
    settings: Settings,
    markdown: str,
    subject: str,
    client: httpx.Client | None,
    result: dict[str, Any],
    errors: list[str],
) -> None:
    webhook = settings.values.get("webhook_url")
    if webhook:
        try:
            result["webhook_status"] = post_webhook(str(webhook), markdown, client)
        except DeliveryError as exc:
            errors.append(str(exc))
    smtp_url, mail_to = settings.values.get("smtp_url"), settings.values.get("mail_to")
    if smtp_url and mail_to:
        try:
            send_mail(str(smtp_url), str(mail_to), subject, markdown)
            result["mailed_to"] = str(mail_to)
        except DeliveryError as exc:
            errors.append(str(exc))
    elif (smtp_url or mail_to) and "e-mail needs both BRAPPED_SMTP_URL and BRAPPED_MAIL_TO" not in errors:
        errors.append("e-mail needs both BRAPPED_SMTP_URL and BRAPPED_MAIL_TO")
