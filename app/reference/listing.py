"""Topics, countries and sessions as collections: pages in the list envelope, single
members, each with its entries per kind and its own `href`.

The counts of a collection come from one statement over the link table's covering index
(`entry_topics`, `entry_countries`: type, value) or over `entries (session, type)`, and
are kept per data version by the cache the list facets use
(app.entries.listing.aggregates): every read after the last write of an entry answers
from the kept counts, a 304 included; the first read after a write counts once. Pages
and single members all read the same kept answer, so `/topics/{slug}` costs what
`/topics` does. The reference rows themselves are read afresh each time (a few hundred
at most): a curator's edit shows at once.
"""

from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Select, false, func, select
from sqlalchemy.sql.elements import ColumnElement

from app.core.errors import BadRequest, NotFound
from app.core.routing import API_PREFIX
from app.entries.listing.aggregates import Aggregates, version_column
from app.entries.listing.paging import (
    SortField,
    SortKey,
    cursor_values,
    decode_cursor,
    encode_cursor,
    keyset_after,
)
from app.entries.models import EntryCountry, EntryTopic
from app.reference.service import countries, entries, sessions, topics


@dataclass(frozen=True, eq=False)
class Collection:
    """One reference collection: its table and key, its order, and the column of the
    entry tables that names its members."""

    what: str  # "topic": in messages
    path: str  # "topics": the collection's URL below the API root
    table: Any
    key: Any
    order: tuple[SortKey, ...]  # a total order: the key comes last
    counted_by: Any  # entry_topics.topic, entry_countries.country, entries.session

    def href(self, key: Any) -> str:
        """A member's own root-relative URL (`/api/v1/topics/xinjiang`)."""
        return f"{API_PREFIX}/{self.path}/{quote(str(key), safe='')}"


def _ascending(*columns: Any) -> tuple[SortKey, ...]:
    return tuple(SortKey(SortField(column.name, column, str), False) for column in columns)


TOPICS = Collection("topic", "topics", topics, topics.c.slug,
                    _ascending(topics.c.name, topics.c.slug), EntryTopic.__table__.c.topic)
COUNTRIES = Collection("country", "countries", countries, countries.c.code,
                       _ascending(countries.c.name, countries.c.code),
                       EntryCountry.__table__.c.country)
SESSIONS = Collection("session", "sessions", sessions, sessions.c.number,
                      (SortKey(SortField("number", sessions.c.number, int), True),),
                      entries.c.session)


@cache
def count_statement(collection: Collection, dialect: str) -> Select[Any]:
    """Entries per member and kind, the data version last (built once a collection).

    Grouped in the order of the covering index: (type, value) on the link tables,
    (session, type) on entries."""
    value, kind = collection.counted_by, collection.counted_by.table.c.type
    groups = (value, kind) if collection.counted_by.table is entries else (kind, value)
    return (select(value, kind, func.count(), version_column(dialect))
            .where(value.is_not(None)).group_by(*groups))


def counts(connection: Connection, collection: Collection) -> dict[Any, dict[str, int]]:
    """Entries per kind for every member some entry names (kept until the data changes)."""
    stmt = count_statement(collection, connection.dialect.name)
    per_member: dict[Any, dict[str, int]] = {}
    for value, kind, number, _version in Aggregates(connection).rows(stmt, {}):
        per_member.setdefault(value, {})[kind] = number
    return per_member


def _member(collection: Collection, row: Any, per_member: dict[Any, dict[str, int]],
            kinds: tuple[str, ...]) -> dict[str, Any]:
    """A row as a member: its fields, `href`, and `counts` for every kind (0 if none)."""
    member = dict(row)
    key = member[collection.key.name]
    counted = per_member.get(key, {})
    return member | {"href": collection.href(key),
                     "counts": {kind: counted.get(kind, 0) for kind in kinds}}


def _cursor_clause(collection: Collection, cursor: str, offset: int
                   ) -> tuple[ColumnElement[bool], dict[str, Any]]:
    """Members after a cursor's, and the values it binds; 400 with an offset too."""
    if offset:
        raise BadRequest("use either offset or cursor, not both",
                         errors=[{"loc": ["query", "cursor"], "msg": "offset given too"}])
    after = decode_cursor(cursor, collection.order)
    return keyset_after(collection.order, [v is None for v in after]), cursor_values(after)


def page(connection: Connection, collection: Collection, kinds: tuple[str, ...], *,
         limit: int, offset: int = 0, cursor: str | None = None, used_only: bool = False
         ) -> dict[str, Any]:
    """One page of the collection in its order, in the list envelope (`used_only`: only
    members some entry names)."""
    per_member = counts(connection, collection)
    table, order = collection.table, collection.order
    where = []
    if used_only:
        where.append(collection.key.in_(list(per_member)) if per_member else false())
    total = connection.scalar(select(func.count()).select_from(table).where(*where))
    stmt = select(table).where(*where).order_by(*(key.order_by() for key in order))
    values: dict[str, Any] = {}
    if cursor is not None:
        after, values = _cursor_clause(collection, cursor, offset)
        stmt = stmt.where(after)
    rows = connection.execute(stmt.limit(limit + 1).offset(offset), values).mappings().all()
    more, rows = len(rows) > limit, rows[:limit]
    next_cursor = encode_cursor(order, [rows[-1][key.field.name] for key in order]
                                ) if more else None
    return {"items": [_member(collection, row, per_member, kinds) for row in rows],
            "total": total, "total_exact": True, "limit": limit, "offset": offset,
            "next_cursor": next_cursor}


def member(connection: Connection, collection: Collection, kinds: tuple[str, ...],
           key: Any) -> dict[str, Any]:
    """One member with its counts, or a 404 naming it."""
    row = connection.execute(select(collection.table).where(collection.key == key)
                             ).mappings().first()
    if row is None:
        raise NotFound(f"{collection.what} '{key}' does not exist")
    return _member(collection, row, counts(connection, collection), kinds)
