"""Counts and facets remembered until the data changes.

A count or a set of facets read from the matches costs the same on every request for
the same query: for a common word, every match is read, many times the cost of the page
itself (counts the tallies hold are not kept here: they cost one index probe). Each
process keeps its latest such answers (`HRC_DIGEST_AGGREGATE_CACHE` of them), keyed by
statement and bound values, each with the **data version** it was computed at, read
from the change log, which every write of an entry adds to in the same transaction
(`repository.record_changes`; the log mirrors follow). A request
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

import threading
from collections import OrderedDict
from collections.abc import Hashable
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import Connection, Dialect, Select, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from app.core.config import get_settings
from app.entries.models import EntryChange

changes = EntryChange.__table__


@cache
def _version(dialect: str) -> Select[Any]:
    """The data version now (see the module's docstring); 0 while the log is empty."""
    newest = func.max(changes.c.txid if dialect == "postgresql" else changes.c.seq)
    return select(func.coalesce(newest, 0))


def version_column(dialect: str) -> ColumnElement[Any]:
    """The data version an aggregate statement runs at, or NULL when it may not be kept."""
    newest = _version(dialect).scalar_subquery()
    if dialect != "postgresql":
        return newest.label("_version")
    snapshot = func.pg_current_snapshot()
    quiet = func.pg_snapshot_xmin(snapshot) == func.pg_snapshot_xmax(snapshot)
    return case((quiet, newest), else_=None).label("_version")


def _frozen(values: dict[str, Any]) -> tuple[Any, ...]:
    """Bound values as a key (lists, for IN, as tuples)."""
    return tuple(sorted((name, tuple(value) if isinstance(value, list) else value)
                        for name, value in values.items()))


class Remembered:
    """The latest answers, least recently used out first; shared by a process's threads."""

    def __init__(self) -> None:
        self._answers: OrderedDict[Hashable, tuple[int, list[Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, version: int) -> list[Any] | None:
        """The answer kept for `key` at exactly this version, if any."""
        with self._lock:
            kept = self._answers.get(key)
            if kept is None or kept[0] != version:
                return None
            self._answers.move_to_end(key)
            return kept[1]

    def put(self, key: Hashable, version: int, answer: list[Any], size: int) -> None:
        """Keep an answer (dropping the least recently used past `size`)."""
        with self._lock:
            self._answers[key] = (version, answer)
            self._answers.move_to_end(key)
            while len(self._answers) > size:
                self._answers.popitem(last=False)

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._answers.clear()


remembered = Remembered()


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

        Keyed by the statement (kept ones are the same object for the same shape) and the
        values it binds (a page's cursor or limit is no part)."""
        size = get_settings().aggregate_cache
        if size <= 0:
            return list(self.connection.execute(stmt, values))
        names = _bind_names(stmt, self.connection.dialect)
        cache_key = (stmt, _frozen({k: v for k, v in values.items() if k in names}))
        version = self._current()
        if version is not None and (kept := remembered.get(cache_key, version)) is not None:
            return kept
        rows = list(self.connection.execute(stmt, values))
        if rows and rows[0][-1] is not None:
            remembered.put(cache_key, rows[0][-1], rows, size)
        return rows
