"""Reference data: lookups the entry service validates against, and the curators' CRUD."""

from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import Connection, Select, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound
from app.entries.listing.aggregates import Aggregates, version_column
from app.entries.models import Entry, EntryCountry, EntryTopic
from app.reference.models import CouncilSession, Country, Topic

topics = Topic.__table__
countries = Country.__table__
sessions = CouncilSession.__table__
entries = Entry.__table__


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


@cache
def _count_statement(key: Any, link_table: Any | None, dialect: str) -> Select[Any]:
    """Entries per kind for each value of a key (a link table's or the entry's own column),
    with the data version: built once, so `Aggregates` keeps its answers."""
    if link_table is not None:
        stmt = (select(key, entries.c.type, func.count())
                .select_from(link_table.join(entries, entries.c.id == link_table.c.entry_id))
                .group_by(key, entries.c.type))
    else:
        stmt = select(key, entries.c.type, func.count()).where(key.is_not(None)).group_by(
            key, entries.c.type)
    return stmt.add_columns(version_column(dialect))


def _counts(session: Session | Connection, key: Any, link_table: Any | None
            ) -> dict[Any, dict[str, int]]:
    """Entries per kind for each key value. On a read's connection the counts are kept
    until the data changes (they read every link: the whole cost of a reference list);
    a curator's write counts in its own transaction, never kept."""
    if isinstance(session, Connection):
        stmt = _count_statement(key, link_table, session.dialect.name)
        rows = Aggregates(session).rows(stmt, {})
    else:
        rows = session.execute(_count_statement(key, link_table,
                                                session.get_bind().dialect.name))
    result: dict[Any, dict[str, int]] = {}
    for value, kind, number, _version in rows:
        result.setdefault(value, {})[kind] = number
    return result


def with_counts(rows: list[dict[str, Any]], key: str, counts: dict[Any, dict[str, int]],
                kinds: Iterable[str]) -> list[dict[str, Any]]:
    """Attach `counts: {article: n, event: n, statement: n}` to each row."""
    kinds = tuple(kinds)
    for row in rows:
        per_kind = counts.get(row[key], {})
        row["counts"] = {kind: per_kind.get(kind, 0) for kind in kinds}
    return rows


def list_topics(session: Session, kinds: Iterable[str], only: str | None = None
                ) -> list[dict[str, Any]]:
    """All topics (or the one named), by name, with entry counts per kind."""
    stmt = select(topics).order_by(topics.c.name)
    if only is not None:
        stmt = stmt.where(topics.c.slug == only)
    rows = [dict(r) for r in session.execute(stmt).mappings()]
    return with_counts(rows, "slug", _counts(session, EntryTopic.__table__.c.topic,
                                             EntryTopic.__table__), kinds)


def list_countries(session: Session, kinds: Iterable[str], *, used_only: bool) -> list[dict]:
    """All countries (or only those some entry concerns), by name, with counts per kind."""
    counts = _counts(session, EntryCountry.__table__.c.country, EntryCountry.__table__)
    stmt = select(countries).order_by(countries.c.name)
    if used_only:
        stmt = stmt.where(countries.c.code.in_(list(counts)) if counts else False)
    rows = [dict(r) for r in session.execute(stmt).mappings()]
    return with_counts(rows, "code", counts, kinds)


def list_sessions(session: Session, kinds: Iterable[str], only: int | None = None
                  ) -> list[dict[str, Any]]:
    """All sessions (or the one numbered), newest first, with counts per kind."""
    stmt = select(sessions).order_by(sessions.c.number.desc())
    if only is not None:
        stmt = stmt.where(sessions.c.number == only)
    rows = [dict(r) for r in session.execute(stmt).mappings()]
    return with_counts(rows, "number", _counts(session, entries.c.session, None), kinds)


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
    return get_row(session, table, key_column, key, what)


def update_row(session: Session, table: Any, key_column: Any, key: Any, changes: dict,
               what: str) -> dict:
    """Apply a partial update to a reference row."""
    get_row(session, table, key_column, key, what)
    if changes:
        session.execute(update(table).where(key_column == key).values(changes))
    return get_row(session, table, key_column, key, what)


def delete_row(session: Session, table: Any, key_column: Any, key: Any, what: str,
               usage: Any) -> None:
    """Delete a reference row unless entries still use it (409 with the count)."""
    get_row(session, table, key_column, key, what)
    in_use = session.scalar(select(func.count()).select_from(usage.subquery()))
    if in_use:
        raise Conflict(f"{what} '{key}' is used by {in_use} entries; retag them first")
    session.execute(delete(table).where(key_column == key))
