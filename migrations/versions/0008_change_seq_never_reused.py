"""SQLite never reuses a change's sequence number (AUTOINCREMENT on entry_changes).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

A `/changes` consumer keeps the last `seq` it saw as its position. SQLite's plain
integer primary key gives the next row max(seq) + 1, so a log emptied by hand (or its
newest rows removed) would hand out numbers a consumer has already passed, and the
consumer would silently skip the new changes. AUTOINCREMENT keeps the highest number
ever given (in sqlite_sequence) and never goes below it, as PostgreSQL's sequence does.
The table is rebuilt on SQLite (its rows copied, so sqlite_sequence starts at the
current maximum); nothing changes on PostgreSQL.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("entry_changes", recreate="always",
                              table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
