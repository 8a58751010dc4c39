"""Reference changes: each write to a topic or session, for the version of kept list answers.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05

A list answer is kept until the data changes (app/entries/answers.py), and it
names topics and sessions: a filter's values must exist, a facet carries their names.
Their writes are logged here, as the entries' are in `entry_changes`, so that the data
version a kept answer is checked against moves with them too.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reference_changes",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("collection", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_reference_changes_txid", "reference_changes", ["txid"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_reference_changes_txid", table_name="reference_changes")
    op.drop_table("reference_changes")
