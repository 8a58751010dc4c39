"""Shared test helpers: sample payloads per kind, problem+json assertions, database resets."""

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from sqlalchemy import event, select, text, update
from sqlalchemy.orm import Session

from app.core import db as core_db
from app.core.metadata import metadata
from app.entries.listing.kept import forget as forget_kept
from app.entries.registry import KINDS
from app.reference.seed import load_reference_data
from tests.databases import ROOT

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

KIND_IDS = [spec.plural for spec in KINDS]


def sample(spec, **overrides: Any) -> dict[str, Any]:
    """A valid create payload for a kind (its documented example, plus overrides)."""
    return dict(spec.example) | overrides


def kind_counts(**given: int) -> dict[str, int]:
    """Entries per kind as reference data reports them: every registered kind, 0 if not given."""
    return {spec.type: given.get(spec.type, 0) for spec in KINDS}


@contextmanager
def statements_sent(keep: Callable[[str], bool] = lambda statement: True
                    ) -> Iterator[list[str]]:
    """Every statement the app sends to the database (that `keep` keeps) meanwhile."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if keep(statement):
            seen.append(statement)

    engines = {id(e): e for e in (core_db.get_engine(), core_db.get_read_engine())}
    for each in engines.values():
        event.listen(each, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for each in engines.values():
            event.remove(each, "before_cursor_execute", record)


def assert_problem(response, status: int, *mentions: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status naming each mention."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= body.keys()
    assert body["status"] == status
    for mention in mentions:
        assert mention in body["detail"], (mention, body["detail"])
    for leak in ("Traceback", "sqlalchemy", "SELECT ", "psycopg", "sqlite3", "/work/"):
        assert leak not in response.text
    return body


# Emptied after every test, children first (every table but countries, which no test
# empties); reference rows are then restored from seed_data.
_DATA_TABLES = tuple(table.name for table in reversed(metadata.sorted_tables)
                     if table.name != "countries")


def empty_database(engine) -> None:
    """Every table back to the reference data alone."""
    forget_kept()  # kept counts and facets of the data about to be removed
    with Session(engine) as session:
        for table in _DATA_TABLES:
            session.execute(text(f"DELETE FROM {table}"))
        load_reference_data(session, ROOT / "seed_data")
        session.commit()


def seed(db: Session) -> None:
    """Load the shipped digest page."""
    from app.loader import seeding

    seed_dir = ROOT / "seed_data"
    seeding.save(db, seeding.plan(seeding.default_pages(seed_dir), seed_dir, db))
    db.commit()


def _raw_rows(connection, table) -> set[tuple[str, ...]]:
    """A table's rows as the driver returns them (every column, engine-specific ones too)."""
    return {tuple(map(repr, row))
            for row in connection.exec_driver_sql(f"SELECT * FROM {table.name}")}


def _key(table, row) -> tuple:
    return tuple(row[column.name] for column in table.primary_key)


class Rewritable:
    """What a function writes to a database holding only the reference data, kept once to
    be written again, for a fixture many tests take.

    Seeding the shipped page plans it (parsing, classifying, matching) and writes through
    the service: about 0.2 s on SQLite and up to 1 s on PostgreSQL, in some 170 tests.
    Written again from the rows it stored (entries, details, links, the change log, and
    session 46 as the page describes it), it takes a few milliseconds: ids, versions and
    times are the stored ones, full-text columns and indexes the database's own. The copy
    is used only if a trial gave back exactly what the function stored, every column as
    the driver reads it; otherwise, or when entries are there already, `write` runs the
    function itself.
    """

    def __init__(self, engine, function: Callable[[Session], None]) -> None:
        self.function = function
        self.added: dict[Any, list[dict[str, Any]]] = {}
        self.changed: dict[Any, list[dict[str, Any]]] = {}
        self.usable = False
        tables = metadata.sorted_tables  # parents first
        with engine.connect() as connection:
            before = {table: _raw_rows(connection, table) for table in tables}
            kept = {table: {_key(table, row._mapping) for row in
                            connection.execute(select(*table.primary_key.columns))}
                    for table in tables}
        if any(before[table] for table in tables if table.name == "entries"):
            return  # not the reference data alone
        with Session(engine) as session:
            function(session)
            session.commit()
        with engine.connect() as connection:
            stored = {table: _raw_rows(connection, table) for table in tables}
            # Read through the tables' own types, so writing them stores what the app does.
            for table in tables:
                if stored[table] == before[table]:
                    continue
                for row in connection.execute(table.select()):
                    values = dict(row._mapping)
                    new = _key(table, values) not in kept[table]
                    (self.added if new else self.changed).setdefault(table, []).append(values)
        empty_database(engine)
        with Session(engine) as session:
            self._copy(session)
        with engine.connect() as connection:
            self.usable = {table: _raw_rows(connection, table) for table in tables} == stored
        empty_database(engine)

    def _copy(self, db: Session) -> None:
        for table, rows in self.changed.items():
            for row in rows:
                db.execute(update(table).where(
                    *(column == row[column.name] for column in table.primary_key)).values(row))
        for table, rows in self.added.items():
            db.execute(table.insert(), rows)
        db.commit()
        forget_kept()

    def write(self, db: Session) -> None:
        """What the function writes, in the test's session (committed)."""
        if not self.usable or db.scalar(text("SELECT count(*) FROM entries")):
            self.function(db)  # entries there already: let the function meet them
            db.commit()
            forget_kept()
            return
        self._copy(db)


def redis_keys(prefix: str) -> list[bytes]:
    """The keys stored under a prefix in the tests' Redis."""
    with redis.Redis.from_url(REDIS_URL, socket_timeout=2) as client:
        return list(client.scan_iter(match=f"{prefix}*", count=1000))


_QUIET = text("SELECT pg_snapshot_xmin(s) = pg_snapshot_xmax(s) FROM pg_current_snapshot() s")


def cluster_quiet(engine) -> bool:
    """Whether no transaction of the database cluster is running now (always on SQLite):
    on PostgreSQL, counts and facets are kept only then (app/entries/listing/aggregates)."""
    if engine.dialect.name != "postgresql":
        return True
    with engine.connect() as connection:
        return bool(connection.execute(_QUIET).scalar())


def kept_response(client, url: str, sent: list[str] | Callable[[], float],
                  headers: dict[str, str] | None = None):
    """The answer once the process keeps it: asked again, it runs no statement that `sent`
    (a `statements_sent` list) records, or `sent` (a callable: a count of answers sent
    as kept, from /metrics) rises.

    On PostgreSQL an answer is kept only when computed while no transaction of the
    cluster is running; other databases' work (other test runs sharing the server, a
    long load) can hold that off for a while. If it does for all of 20 s, the test is
    skipped, naming why; if the cluster was quiet at times and still nothing was kept,
    it fails.
    """
    deadline, quiet_seen = time.monotonic() + 20, False
    while True:
        quiet_seen = quiet_seen or cluster_quiet(core_db.get_read_engine())
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200, answer.text
        before = sent.clear() if isinstance(sent, list) else sent()
        again = client.get(url, headers=headers)
        if (not sent) if isinstance(sent, list) else sent() > before:
            assert again.content == answer.content
            return answer
        if time.monotonic() > deadline:
            if not quiet_seen:
                pytest.skip("PostgreSQL: another transaction of the cluster ran throughout "
                            "20 s, and no count is kept while one runs (aggregates.py)")
            pytest.fail("no answer was kept within 20 s, though the cluster was quiet")
        time.sleep(0.1)
