"""The entry's kind on its topic and country links, indexed with the link.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

A kind's list filtered by a topic counts its matches (`total`, capped at
10,000) from `(type, topic, entry_id)` alone. Without the kind on the link, a
common topic's count joined every link row of the topic (all kinds) to
`entries` to keep the kind's own: 68 ms at 200,000 articles on PostgreSQL,
the whole cost of the page. An entry's kind never changes, so the copy cannot
go stale; the links are written in one place (`repository._write_links`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINKS = (("entry_topics", "topic"), ("entry_countries", "country"))


def upgrade() -> None:
    for table, column in LINKS:
        op.add_column(table, sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=16),
                                       nullable=True))
        op.execute(f"UPDATE {table} SET type = "
                   f"(SELECT entries.type FROM entries WHERE entries.id = {table}.entry_id)")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("type", existing_type=sqlmodel.sql.sqltypes.AutoString(
                length=16), nullable=False)
            batch_op.create_index(f"ix_{table}_type_{column}", ["type", column, "entry_id"],
                                  unique=False)


def downgrade() -> None:
    for table, column in LINKS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_type_{column}")
            batch_op.drop_column("type")
