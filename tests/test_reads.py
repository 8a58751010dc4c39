"""Reads on SQLAlchemy's Connection from the read pool: kept statements, errors that free
the connection, and a lost connection replaced."""

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy import bindparam, column, event, select, table
from sqlalchemy.exc import DBAPIError

from app.core import db as core_db
from app.core import fetch
from app.core.config import get_settings
from app.entries import repository as repo
from app.entries.listing import plan
from app.entries.models import Entry
from app.entries.registry import KINDS
from tests.databases import BASE_URL, IS_POSTGRES
from tests.helpers import assert_problem, sample

entries = Entry.__table__


@pytest.mark.parametrize("spec", KINDS, ids=lambda spec: spec.type)
def test_an_entry_by_id_is_read_by_a_statement_built_once(client, auth, spec):
    payload = sample(spec, url=None)
    created = client.post(f"/api/v1/{spec.plural}", json=payload, headers=auth)
    assert created.status_code == 201, created.text
    url = f"/api/v1/{spec.plural}/{created.json()['id']}"
    assert client.get(url).json() == created.json()
    built = repo._by_key.cache_info().misses
    assert client.get(url).json() == created.json()
    assert repo._by_key.cache_info().misses == built  # the kept statement served it


def test_list_pages_answer_from_kept_statements(client, auth):
    spec = KINDS[0]
    for number in range(3):
        client.post(f"/api/v1/{spec.plural}", json=sample(spec, title=f"Entry {number}"),
                    headers=auth)
    page = client.get(f"/api/v1/{spec.plural}?limit=2").json()
    assert [item["title"] for item in page["items"]] == ["Entry 2", "Entry 1"]
    assert page["total"] == 3 and page["total_exact"] is True
    again = client.get(f"/api/v1/{spec.plural}?limit=2&offset=2").json()
    assert [item["title"] for item in again["items"]] == ["Entry 0"]


def test_a_list_shape_is_planned_once_and_serves_other_values(client, auth):
    spec = KINDS[0]
    for number in range(3):
        client.post(f"/api/v1/{spec.plural}", json=sample(spec, title=f"Entry {number}"),
                    headers=auth)
    assert client.get(f"/api/v1/{spec.plural}?limit=1").status_code == 200
    built = plan.page.cache_info().misses
    pages = [client.get(f"/api/v1/{spec.plural}?limit={n}").json() for n in (1, 2, 3)]
    assert [len(page["items"]) for page in pages] == [1, 2, 3]
    assert plan.page.cache_info().misses == built


def test_a_failing_read_raises_sqlalchemys_error_and_frees_its_connection(engine):
    statement = select(table("no_such_table", column("x")).c.x).where(
        column("x") == bindparam("x"))
    reads = core_db.get_read_engine()
    checked_out = reads.pool.checkedout()
    with pytest.raises(DBAPIError) as raised, reads.connect() as connection:
        connection.execute(statement, {"x": 1})
    assert "no_such_table" in str(raised.value.orig)
    assert reads.pool.checkedout() == checked_out


def test_a_failing_one_row_read_raises_sqlalchemys_error_and_frees_its_connection(engine):
    """app.core.fetch: a DBAPI error is answered as SQLAlchemy raises it (the read runs
    again through Connection.execute), and no connection stays checked out."""
    statement = select(table("no_such_table", column("x")).c.x).where(
        column("x") == bindparam("x"))
    reads = core_db.get_read_engine()
    checked_out = reads.pool.checkedout()
    with pytest.raises(DBAPIError) as raised:
        fetch.one(reads, statement, {"x": 1})
    assert "no_such_table" in str(raised.value.orig)
    assert reads.pool.checkedout() == checked_out


def test_a_one_row_read_converts_columns_as_sqlalchemy_does(client, auth, engine):
    """app.core.fetch gives the row `Connection.execute` gives: dates, times, JSON."""
    spec = KINDS[0]
    created = client.post(f"/api/v1/{spec.plural}", json=sample(spec), headers=auth).json()
    statement = repo.kind_select(spec).where(entries.c.id == bindparam("id"))
    reads = core_db.get_read_engine()
    with reads.connect() as connection:
        expected = connection.execute(statement, {"id": created["id"]}).mappings().one()
    assert fetch.one(reads, statement, {"id": created["id"]}) == dict(expected)
    assert fetch.one(reads, statement, {"id": created["id"] + 10**6}) is None


def test_one_row_reads_from_several_threads_at_once_each_get_their_row(client, auth, engine):
    """On SQLite one thread keeps a connection for these reads; others, while it lives,
    take theirs from the pool. Either way each read gets its own row, and none is left
    checked out of the pool."""
    spec = KINDS[0]
    ids = [client.post(f"/api/v1/{spec.plural}", json=sample(spec, title=f"Thread {n}"),
                       headers=auth).json()["id"] for n in range(4)]
    statement = repo.kind_select(spec).where(entries.c.id == bindparam("id"))
    reads = core_db.get_read_engine()
    start = threading.Barrier(len(ids))

    def read_many(entry_id: int) -> set[str]:
        start.wait(timeout=10)
        return {fetch.one(reads, statement, {"id": entry_id})["title"] for _ in range(50)}

    with ThreadPoolExecutor(max_workers=len(ids)) as pool:
        titles = list(pool.map(read_many, ids, timeout=60))
    assert titles == [{f"Thread {n}"} for n in range(4)]
    assert reads.pool.checkedout() == 0


def test_a_one_row_read_after_the_engine_is_disposed_opens_a_new_connection(client, auth):
    spec = KINDS[0]
    created = client.post(f"/api/v1/{spec.plural}", json=sample(spec), headers=auth).json()
    statement = repo.kind_select(spec).where(entries.c.id == bindparam("id"))
    reads = core_db.get_read_engine()
    assert fetch.one(reads, statement, {"id": created["id"]})["id"] == created["id"]
    opened = []

    def connected(*_: object) -> None:
        opened.append(True)

    event.listen(reads, "connect", connected)
    try:
        reads.dispose()  # closes what the engine's reads keep, SQLite's kept connection too
        assert fetch.one(reads, statement, {"id": created["id"]})["id"] == created["id"]
    finally:
        event.remove(reads, "connect", connected)
    assert opened  # a new connection answered: none was kept past the disposal
    assert reads.pool.checkedout() == 0


@pytest.mark.skipif(not IS_POSTGRES, reason="SQLite has no server to drop it")
def test_postgresql_a_connection_lost_under_a_read_is_503_then_replaced(client, auth, engine,
                                                                        monkeypatch):
    # A page computed (SQLAlchemy's handling); the lean reads that run again are below.
    monkeypatch.setattr(get_settings(), "page_cache", 0)
    spec = KINDS[0]
    entry_id = client.post(f"/api/v1/{spec.plural}", json=sample(spec),
                           headers=auth).json()["id"]
    url = f"/api/v1/{spec.plural}?id={entry_id}"
    assert client.get(url).status_code == 200  # the read pool holds a connection now
    _terminate_backends()
    try:
        # Used moments ago, so not pinged: the read finds it dead.
        lost = client.get(url)
        assert_problem(lost, 503, "the database is unavailable")
        assert lost.headers["Retry-After"] == "5"
        # SQLAlchemy's handling invalidated the pool: the next read gets a new connection.
        assert client.get(url).status_code == 200
    finally:
        engine.dispose()  # the write pool's connections were dropped too


def _terminate_backends() -> None:
    dsn = BASE_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.mark.skipif(not IS_POSTGRES, reason="SQLite has no server to drop it")
def test_postgresql_a_detail_read_whose_connection_was_lost_runs_again(client, auth, engine):
    """The detail lookup (app.core.fetch) invalidates a connection that fails it and runs
    once more through SQLAlchemy: a lost connection costs no failed request there."""
    spec = KINDS[0]
    created = client.post(f"/api/v1/{spec.plural}", json=sample(spec), headers=auth).json()
    url = f"/api/v1/{spec.plural}/{created['id']}"
    assert client.get(url).status_code == 200  # the read pool holds a connection now
    reads = core_db.get_read_engine()
    _terminate_backends()
    try:
        answered = client.get(url)
        assert answered.status_code == 200, answered.text
        assert answered.json()["id"] == created["id"]
        assert reads.pool.checkedout() == 0
        assert client.get(url).status_code == 200
    finally:
        engine.dispose()  # the write pool's connections were dropped too


def test_a_connection_found_closed_is_invalidated_and_replaced(engine):
    own = core_db.build_engine(BASE_URL, pool_size=1, autocommit=True)
    statement = select(entries.c.id).where(entries.c.id == bindparam("id"))

    def read() -> list:
        with own.connect() as connection:
            return connection.execute(statement, {"id": 1}).all()

    try:
        assert read() == []
        close_next = [True]

        def closed_on_checkout(dbapi_connection, _record, _proxy):
            if close_next.pop() if close_next else False:
                dbapi_connection.close()  # as a connection the other end dropped

        event.listen(own, "checkout", closed_on_checkout)
        with pytest.raises(DBAPIError) as raised:
            read()
        assert raised.value.connection_invalidated  # a 503 with Retry-After, not a 500
        assert read() == []  # a new connection
    finally:
        own.dispose()
