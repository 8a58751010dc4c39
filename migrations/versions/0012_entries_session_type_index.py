"""Entries by session and kind: one index that counts them without reading a row.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

`GET /sessions` reports entries per session and kind (`app/reference/service.py`).
`(session, type)` answers that count from the index alone, and every lookup the
single-column `ix_entries_session` served (the `session=` filter, the foreign key's
check when a session is deleted) by its first column, so it replaces that index.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.create_index("ix_entries_session_type", ["session", "type"], unique=False)
        batch_op.drop_index("ix_entries_session")


def downgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.create_index("ix_entries_session", ["session"], unique=False)
        batch_op.drop_index("ix_entries_session_type")
