"""Reference data: lookups the entry service validates against, and the curators' CRUD
(the collections with their counts: app.reference.listing)."""

from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.core.errors import Conflict, NotFound
from app.entries.models import Entry
from app.entries.repository import txid_expression
from app.reference.models import CouncilSession, Country, ReferenceChange, Topic

topics = Topic.__table__
countries = Country.__table__
sessions = CouncilSession.__table__
entries = Entry.__table__
reference_changes = ReferenceChange.__table__


@cache
def _held(column: Any) -> Any:
    """Which of the bound `wanted` values a reference column holds (built once a column)."""
    return select(column).where(column.in_(bindparam("wanted", expanding=True)))


def missing(session: Session, column: Any, values: Iterable[Any]) -> set[Any]:
    """Which of these values the reference column does not hold."""
    wanted = set(values)
    if not wanted:
        return set()
    found = set(session.scalars(_held(column), {"wanted": list(wanted)}))
    return wanted - found


def get_row(session: Session, table: Any, key_column: Any, key: Any, what: str) -> dict:
    """One reference row or a 404 naming it."""
    row = session.execute(select(table).where(key_column == key)).mappings().first()
    if row is None:
        raise NotFound(f"{what} '{key}' does not exist")
    return dict(row)


def create_row(session: Session, table: Any, key_column: Any, values: dict, what: str) -> dict:
    """Insert a reference row; 409 when its key is taken."""
    key = values[key_column.name]
    if session.scalar(select(func.count()).where(key_column == key)):
        raise Conflict(f"{what} '{key}' already exists")
    session.execute(insert(table).values(values))
    record_change(session, table, key, "created")
    return get_row(session, table, key_column, key, what)


def update_row(session: Session, table: Any, key_column: Any, key: Any, changes: dict,
               what: str) -> dict:
    """Apply a partial update to a reference row."""
    get_row(session, table, key_column, key, what)
    if changes:
        session.execute(update(table).where(key_column == key).values(changes))
        record_change(session, table, key, "updated")
    return get_row(session, table, key_column, key, what)


def delete_row(session: Session, table: Any, key_column: Any, key: Any, what: str,
               usage: Any) -> None:
    """Delete a reference row unless entries still use it (409 with the count)."""
    get_row(session, table, key_column, key, what)
    in_use = session.scalar(select(func.count()).select_from(usage.subquery()))
    if in_use:
        raise Conflict(f"{what} '{key}' is used by {in_use} entries; retag them first")
    session.execute(delete(table).where(key_column == key))
    record_change(session, table, key, "deleted")


def record_change(session: Session, table: Any, key: Any, action: str) -> None:
    """Log a write to a reference row in its transaction: it moves the data version of kept
    list answers (`ReferenceChange`)."""
    row = {"collection": table.name, "key": str(key), "action": action, "at": utcnow()}
    if session.get_bind().dialect.name == "postgresql":
        row["txid"] = txid_expression()
    session.execute(insert(reference_changes).values(row))
