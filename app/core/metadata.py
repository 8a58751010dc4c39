"""The complete schema: importing this module registers every table."""

from typing import Any

from sqlmodel import SQLModel

import app.core.security  # noqa: F401  (api_keys)
import app.entries.registry  # noqa: F401  (entries and every kind's detail table)
import app.reference.models  # noqa: F401  (topics, countries, sessions)

metadata = SQLModel.metadata

# Full-text objects and the date-order expression indexes are engine-specific and
# written by hand in the migrations (FTS5 tables and triggers on SQLite, a tsvector
# column and GIN index on PostgreSQL, coalesce() indexes, PostgreSQL's covering
# `ix_entries_placement`); the drift check leaves them out on purpose.
ENGINE_SPECIFIC_PREFIXES = ("entries_fts", "ix_entries_search", "ix_entries_by_date",
                            "ix_entries_placement")
ENGINE_SPECIFIC_COLUMNS = frozenset({"search_vector"})


def skip_engine_objects(obj: Any, name: str | None, type_: str, reflected: bool,
                        compare_to: Any) -> bool:
    """Alembic include_object hook: ignore hand-written engine-specific search objects."""
    if name and name.startswith(ENGINE_SPECIFIC_PREFIXES):
        return False
    return not (type_ == "column" and name in ENGINE_SPECIFIC_COLUMNS)
