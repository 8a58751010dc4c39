"""Full-text search: FTS5 on SQLite, a weighted tsvector with a GIN index on PostgreSQL.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Both indexes cover the entry's title, summary, body and `search_names` (the
kind's name fields: speaker, source, organisers…), so one index serves every
kind and cross-kind search. They are kept in sync by the database itself
(triggers; a generated column), so every write path, bulk included, updates
them in the same transaction.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FTS_COLUMNS = "title, summary, body, search_names"

SQLITE_UP = [
    f"""CREATE VIRTUAL TABLE entries_fts USING fts5(
        {FTS_COLUMNS}, content='entries', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    f"""CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
        INSERT INTO entries_fts(rowid, {FTS_COLUMNS})
        VALUES (new.id, new.title, new.summary, new.body, new.search_names);
    END""",
    f"""CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
        INSERT INTO entries_fts(entries_fts, rowid, {FTS_COLUMNS})
        VALUES ('delete', old.id, old.title, old.summary, old.body, old.search_names);
    END""",
    f"""CREATE TRIGGER entries_fts_update AFTER UPDATE OF {FTS_COLUMNS} ON entries BEGIN
        INSERT INTO entries_fts(entries_fts, rowid, {FTS_COLUMNS})
        VALUES ('delete', old.id, old.title, old.summary, old.body, old.search_names);
        INSERT INTO entries_fts(rowid, {FTS_COLUMNS})
        VALUES (new.id, new.title, new.summary, new.body, new.search_names);
    END""",
    "INSERT INTO entries_fts(entries_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS entries_fts_update",
    "DROP TRIGGER IF EXISTS entries_fts_delete",
    "DROP TRIGGER IF EXISTS entries_fts_insert",
    "DROP TABLE IF EXISTS entries_fts",
]

# Bodies are capped before indexing: a tsvector cannot exceed 1 MB, and the
# first 100,000 characters of a body carry its vocabulary.
POSTGRES_UP = [
    """ALTER TABLE entries ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A') ||
        setweight(to_tsvector('english', search_names), 'B') ||
        setweight(to_tsvector('english', summary), 'B') ||
        setweight(to_tsvector('english', left(coalesce(body, ''), 100000)), 'C')
    ) STORED""",
    "CREATE INDEX ix_entries_search ON entries USING GIN (search_vector)",
]
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS ix_entries_search",
    "ALTER TABLE entries DROP COLUMN IF EXISTS search_vector",
]


def upgrade() -> None:
    statements = SQLITE_UP if op.get_bind().dialect.name == "sqlite" else POSTGRES_UP
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    statements = SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else POSTGRES_DOWN
    for statement in statements:
        op.execute(statement)
