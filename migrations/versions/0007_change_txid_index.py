"""The change log's writer transaction ids, indexed: the newest is the data version.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

On PostgreSQL, counts and facets kept between requests (`app/entries/aggregates.py`)
are keyed by the largest `txid` in the change log; every request that needs a count
or facets reads it, so it is one index probe rather than a scan of the whole log.
(SQLite leaves `txid` empty and keys by `seq`, the primary key.)
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("entry_changes", schema=None) as batch_op:
        batch_op.create_index("ix_entry_changes_txid", ["txid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("entry_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_entry_changes_txid")
