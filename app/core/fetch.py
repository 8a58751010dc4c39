"""One row of a kept SELECT, read straight from a pooled DBAPI cursor.

The detail routes read one entry by its id or slug: one primary-key or unique-index
lookup. Through `Connection.execute` SQLAlchemy wraps that lookup in a `Connection`, an
execution context and a `CursorResult`, which cost several times the lookup itself
(docs/benchmarks.md, "What each optimisation bought"). `one` runs the same statement with
SQLAlchemy's public API only, one layer lower:

- the statement is compiled once per dialect (`ClauseElement.compile`); its bound values
  come from `Compiled.construct_params`, in `Compiled.positiontup` order for a positional
  paramstyle (SQLite's `?`);
- the connection comes from the engine's pool (`Engine.raw_connection`: its `connect`
  and `checkout` events, the SQLite pragmas and statement time-out included) and goes
  back to it. On SQLite, whose reads of this kind run on the event loop
  (`core.db.bounded_read`), the thread that runs them (the event loop's) keeps one
  connection of its own instead (any other thread, while it lives, uses the pool),
  taken from the pool once and detached from it (`PoolProxiedConnection.detach`: the
  pool's size and figures are unchanged) and closed when the engine is disposed: checking
  a connection out of the pool and back cost such a request about a tenth of its time
  (docs/benchmarks.md). A SQLite connection in autocommit holds no snapshot between
  statements, so keeping it open holds nothing back;
- each column is converted as SQLAlchemy would convert it: the dialect's implementation of
  its type (`TypeEngine.dialect_impl`) and that type's `result_processor`.

Errors: on any error of the DBAPI the connection is invalidated (never handed out again,
whatever broke it) and the read runs once more through `Connection.execute`, so a failure
reaches the error handlers as SQLAlchemy raises and classifies it (503 with Retry-After for
an unavailable database, the statement time-out's own 503), and the pool's own recovery
applies.

Only for statements whose parameters need no conversion on the way in (ints and strings:
ids, slugs, the kind) and that return at most one row.
"""

import threading
from contextlib import suppress
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, Select, event
from sqlalchemy.engine import Dialect


@lru_cache(maxsize=64)
def _compiled(stmt: Select[Any], dialect: Dialect) -> tuple[str, Any, list[str], list[Any]]:
    """The statement's SQL, its compiled form, its column names and their converters."""
    compiled = stmt.compile(dialect=dialect)
    columns = list(stmt.selected_columns)
    converters = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                  for column in columns]
    return str(compiled), compiled, [column.key for column in columns], converters


def one(engine: Engine, stmt: Select[Any], params: dict[str, Any]) -> dict[str, Any] | None:
    """The statement's one row as a dict of its column names, or None when it finds none."""
    sql, compiled, names, converters = _compiled(stmt, engine.dialect)
    values = compiled.construct_params(params)
    bound: Any = values if compiled.positiontup is None else [
        values[name] for name in compiled.positiontup]
    try:
        kept = _kept_connection(engine) if engine.dialect.name == "sqlite" else None
        connection = kept or engine.raw_connection()
    except engine.dialect.loaded_dbapi.Error:  # no connection (the pool's raw error):
        return _through_sqlalchemy(engine, stmt, params)  # raised as SQLAlchemy classifies it
    try:
        cursor = connection.cursor()
        cursor.execute(sql, bound)
        row = cursor.fetchone()
        cursor.close()
    except engine.dialect.loaded_dbapi.Error:
        if kept is None:
            connection.invalidate()
        else:
            _forget(engine)
        return _through_sqlalchemy(engine, stmt, params)
    finally:
        if kept is None:
            connection.close()
    if row is None:
        return None
    return {name: value if convert is None or value is None else convert(value)
            for name, convert, value in zip(names, converters, row, strict=True)}


# SQLite: per engine, the thread that keeps a connection for these reads, and that connection.
_kept: dict[Engine, tuple[int, Any]] = {}
_keeping = threading.Lock()  # the table above changes under it


def _kept_connection(engine: Engine) -> Any:
    """The calling thread's own connection to a SQLite engine's database, or None when
    another live thread keeps it (that caller takes one from the pool)."""
    me = threading.get_ident()
    held = _kept.get(engine)
    if held is not None and held[0] == me:
        return held[1]  # the common case: the event loop's thread, without the lock
    with _keeping:
        held = _kept.get(engine)
        if held is not None:
            owner, connection = held
            if owner in {thread.ident for thread in threading.enumerate()}:
                return None
            _kept[engine] = (me, connection)  # its thread has ended (a test client's loop)
            return connection
        connection = engine.raw_connection()
        connection.detach()
        if not event.contains(engine, "engine_disposed", _forget):
            event.listen(engine, "engine_disposed", _forget)
        _kept[engine] = (me, connection)
        return connection


def _forget(engine: Engine) -> None:
    """Close the connection kept for an engine (disposed, or its connection failed)."""
    with _keeping:
        held = _kept.pop(engine, None)
    if held is not None:
        with suppress(Exception):
            held[1].close()


def _through_sqlalchemy(engine: Engine, stmt: Select[Any], params: dict[str, Any]
                        ) -> dict[str, Any] | None:
    with engine.connect() as connection:
        result = connection.execute(stmt, params)
        row = result.first()
        return None if row is None else dict(zip(result.keys(), row, strict=True))
