"""offline plays at their real time: `plays.reported_at`, and stored offline plays moved

Spotify's export stamps a play listened offline with `ts` = when the app reported it, and keeps its
start in `offline_timestamp` (docs/merge.md, "Offline plays"). Imports now store such a play at
`offline_timestamp + ms_played` and keep `ts` in the new `reported_at`. This revision does the same
to the plays imported before: an export play (source 'export') marked offline whose `offline_at`
is plausible by the importer's rule (`brapped.imports.fields.offline_end`, frozen here so that
this revision never changes meaning) moves; a merged play ('both') keeps the API's time, which is
the real one. A moved play never takes the key of another: such a play stays.

Summaries and kept reports: a moved play before the summaries' cutoff marks them stale through
revision 0007's triggers already; this revision marks them stale and moves the kept reports'
generation on whenever it moves any play, so that no sum or kept result counts a play where it no
longer is.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import brapped.store.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The importer's rule as of this revision (brapped.imports.fields): the end may pass `ts` by less
# than the second both are cut to, and come at most 30 days before it.
ROUNDING_MS = 1_000
DELAY_MS = 30 * 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_plays = sa.table(
    "plays",
    sa.column("id", sa.BigInteger()),
    sa.column("user_id", sa.String()),
    sa.column("track_id", sa.String()),
    sa.column("played_at", brapped.store.types.UTCDateTime(timezone=True)),
    sa.column("ms_played", sa.Integer()),
    sa.column("source", sa.String()),
    sa.column("offline", sa.Boolean()),
    sa.column("offline_at", brapped.store.types.UTCDateTime(timezone=True)),
    sa.column("reported_at", brapped.store.types.UTCDateTime(timezone=True)),
)


def _ms(when: datetime) -> int:
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def real_end(played_at: datetime, ms_played: int, offline_at: datetime) -> datetime | None:
    """The real end of an offline play stored at its reported time, None when it stays."""
    start = _ms(offline_at)
    if start <= 0:
        return None
    end = start + ms_played
    reported = _ms(played_at)
    if end >= reported + ROUNDING_MS or reported - end > DELAY_MS:
        return None
    return _EPOCH + timedelta(milliseconds=end)


def upgrade() -> None:
    op.add_column(
        "plays",
        sa.Column(
            "reported_at",
            brapped.store.types.UTCDateTime(timezone=True),
            nullable=True,
            comment="the export's ts when played_at is not it: an offline play moved to its real end",
        ),
    )
    bind = op.get_bind()
    p = _plays.c
    candidates = bind.execute(
        sa.select(p.id, p.user_id, p.track_id, p.played_at, p.ms_played, p.offline_at).where(
            p.source == "export", p.offline.is_(True), p.offline_at.is_not(None), p.ms_played.is_not(None)
        )
    ).all()
    moved = 0
    for play_id, user_id, track_id, played_at, ms_played, offline_at in candidates:
        end = real_end(played_at, ms_played, offline_at)
        if end is None or end == played_at:
            continue
        taken = bind.execute(
            sa.select(p.id).where(p.user_id == user_id, p.track_id == track_id, p.played_at == end)
        ).first()
        if taken is not None:
            continue
        bind.execute(sa.update(_plays).where(p.id == play_id).values(played_at=end, reported_at=played_at))
        moved += 1
    if moved:
        _forget_derived()


def _forget_derived() -> None:
    """Summaries stale and kept reports out of date: plays moved in time."""
    op.execute(sa.text("UPDATE summary_state SET stale = :stale WHERE id = 1").bindparams(stale=True))
    op.execute("UPDATE report_state SET generation = generation + 1 WHERE id = 1")


def downgrade() -> None:
    p = _plays.c
    bind = op.get_bind()
    result = bind.execute(sa.update(_plays).where(p.reported_at.is_not(None)).values(played_at=p.reported_at))
    if result.rowcount:
        _forget_derived()
    op.drop_column("plays", "reported_at")
