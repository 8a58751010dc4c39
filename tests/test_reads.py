"""Reads through ReadConnection (Connection.execute on the read pool): the rows SQLAlchemy
gives, its errors, its handling of a lost connection, and the bounded statement cache."""

import psycopg
import pytest
from sqlalchemy import bindparam, column, event, select, table
from sqlalchemy.exc import DBAPIError

from app.core import db as core_db
from app.core.statements import StatementCache, statements
from app.entries import repository as repo
from app.entries.models import Entry
from app.entries.registry import KINDS
from tests.databases import BASE_URL, IS_POSTGRES
from tests.helpers import assert_problem, sample

entries = Entry.__table__


def _reader():
    """What read routes query through."""
    return core_db._request_read_session_factory()()


def _through_sqlalchemy(statement, params):
    with core_db.get_read_engine().connect() as connection:
        return connection.execute(statement, params).all()


@pytest.mark.parametrize("spec", KINDS, ids=lambda spec: spec.type)
def test_an_entry_by_id_reads_the_same_row_as_a_plain_connection(client, auth, spec):
    # JSON lists, dates, timestamps and nulls: every result processor in use.
    payload = sample(spec, url=None)
    created = client.post(f"/api/v1/{spec.plural}", json=payload, headers=auth)
    assert created.status_code == 201, created.text
    entry_id = created.json()["id"]

    reader = _reader()
    assert repo.get_by_id(reader, spec, entry_id)["id"] == entry_id
    statement = statements.get(("entry_by", spec.type, "id"), lambda: None)
    assert statement is not None, "the by-id statement is not kept"
    rows = reader.execute(statement, {"id": entry_id}).all()
    expected = _through_sqlalchemy(statement, {"id": entry_id})
    assert len(rows) == len(expected) == 1
    assert tuple(rows[0]) == tuple(expected[0])
    assert dict(rows[0]._mapping) == dict(expected[0]._mapping)
    assert rows[0].id == entry_id  # attribute access, as on SQLAlchemy's rows
    assert rows[0].topics == payload["topics"]
    assert reader.execute(statement, {"id": entry_id + 10_000}).all() == []


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


def test_expanding_parameters_read_what_they_name(client, auth):
    spec = KINDS[0]
    ids = [client.post(f"/api/v1/{spec.plural}", json=sample(spec, title=f"T{n}"),
                       headers=auth).json()["id"] for n in range(3)]
    statement = statements.get(("test", "expanding"), lambda: select(entries.c.id).where(
        entries.c.id.in_(bindparam("ids", expanding=True))).order_by(entries.c.id))
    assert _reader().scalars(statement, {"ids": ids[:2]}).all() == ids[:2]
    assert _reader().scalars(statement, {"ids": ids[1:]}).all() == ids[1:]


def test_a_failing_read_raises_sqlalchemys_error_and_frees_its_connection(engine):
    statement = statements.get(("test", "missing table"), lambda: select(
        table("no_such_table", column("x")).c.x).where(column("x") == bindparam("x")))
    reads = core_db.get_read_engine()
    checked_out = reads.pool.checkedout()
    with pytest.raises(DBAPIError) as raised:
        _reader().execute(statement, {"x": 1})
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
    statement = statements.get(("test", "by id"), lambda: select(entries.c.id).where(
        entries.c.id == bindparam("id")))
    reader = core_db.ReadConnection(own)
    try:
        assert reader.execute(statement, {"id": 1}).all() == []
        close_next = [True]

        def closed_on_checkout(dbapi_connection, _record, _proxy):
            if close_next.pop() if close_next else False:
                dbapi_connection.close()  # as a connection the other end dropped

        event.listen(own, "checkout", closed_on_checkout)
        with pytest.raises(DBAPIError) as raised:
            reader.execute(statement, {"id": 1})
        assert raised.value.connection_invalidated  # a 503 with Retry-After, not a 500
        assert reader.execute(statement, {"id": 1}).all() == []  # a new connection
    finally:
        own.dispose()


def test_the_statement_cache_keeps_the_most_recently_used_shapes():
    cache = StatementCache(size=2)
    first = cache.get("first", lambda: select(entries.c.id))
    assert cache.get("first", lambda: None) is first  # built once
    cache.get("second", lambda: select(entries.c.slug))
    cache.get("first", lambda: None)  # used: now the most recent
    cache.get("third", lambda: select(entries.c.title))  # pushes `second` out
    assert len(cache) == 2
    assert cache.get("first", lambda: None) is first
    assert cache.get("second", lambda: "rebuilt") == "rebuilt"
