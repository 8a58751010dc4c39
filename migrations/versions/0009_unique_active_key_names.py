"""One active API key per name: a partial unique index on api_keys.name.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

`keys create me` twice made two keys both named "me", and `keys list` could not say
which was which. Revoked keys keep their names (a name may be reused once its key is
revoked), so the index covers the keys not revoked. A database may already hold
duplicates: the oldest active key of a name keeps it, each later one gets " (id N)"
appended, so the migration never fails on existing data and every key keeps working.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("revoked_at IS NULL")


def upgrade() -> None:
    op.execute(
        "UPDATE api_keys SET name = substr(name, 1, 180) || ' (id ' || id || ')' "
        "WHERE revoked_at IS NULL AND EXISTS (SELECT 1 FROM api_keys AS older "
        "WHERE older.name = api_keys.name AND older.revoked_at IS NULL "
        "AND older.id < api_keys.id)")
    op.create_index("ix_api_keys_active_name", "api_keys", ["name"], unique=True,
                    sqlite_where=ACTIVE, postgresql_where=ACTIVE)


def downgrade() -> None:
    op.drop_index("ix_api_keys_active_name", table_name="api_keys")
