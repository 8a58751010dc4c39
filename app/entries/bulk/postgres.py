"""PostgreSQL's bulk write path: COPY instead of one statement per row.

`repository.insert_many` and `update_many` send each detail, link and change row as
its own statement (psycopg's executemany): some 5,000 statements for 1,000 items, which
cost the server more than the rows themselves. Here a batch costs a handful of
statements whatever its size. New entries take ids drawn from the sequence up front and
are copied straight into `entries`, then their detail, link and change rows into theirs.
Updated entries are copied into a staging table and updated from it in one statement.

Same rows and values as the statement path (JSON columns get the very text it sends),
ids in the items' order, everything in the request's transaction. A slug another
transaction took meanwhile fails the COPY of new entries; it is undone (a savepoint)
and that batch's entries go through `repository.insert_ignoring_taken` instead, which
skips such slugs, so the caller sees them left out exactly as on the statement path.

SQLite keeps the statement path: its driver's executemany is already the fast way in.
"""

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

import psycopg
from psycopg import errors, sql
from sqlalchemy import JSON, Table, exc
from sqlalchemy.orm import Session

from app.entries import repository as repo
from app.entries import tallies
from app.entries.fields import PLACEMENT_FIELDS
from app.entries.spec import KindSpec

UPDATE_COLUMNS = (*repo.CORE_WRITE_FIELDS, *PLACEMENT_FIELDS, "search_names", "search_fields",
                  "updated_at")
ENTRY_STAGE = "bulk_stage_entries"  # a temporary table, dropped when the transaction ends


@contextmanager
def _writing(session: Session) -> Iterator[Any]:
    """A psycopg cursor on the session's connection, in its transaction, for the writes.

    The connection plans every prepared statement afresh (`plan_cache_mode`, chosen for
    the read API); that includes the foreign-key checks run for every copied row, which
    then cost more than the row itself. So the
    writes run with cached plans, and the connection's own setting is back for whatever
    the transaction runs next (a generic plan for the slug lookup scans the whole table).

    The driver's errors come out as SQLAlchemy's, as from any other statement, so that
    they take the same handling (a deadlock is retried, a lost server is a 503).
    """
    try:
        with session.connection().connection.cursor() as cursor:
            cursor.execute("SET LOCAL plan_cache_mode = auto")
            yield cursor
            cursor.execute("RESET plan_cache_mode")
    except psycopg.Error as exc:
        raise _as_sqlalchemy(exc) from exc


# The most specific first: psycopg's classes follow DB-API's hierarchy, as SQLAlchemy's.
_WRAPPERS: tuple[tuple[type[psycopg.Error], type[exc.DBAPIError]], ...] = (
    (psycopg.IntegrityError, exc.IntegrityError),
    (psycopg.OperationalError, exc.OperationalError),
    (psycopg.DataError, exc.DataError),
    (psycopg.ProgrammingError, exc.ProgrammingError),
    (psycopg.InternalError, exc.InternalError),
    (psycopg.NotSupportedError, exc.NotSupportedError),
)


def _as_sqlalchemy(error: psycopg.Error) -> exc.DBAPIError:
    """A driver error raised outside SQLAlchemy, as SQLAlchemy would have wrapped it."""
    wrapper = next((ours for theirs, ours in _WRAPPERS if isinstance(error, theirs)),
                   exc.DBAPIError)
    return wrapper("COPY (bulk write)", None, error)


def _names(names: Iterable[str]) -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Identifier, names))


def _json_text(value: Any) -> str:
    """A JSON column's value as the statement path sends it (psycopg's `Json`, which
    uses `json.dumps`), without the wrapper; a list of strings, the common case, spelt
    out as `json.dumps` spells it (five times faster)."""
    if type(value) is list and all(type(item) is str for item in value):
        return "[" + ", ".join(map(encode_basestring_ascii, value)) + "]"
    return json.dumps(value)


def _converters(session: Session, table: Table, columns: list[str]
                ) -> list[tuple[int, Callable[[Any], Any]]]:
    """(position, function) for each column whose values are not copied as they are."""
    dialect = session.get_bind().dialect
    found = []
    for position, name in enumerate(columns):
        column_type = table.c[name].type
        if isinstance(column_type, JSON):  # build_engine keeps the default json_serializer
            found.append((position, _json_text))
        elif (process := column_type.dialect_impl(dialect).bind_processor(dialect)) is not None:
            found.append((position, process))
    return found


def _copy(session: Session, cursor: Any, table: Table, rows: list[dict[str, Any]],
          into: str | None = None) -> None:
    """COPY dict rows (all with the same keys) into the table, or into its staging table."""
    if not rows:
        return
    columns = list(rows[0])
    convert = _converters(session, table, columns)
    with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(into or table.name), _names(columns))) as copy:
        for row in rows:
            values = list(row.values())
            for position, process in convert:
                values[position] = process(values[position])
            copy.write_row(values)


def _stage(cursor: Any, name: str, table: Table, columns: Sequence[str]) -> None:
    """An empty staging table for the transaction: the table's column types, no constraints."""
    cursor.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ON COMMIT DROP AS "
                           "SELECT {} FROM {} WITH NO DATA").format(
        sql.Identifier(name), _names(columns), sql.Identifier(table.name)))
    cursor.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(name)))


def _copy_links_and_changes(session: Session, cursor: Any, spec: KindSpec,
                            written: list[tuple[int, dict[str, Any]]],
                            versions: dict[int, int], action: str, now: datetime) -> None:
    """The written entries' topic and country links; their changes queued for the log."""
    for table, rows in zip((repo.entry_topics, repo.entry_countries),
                           repo.link_rows(spec, written), strict=True):
        _copy(session, cursor, table, rows)
    changed = [(entry_id, record["slug"], versions[entry_id]) for entry_id, record in written]
    repo.record_changes(session, spec, changed, action, now)  # written at commit


def _copy_new_entries(session: Session, cursor: Any, rows: list[dict[str, Any]]
                      ) -> dict[str, int] | None:
    """COPY new entries with ids from the sequence (slug -> id); None, and nothing
    written, when one of the slugs is taken by now.

    Ids follow the rows' order; the rows are copied in slug order, so that two writers
    inserting the same new slugs wait for each other at the first one they share rather
    than each holding a slug the other needs next (a deadlock)."""
    cursor.execute("SELECT nextval(pg_get_serial_sequence('entries', 'id')) "
                   "FROM generate_series(1, %s)", (len(rows),))
    ids = sorted(entry_id for (entry_id,) in cursor.fetchall())
    numbered = sorted(({"id": entry_id} | row for entry_id, row in zip(ids, rows, strict=True)),
                      key=lambda row: row["slug"])
    try:
        with cursor.connection.transaction():  # a savepoint: a taken slug undoes only this
            _copy(session, cursor, repo.entries, numbered)
    except errors.UniqueViolation:
        return None
    return {row["slug"]: row["id"] for row in numbered}


def insert_many(session: Session, spec: KindSpec, records: list[dict[str, Any]],
                now: datetime) -> dict[str, int]:
    """As `repository.insert_many`: slug -> id of the entries inserted; a slug another
    transaction took meanwhile is left out rather than failing the batch."""
    if not records:
        return {}
    rows = [repo.new_entry_values(spec, record, now) for record in records]
    with _writing(session) as cursor:
        ids = _copy_new_entries(session, cursor, rows)
        if ids is None:
            ids = repo.insert_ignoring_taken(session, sorted(rows, key=lambda r: r["slug"]))
        inserted = [(ids[r["slug"]], r) for r in records if r["slug"] in ids]
        if inserted:
            _copy(session, cursor, spec.detail_table,
                  [{"id": entry_id} | repo.detail_values(spec, r) for entry_id, r in inserted])
            _copy_links_and_changes(session, cursor, spec, inserted,
                                    dict.fromkeys(ids.values(), 1), "created", now)
            tallies.queue(session, tallies.written(spec.type, (r for _, r in inserted)))
    return ids


def update_many(session: Session, spec: KindSpec, updates: list[tuple[int, dict[str, Any]]],
                now: datetime) -> None:
    """As `repository.update_many`: overwrite entries with full records, bump their
    versions, replace their links, log the changes."""
    if not updates:
        return
    ids = [entry_id for entry_id, _ in updates]
    before = tallies.counted(session, ids)  # the rows are locked by the caller
    with _writing(session) as cursor:
        _update_from_stage(session, cursor, spec, updates, now)
    tallies.queue(session, tallies.written(spec.type, (r for _, r in updates)), before)


def _update_from_stage(session: Session, cursor: Any, spec: KindSpec,
                       updates: list[tuple[int, dict[str, Any]]], now: datetime) -> None:
    """Entries and detail rows updated from staging copies (one UPDATE each), links
    replaced, changes logged."""
    entries, detail = repo.entries, spec.detail_table
    _stage(cursor, ENTRY_STAGE, entries, ("id", *UPDATE_COLUMNS))
    _copy(session, cursor, entries, [
        {"id": entry_id, **repo.core_values(spec, record), "updated_at": now}
        for entry_id, record in updates], ENTRY_STAGE)
    assign = sql.SQL(", ").join(sql.SQL("{0} = s.{0}").format(sql.Identifier(name))
                                for name in UPDATE_COLUMNS)
    cursor.execute(sql.SQL("UPDATE {} AS e SET {}, version = e.version + 1 FROM {} AS s "
                           "WHERE e.id = s.id RETURNING e.id, e.version").format(
        sql.Identifier(entries.name), assign, sql.Identifier(ENTRY_STAGE)))
    versions = dict(cursor.fetchall())
    if spec.detail_fields:
        stage = f"bulk_stage_{detail.name}"
        _stage(cursor, stage, detail, ("id", *spec.detail_fields))
        _copy(session, cursor, detail, [{"id": entry_id} | repo.detail_values(spec, record)
                                        for entry_id, record in updates], stage)
        assign = sql.SQL(", ").join(sql.SQL("{0} = s.{0}").format(sql.Identifier(name))
                                    for name in spec.detail_fields)
        cursor.execute(sql.SQL("UPDATE {} AS d SET {} FROM {} AS s WHERE d.id = s.id").format(
            sql.Identifier(detail.name), assign, sql.Identifier(stage)))
    ids = [entry_id for entry_id, _ in updates]
    for links in (repo.entry_topics, repo.entry_countries):
        cursor.execute(sql.SQL("DELETE FROM {} WHERE entry_id = ANY(%s)").format(
            sql.Identifier(links.name)), (ids,))
    _copy_links_and_changes(session, cursor, spec, updates, versions, "updated", now)
