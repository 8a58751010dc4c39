"""SQLite: the FTS5 index's term instances, so relevance can be scored per document.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

BM25 scores change whenever any row is written (they depend on the whole
index), which would move keyset cursors over `sort=relevance` between pages.
Scoring from a document's own matched terms (weighted by column, as
PostgreSQL's ts_rank does) keeps every score fixed until that document
changes. PostgreSQL needs nothing here.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE entries_fts_instances "
                   "USING fts5vocab(entries_fts, 'instance')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS entries_fts_instances")
