"""Counts and facets remembered until the data changes.

A count or a set of facets read from the matches costs the same on every request for
the same query: for a common word, every match is read, many times the cost of the page
itself (counts the tallies hold are not kept here: they cost one index probe). Each
process keeps its latest such answers (`HRC_DIGEST_AGGREGATE_CACHE` of them), and Redis
keeps them for every process when `HRC_DIGEST_REDIS_URL` is set (`kept`: where answers
are kept), keyed by statement and bound values, each with the **data version** it was
computed at, read from the change log, which every write of an entry adds to in the same
transaction (`repository.record_changes`; the log mirrors follow). A request
reads the current version (one index probe, only when it needs a count or facets) and
uses an answer kept at that version as it is; any other version means a write landed.

The version, and why an answer kept at version V is exact whenever V is read again:
- SQLite: the newest `seq`. One writer at a time, so a write that commits later took
  its change ids after every committed one: the newest `seq` moves. Numbers are never
  given twice (AUTOINCREMENT), even after the log is emptied.
- PostgreSQL: the largest writer transaction id (`txid`), and an answer is kept only
  if its statement's snapshot lists no transaction in progress (xmin = xmax). A write
  invisible to that snapshot then either ran with an id below xmax (it would have been
  listed) or has an id at or above xmax, which is above every committed id, so V
  too: when it commits, the largest `txid` moves. (The newest `seq` would not do: a
  transaction can commit after another that took later change ids.) An answer computed
  while a transaction with an older id runs is used for its request only.
The version is read in the statement that computes the answer (one snapshot): its
rows each carry it as their last column.
"""

from functools import cache, lru_cache
from typing import Any

from sqlalchemy import Connection, Dialect, Select, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from app.core.config import get_settings
from app.entries.listing import kept
from app.entries.models import EntryChange
from app.reference.models import ReferenceChange

changes = EntryChange.__table__
reference_changes = ReferenceChange.__table__


def _newest(log: Any, dialect: str) -> ColumnElement[Any]:
    """A change log's newest version: its largest `txid` (PostgreSQL) or `seq`; 0 if empty."""
    newest = func.max(log.c.txid if dialect == "postgresql" else log.c.seq)
    return select(func.coalesce(newest, 0)).scalar_subquery()


@cache
def _version(dialect: str) -> Select[Any]:
    """The data version now (see the module's docstring); 0 while the log is empty."""
    return select(_newest(changes, dialect).label("version"))


@cache
def answer_version(dialect: str) -> Select[Any]:
    """The data version of whole answers (`app.entries.answers`): the entries' version as above,
    moved also by every write to the reference data (`ReferenceChange`), which answers
    name. PostgreSQL: the larger of the two logs' largest `txid` (the argument above
    holds for both logs at once). SQLite: the sum of their newest `seq`, which any write
    to either log raises (as long as neither log loses its newest row: docs/operations.md,
    known limitations)."""
    entries, reference = _newest(changes, dialect), _newest(reference_changes, dialect)
    both = func.greatest(entries, reference) if dialect == "postgresql" else entries + reference
    return select(both.label("version"))


def version_column(dialect: str, *, answers: bool = False) -> ColumnElement[Any]:
    """The data version a statement runs at (`answers`: `answer_version`'s), or NULL when
    its answer may not be kept."""
    newest = (answer_version if answers else _version)(dialect).scalar_subquery()
    if dialect != "postgresql":
        return newest.label("_version")
    snapshot = func.pg_current_snapshot()
    quiet = func.pg_snapshot_xmin(snapshot) == func.pg_snapshot_xmax(snapshot)
    return case((quiet, newest), else_=None).label("_version")


@cache
def keepable_version(dialect: str) -> Select[Any]:
    """`version_column` of whole answers as a statement of its own (for an answer whose
    data is read after it, in other statements)."""
    return select(version_column(dialect, answers=True))


def _frozen(values: dict[str, Any]) -> tuple[Any, ...]:
    """Bound values as a key (lists, for IN, as tuples)."""
    return tuple(sorted((name, tuple(value) if isinstance(value, list) else value)
                        for name, value in values.items()))


@lru_cache(maxsize=1024)
def _bind_names(stmt: Any, dialect: Dialect) -> frozenset[str]:
    """The names of the values a statement binds."""
    return frozenset(stmt.compile(dialect=dialect).params)


class Aggregates:
    """One request's aggregate statements: the current version read once, when first needed."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._version: int | None = None
        self._read = False

    def _current(self) -> int | None:
        if not self._read:
            stmt = _version(self.connection.dialect.name)
            self._version, self._read = self.connection.execute(stmt).scalar(), True
        return self._version

    def rows(self, stmt: Select[Any], values: dict[str, Any]) -> list[Any]:
        """The rows of an aggregate statement (`version_column` last): kept ones if current.

        Asked of the stores in order (`kept`: this process's, then Redis when set), under
        the statement (kept ones are the same object for the same shape) and the values it
        binds (a page's cursor or limit is no part). An answer found in a later store is
        kept in the earlier ones too; one computed is kept in every store."""
        if get_settings().aggregate_cache <= 0:
            return list(self.connection.execute(stmt, values))
        names = _bind_names(stmt, self.connection.dialect)
        question = kept.Question(stmt, _frozen({k: v for k, v in values.items() if k in names}))
        stores = kept.stores(self.connection)
        version = self._current()
        if version is not None:
            for n, store in enumerate(stores):
                answer = store.get(question, version)
                if answer is not None:
                    kept.ANSWERED[store.source].inc()
                    for earlier in stores[:n]:
                        earlier.put(question, version, answer)
                    return answer
        rows = list(self.connection.execute(stmt, values))
        kept.ANSWERED["database"].inc()
        if rows and rows[0][-1] is not None:
            for store in stores:
                store.put(question, rows[0][-1], rows)
        return rows
