"""PostgreSQL: keep `search_vector` in the row (STORAGE MAIN), not in the TOAST table.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05

An exact count of a text query's matches (the default) tests every candidate row's
`search_vector`. Stored EXTENDED, a compressed vector that does not fit beside the
title and summary went out of line, and reading it back cost a TOAST index probe and
a chunk per row: for a common word, several times the pages of the table itself and
twice the CPU time of the count (docs/benchmarks.md, "Query plans"). MAIN keeps it
compressed in the row; the body, which no count reads, goes out of line first.

Rows written from now on are stored so; rows already there keep their storage until
rewritten (`VACUUM FULL entries`, docs/operations.md), which is left to the operator: it
locks the table for as long as it takes. SQLite has no such storage: nothing to do.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _storage(kind: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE entries ALTER COLUMN search_vector SET STORAGE {kind}")


def upgrade() -> None:
    _storage("MAIN")


def downgrade() -> None:
    _storage("EXTENDED")
