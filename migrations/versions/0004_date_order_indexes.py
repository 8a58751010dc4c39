"""Date-order expression indexes: lists sort by coalesce(date, '0001-01-01'), id.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

An undated entry sorts as the oldest on both engines. Ordering by the plain
column cannot do that with one index on PostgreSQL (NULLs sort last there,
first on SQLite), so lists order by this expression and these indexes hold it
in the same form. One index per access path: a kind's list (type first) and
the cross-kind lists (/search, /timeline). Keyset cursors compare the row
(expression, id) against the cursor's values, which is one range scan.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sentinel() -> str:
    return "DATE '0001-01-01'" if op.get_bind().dialect.name == "postgresql" else "'0001-01-01'"


def upgrade() -> None:
    sentinel = _sentinel()
    op.drop_index("ix_entries_type_date_id", table_name="entries")
    op.drop_index("ix_entries_date_id", table_name="entries")
    op.execute(f"CREATE INDEX ix_entries_by_date_type ON entries "
               f"(type, coalesce(date, {sentinel}), id)")
    op.execute(f"CREATE INDEX ix_entries_by_date ON entries (coalesce(date, {sentinel}), id)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_entries_by_date")
    op.execute("DROP INDEX ix_entries_by_date_type")
    op.create_index("ix_entries_date_id", "entries", ["date", "id"])
    op.create_index("ix_entries_type_date_id", "entries", ["type", "date", "id"])
