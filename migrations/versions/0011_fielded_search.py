"""Fielded search: each name field indexed on its own (`entries.search_fields`).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

`q=speaker:"chen xu"` must match the speaker alone, not the role or the affiliation that
share `search_names` with it. `search_fields` holds every name field's words, each after
its field's marker (`zzspeakerzz Chen zzspeakerzz Xu`, app/entries/listing/fulltext.py);
the app writes it as it writes `search_names`, and both indexes take it in:

- SQLite: `entries_fts` gains a fifth column (rebuilt with its triggers, and the
  `entries_fts_instances` vocabulary over it);
- PostgreSQL: `search_vector` is regenerated with a label per field a query can name:
  title A, summary B, body C, name fields D (until now names shared B with the summary).
  Its positions keep their order but for `search_fields` after the names: it stays clear
  of the 16,383-position cap that a long body reaches.

Existing rows get `search_fields` from their detail rows here, from the kinds' name
fields as they are at this revision.
"""

import json
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each kind's detail table and name fields, in the kind's order: (column, holds a JSON list).
NAME_FIELDS = {
    "articles": (("source", False), ("authors", True)),
    "events": (("organizers", True), ("location", False)),
    "statements": (("speaker", False), ("speaker_role", False), ("speaker_affiliation", False)),
}
_WORD = re.compile(r"[^\W_]+")

OLD_COLUMNS = ("title", "summary", "body", "search_names")
NEW_COLUMNS = (*OLD_COLUMNS, "search_fields")


def _field_text(name: str, values: list[str]) -> str:
    """As fulltext.field_text writes it: each word after the field's marker."""
    token = "zz" + name.replace("_", "") + "zz"
    return " ".join(f"{token} {word}" for value in values for word in _WORD.findall(value))


def _values(value: Any, is_list: bool) -> list[str]:
    if is_list:  # JSON text on SQLite, decoded on PostgreSQL
        return json.loads(value) if isinstance(value, str) else list(value or [])
    return [str(value)] if value else []


def _backfill() -> None:
    connection = op.get_bind()
    for table, fields in NAME_FIELDS.items():
        columns = ", ".join(name for name, _ in fields)
        updates = []
        for row in connection.execute(sa.text(f"SELECT id, {columns} FROM {table}")):
            texts = (_field_text(name, _values(value, is_list))
                     for (name, is_list), value in zip(fields, row[1:], strict=True))
            text = " ".join(t for t in texts if t)
            if text:
                updates.append({"id": row[0], "text": text})
        if updates:
            connection.execute(
                sa.text("UPDATE entries SET search_fields = :text WHERE id = :id"), updates)


def _sqlite_index(columns: tuple[str, ...]) -> list[str]:
    """The FTS5 table over these `entries` columns, its triggers, filled, and its vocabulary."""
    listed = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    delete = (f"INSERT INTO entries_fts(entries_fts, rowid, {listed}) "
              f"VALUES ('delete', old.id, {old});")
    insert = f"INSERT INTO entries_fts(rowid, {listed}) VALUES (new.id, {new});"
    return [
        f"""CREATE VIRTUAL TABLE entries_fts USING fts5(
            {listed}, content='entries', content_rowid='id',
            tokenize='porter unicode61 remove_diacritics 2')""",
        f"CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN {insert} END",
        f"CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN {delete} END",
        f"CREATE TRIGGER entries_fts_update AFTER UPDATE OF {listed} ON entries BEGIN "
        f"{delete} {insert} END",
        "INSERT INTO entries_fts(entries_fts) VALUES ('rebuild')",
        "CREATE VIRTUAL TABLE entries_fts_instances USING fts5vocab(entries_fts, 'instance')",
    ]


SQLITE_DROP = [
    "DROP TABLE IF EXISTS entries_fts_instances",
    "DROP TRIGGER IF EXISTS entries_fts_update",
    "DROP TRIGGER IF EXISTS entries_fts_delete",
    "DROP TRIGGER IF EXISTS entries_fts_insert",
    "DROP TABLE IF EXISTS entries_fts",
]

# Bodies are capped before indexing (as 0002 has it): a tsvector cannot exceed 1 MB.
OLD_VECTOR = """
    setweight(to_tsvector('english', title), 'A') ||
    setweight(to_tsvector('english', search_names), 'B') ||
    setweight(to_tsvector('english', summary), 'B') ||
    setweight(to_tsvector('english', left(coalesce(body, ''), 100000)), 'C')"""
NEW_VECTOR = """
    setweight(to_tsvector('english', title), 'A') ||
    setweight(to_tsvector('english', search_names), 'D') ||
    setweight(to_tsvector('english', search_fields), 'D') ||
    setweight(to_tsvector('english', summary), 'B') ||
    setweight(to_tsvector('english', left(coalesce(body, ''), 100000)), 'C')"""


def _postgres_index(vector: str) -> list[str]:
    return [f"ALTER TABLE entries ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
            f"({vector}) STORED",
            "CREATE INDEX ix_entries_search ON entries USING GIN (search_vector)"]


POSTGRES_DROP = ["DROP INDEX IF EXISTS ix_entries_search",
                 "ALTER TABLE entries DROP COLUMN IF EXISTS search_vector"]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # The old index goes first: filling the new column then rewrites no index entry.
    _run(SQLITE_DROP if sqlite else POSTGRES_DROP)
    op.execute("ALTER TABLE entries ADD COLUMN search_fields TEXT NOT NULL DEFAULT ''")
    _backfill()
    _run(_sqlite_index(NEW_COLUMNS) if sqlite else _postgres_index(NEW_VECTOR))


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _run(SQLITE_DROP if sqlite else POSTGRES_DROP)
    # Plain ALTER TABLE on both engines (SQLite 3.35+), as 0010 does.
    op.execute("ALTER TABLE entries DROP COLUMN search_fields")
    _run(_sqlite_index(OLD_COLUMNS) if sqlite else _postgres_index(OLD_VECTOR))
