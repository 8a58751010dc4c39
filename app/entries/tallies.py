"""Tallies: how many entries of each kind have each value, kept current by every write.

A list filtered by kind alone (or by kind and languages, one topic or one country) takes
its exact `total` and facets from these few rows (`entry_tallies`) instead of counting its
matches: at 500,000 entries, counting every entry per topic, country and year reads
every row (docs/benchmarks.md), a tally is one index probe.

How they stay exact:
- A write reads the tallied columns of the entries it changes or deletes before it does
  (`counted`: one statement per batch, by id), takes those it writes from its records
  (`written`), and queues the difference with its session (`queue`): each value as the
  facets name it (`_keys`, checked against the SQL recount `rebuild` uses). Rows it
  changes are locked by then (the write paths lock before they read), so what it read
  is what it replaced.
- The change log's final step (`repository._append_changes`, under its advisory lock on
  PostgreSQL, the database's write lock on SQLite) applies the queued differences as one
  upsert (`apply`): writers never wait for each other on a tally row, and a reader's
  snapshot sees a write's entries and its tallies together or neither.
- A write that bypasses the app (the bench's bulk loader, a migration that changes
  entries) ends with `rebuild` (`hrc-digest recount`).
"""

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    String,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal_column,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.entries.listing import filters
from app.entries.listing.filters import date_bucket, entries, json_elements, sort_date, undated
from app.entries.models import EntryTally

tallies = EntryTally.__table__
# What is tallied, per kind: the facets every list has. A link list (topic, country)
# tallies each value of the entry's JSON list, as the facets count them.
FACETS = ("type", "topic", "country", "session", "language", "year", "month", "day")
LINK_LISTS = {"topic": "topics", "country": "countries"}  # facet -> the entry's JSON list
HISTOGRAMS = ("year", "month", "day")
KEY = ("facet", "value", "type", "dated")
PENDING = "pending_tallies"  # Session.info key: the transaction's queued differences

Key = tuple[str, str, str, bool]
UNDATED = date.fromisoformat(filters.UNDATED)  # an entry placed on it counts as undated


def value_of(facet: str, dialect: str) -> tuple[Any, Any]:
    """A facet's value for an entry (NULL: not counted), and the FROM it needs."""
    if facet in LINK_LISTS:
        elements = json_elements(dialect, entries.c[LINK_LISTS[facet]])
        return elements.c.value, entries.join(elements, true())
    if facet in HISTOGRAMS:
        return date_bucket(facet, dialect), entries
    return entries.c[facet], entries


def _tallied(dialect: str, where: Any) -> Select[Any]:
    """(facet, value, type, dated, n) of the entries `where` holds for, grouped."""
    dated = sort_date(dialect) > undated(dialect)
    branches = []
    for facet in FACETS:
        value, source = value_of(facet, dialect)
        branches.append(
            select(literal_column(f"'{facet}'").label("facet"),
                   cast(value, String).label("value"), entries.c.type.label("type"),
                   dated.label("dated"), func.count().label("n"))
            .select_from(source).where(value.is_not(None), *where)
            .group_by(value, entries.c.type, dated))
    return union_all(*branches)


_TALLIED_COLUMNS = select(entries.c.type, entries.c.date, entries.c.session,
                         entries.c.language, entries.c.topics, entries.c.countries).where(
    entries.c.id.in_(bindparam("ids", expanding=True)))


def _keys(kind: str, day: date | None, session: int | None, language: str,
          topics: list[str], countries: list[str]) -> Iterator[Key]:
    """The tallies one entry adds to: as `_tallied` counts them, value for value."""
    dated = day is not None and day > UNDATED
    yield "type", kind, kind, dated
    yield "language", language, kind, dated
    if session is not None:
        yield "session", str(session), kind, dated
    if day is not None:
        yield "year", str(day.year), kind, dated
        yield "month", f"{day.year:04d}-{day.month:02d}", kind, dated
        yield "day", f"{day.year:04d}-{day.month:02d}-{day.day:02d}", kind, dated
    for facet, values in (("topic", topics), ("country", countries)):
        for value in values or ():
            if value is not None:
                yield facet, value, kind, dated


def counted(session: Session, ids: Sequence[int]) -> Counter[Key]:
    """What these entries add to the tallies as they are stored now (one statement)."""
    found: Counter[Key] = Counter()
    if ids:
        for row in session.execute(_TALLIED_COLUMNS, {"ids": list(ids)}):
            found.update(_keys(*row))
    return found


def written(kind: str, records: Iterable[Mapping[str, Any]]) -> Counter[Key]:
    """What entries of a kind add to the tallies once written with these records (their
    `entries` columns, placed: no statement needed)."""
    found: Counter[Key] = Counter()
    for record in records:
        found.update(_keys(kind, record["date"], record["session"], record["language"],
                           record["topics"], record["countries"]))
    return found


def queue(session: Session, after: Counter[Key], before: Counter[Key] | None = None) -> None:
    """Queue the difference `after - before` (negative counts kept) for the commit."""
    pending: Counter[Key] = session.info.setdefault(PENDING, Counter())
    pending.update(after)
    if before:
        pending.subtract(before)


def discard(session: Session) -> None:
    """Forget the queued differences (the transaction ended without them)."""
    session.info.pop(PENDING, None)


def _upsert(dialect: str) -> Any:
    """Add `n` to a tally, creating it at `n`."""
    builder = postgresql_insert if dialect == "postgresql" else sqlite_insert
    stmt = builder(tallies)
    return stmt.on_conflict_do_update(index_elements=list(KEY),
                                      set_={"n": tallies.c.n + stmt.excluded.n})


_EMPTIED = delete(tallies).where(
    *(tallies.c[name] == bindparam(f"_{name}") for name in KEY), tallies.c.n == 0)


def apply(session: Session) -> None:
    """Apply the transaction's queued differences (the change log's final step)."""
    pending: Counter[Key] | None = session.info.pop(PENDING, None)
    changed = sorted((key, n) for key, n in (pending or {}).items() if n)
    if not changed:
        return
    dialect = session.get_bind().dialect.name
    session.execute(_upsert(dialect), [dict(zip(KEY, key, strict=True)) | {"n": n}
                                       for key, n in changed])
    lowered = [{f"_{name}": part for name, part in zip(KEY, key, strict=True)}
               for key, n in changed if n < 0]
    if lowered:  # a value no entry of the kind has any more: its row goes
        session.execute(_EMPTIED, lowered)


def _dialect(connection: Connection | Session) -> str:
    bind = connection.get_bind() if isinstance(connection, Session) else connection
    return bind.dialect.name


def rebuild(connection: Connection | Session) -> None:
    """Count every tally afresh from the entries (after writes that bypassed the app).

    On PostgreSQL under the change log's lock, as a write's final step (`apply`): no
    write commits meanwhile, and one that commits later adds its difference to the
    recount, which did not see it."""
    if _dialect(connection) == "postgresql":
        from app.entries.repository import CHANGE_LOG_LOCK  # it imports this module

        connection.execute(select(func.pg_advisory_xact_lock(CHANGE_LOG_LOCK)))
    connection.execute(delete(tallies))
    connection.execute(insert(tallies).from_select(list(KEY) + ["n"],
                                                   _tallied(_dialect(connection), [])))


def _as_dict(rows: Any) -> dict[Key, int]:
    return {(facet, value, kind, bool(dated)): n for facet, value, kind, dated, n in rows}


def stored(connection: Connection | Session) -> dict[Key, int]:
    """Every tally as stored."""
    return _as_dict(connection.execute(select(*(tallies.c[name] for name in KEY),
                                              tallies.c.n)))


def recounted(connection: Connection | Session) -> dict[Key, int]:
    """Every tally as counted afresh from the entries now (what `stored` must give)."""
    return _as_dict(connection.execute(_tallied(_dialect(connection), [])))
