"""Reads on SQLAlchemy's Connection from the read pool: kept statements, errors that free
the connection, and a lost connection replaced."""

import psycopg
import pytest
from sqlalchemy import bindparam, column, event, select, table
from sqlalchemy.exc import DBAPIError

from app.core import db as core_db
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


@pytest.mark.skipif(not IS_POSTGRES, reason="SQLite has no server to drop it")
def test_postgresql_a_connection_lost_under_a_read_is_503_then_replaced(client, auth, engine):
    spec = KINDS[0]
    entry_id = client.post(f"/api/v1/{spec.plural}", json=sample(spec),
                           headers=auth).json()["id"]
    url = f"/api/v1/{spec.plural}/{entry_id}"
    assert client.get(url).status_code == 200  # the read pool holds a connection now
    dsn = BASE_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    try:
        # Used moments ago, so not pinged: the read finds it dead.
        lost = client.get(url)
        assert_problem(lost, 503, "the database is unavailable")
        assert lost.headers["Retry-After"] == "5"
        # SQLAlchemy's handling invalidated the pool: the next read gets a new connection.
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
