"""Dates with a precision: every entry's placement in time (`date_precision`, `date_from`,
`date_to` beside `date`).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

Until now `entries.date` held the kind's primary date (published_on / starts_on /
delivered_on) or NULL. Existing rows keep every value and are placed as the write path
places them (app/entries/placement.py):

- a primary date: `day`, `date_from` = `date_to` = that date;
- else a session with both `starts_on` and `ends_on` in `sessions`: `session`, `date` =
  the session's first day, `date_from`/`date_to` = the session's dates;
- else `unknown` (all NULL).

Downgrading keeps only what 0009 knew: the dates of `day` entries (the primary dates).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SESSION = ("(SELECT sessions.{column} FROM sessions WHERE sessions.number = entries.session "
            "AND sessions.starts_on IS NOT NULL AND sessions.ends_on IS NOT NULL)")


def upgrade() -> None:
    op.add_column("entries", sa.Column("date_precision", sa.String(length=8), nullable=False,
                                       server_default="unknown"))
    op.add_column("entries", sa.Column("date_from", sa.Date(), nullable=True))
    op.add_column("entries", sa.Column("date_to", sa.Date(), nullable=True))
    op.execute("UPDATE entries SET date_precision = 'day', date_from = date, date_to = date "
               "WHERE date IS NOT NULL")
    starts, ends = _SESSION.format(column="starts_on"), _SESSION.format(column="ends_on")
    op.execute(f"UPDATE entries SET date_precision = 'session', date = {starts}, "
               f"date_from = {starts}, date_to = {ends} "
               f"WHERE date IS NULL AND {starts} IS NOT NULL")


def downgrade() -> None:
    op.execute("UPDATE entries SET date = NULL WHERE date_precision <> 'day'")
    # Plain ALTER TABLE on both engines (SQLite 3.35+): a batch copy of `entries` would
    # drop its full-text triggers and expression indexes.
    for column in ("date_to", "date_from", "date_precision"):
        op.execute(f"ALTER TABLE entries DROP COLUMN {column}")
