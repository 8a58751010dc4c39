"""PostgreSQL: the entries' placement by id in an index (`ix_entries_placement`).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05

An exact count of a kind's list filtered by a topic (or country) and a date range walks
the topic's links and tests each linked entry's kind and placement (`date`, `date_to`).
Read from the table, that is a heap page per link; from this index, which holds them
beside the id, the test is an index-only probe (docs/benchmarks.md, "Query plans").
SQLite's lists walk the date index instead and probe the links: nothing to do there.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_entries_placement ON entries (id) "
                   "INCLUDE (type, date, date_to)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_entries_placement")
