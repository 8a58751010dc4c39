"""Kept read statements run straight on the driver's cursor.

`Connection.execute` does a lot per statement that a kept SELECT (one of
`app.core.statements`, built once and run many times) does not need done again: it
works out the statement's cache key and looks up its compiled form, builds an execution
context, result metadata and a result object, and wraps the connection from the pool in
a `Connection`. For an entry by id that is some 60 µs of CPU against 12 µs for the
driver's own `execute` and `fetchall` (SQLite; 200 against 80 µs on PostgreSQL).

A `Prepared` statement does that work once: it compiles its statement for a dialect
(each kept statement is compiled from its own bound values, never from another
statement's compiled form in SQLAlchemy's cache, which may carry other values), and
keeps the SQL, the order of its parameters, their bind processors and, from the first
cursor description, the result processors. Each run then only binds the values, runs
the SQL on a pooled DBAPI connection and makes SQLAlchemy `Row`s with the same
processors `Connection.execute` would have applied, so callers see the same rows.

What it does not take on goes through `Connection.execute` as before: statements that
are not kept, anything but a SELECT, statements carrying execution options, with
expanding (`IN`) or literal-rendered parameters, escaped parameter names, textual
result columns, or result columns sharing a name.
A driver error is handed to SQLAlchemy's own handling, so it is wrapped
(`DBAPIError`), and a lost connection invalidates the pool, exactly as there.
"""

from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import Any

from sqlalchemy import Engine, Select
from sqlalchemy.engine import Connection, Dialect, Row
from sqlalchemy.engine.result import SimpleResultMetaData


class Prepared:
    """One SELECT compiled for one dialect, run on the DBAPI cursor."""

    __slots__ = ("_compiled", "_metadata", "_positions", "_processors", "_described",
                 "_bind_processors", "sql")

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled
        self.sql: str = compiled.string
        self._metadata = SimpleResultMetaData(
            [column.keyname for column in compiled._result_columns])
        self._positions: Sequence[str] | None = (
            tuple(compiled.positiontup) if compiled.positional else None)
        self._bind_processors = {name: proc for name, proc in
                                 compiled._bind_processors.items() if proc is not None}
        self._processors: list[Any] | None = None  # None: no column needs one
        self._described = False  # processors are known once a cursor described the columns

    def _parameters(self, params: Mapping[str, Any] | None) -> Any:
        """The DBAPI parameters: a tuple in SQL order (qmark) or a dict (pyformat)."""
        values = self._compiled.construct_params(params, escape_names=False)
        for name, process in self._bind_processors.items():
            values[name] = process(values[name])
        if self._positions is not None:
            return tuple([values[name] for name in self._positions])
        return values

    def _describe(self, dialect: Dialect, description: Sequence[Any]) -> None:
        """Each result column's processor, given the driver's type for it (as SQLAlchemy's
        CursorResultMetaData works them out)."""
        processors = [column.type._cached_result_processor(dialect, entry[1])
                      for column, entry in zip(self._compiled._result_columns, description,
                                               strict=True)]
        self._processors = processors if any(processors) else None
        self._described = True

    def run(self, engine: Engine, params: Mapping[str, Any] | None) -> list[Row[Any]]:
        """Every row of the statement for these values (the connection goes back at once)."""
        parameters = self._parameters(params)
        dialect = engine.dialect
        try:
            fairy = engine.raw_connection()
        except dialect.loaded_dbapi.Error as exc:  # as Connection() does
            Connection._handle_dbapi_exception_noconnection(exc, dialect, engine)
            raise
        cursor = None
        try:
            try:
                cursor = fairy.cursor()
                cursor.execute(self.sql, parameters)
                raw = cursor.fetchall()
                if not self._described:
                    self._describe(dialect, cursor.description)
            except dialect.loaded_dbapi.Error as exc:
                # SQLAlchemy's own handling: wrapped, the pool invalidated on a disconnect.
                Connection(engine, connection=fairy)._handle_dbapi_exception(
                    exc, self.sql, parameters, cursor, None)
                raise  # not reached: the handler raises
            finally:
                if cursor is not None:
                    with suppress(Exception):  # closed with its connection on a disconnect
                        cursor.close()
        finally:
            fairy.close()
        metadata = self._metadata
        processors, key_to_index = self._processors, metadata._key_to_index
        return [Row(metadata, processors, key_to_index, row) for row in raw]


def watched(engine: Engine) -> bool:
    """True while something watches the engine's executions, which only
    `Connection.execute` tells: execute events (tracing, tests), a dialect's
    `do_execute` hook, or SQL echo (`echo=True`, `sqlalchemy.engine` at INFO)."""
    dispatch = engine.dispatch
    return bool(dispatch.before_execute or dispatch.after_execute
                or dispatch.before_cursor_execute or dispatch.after_cursor_execute
                or engine.dialect.dispatch.do_execute or engine._should_log_info())


def prepare(statement: Any, dialect: Dialect) -> Prepared | None:
    """The statement compiled for the dialect, or None if it must go through
    `Connection.execute` (see the module's docstring for what that covers)."""
    if not isinstance(statement, Select) or statement.get_execution_options():
        return None  # options (schema translation, streaming…) apply in Connection.execute
    compiled = statement.compile(dialect=dialect)
    keys = [column.keyname for column in compiled._result_columns]
    if (compiled.post_compile_params or compiled.literal_execute_params
            or compiled.escaped_bind_names or not keys or len(set(keys)) != len(keys)
            or not compiled._ordered_columns or compiled._ad_hoc_textual):
        return None  # textual columns (`*`, "x, y") are matched to the cursor by name
    return Prepared(compiled)
