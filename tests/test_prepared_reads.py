"""Kept read statements run prepared, below Connection.execute (app/core/prepared.py):
the same rows, the same errors, and SQLAlchemy's path for everything else."""

import logging

import psycopg
import pytest
from sqlalchemy import bindparam, column, event, select, table, text
from sqlalchemy.exc import DBAPIError

from app.core import db as core_db
from app.core import prepared as prepared_module
from app.core.prepared import prepare
from app.core.statements import statements
from app.entries import repository as repo
from app.entries.models import Entry
from app.entries.registry import KINDS
from tests.databases import BASE_URL, IS_POSTGRES
from tests.helpers import assert_problem, sample

entries = Entry.__table__


@pytest.fixture
def prepared_runs(monkeypatch):
    """The SQL of every statement run prepared, in order."""
    runs: list[str] = []
    original = prepared_module.Prepared.run

    def run(self, engine, params):
        runs.append(self.sql)
        return original(self, engine, params)

    monkeypatch.setattr(prepared_module.Prepared, "run", run)
    return runs


def _reader():
    """What read routes query through."""
    return core_db._request_read_session_factory()()


def _through_sqlalchemy(statement, params):
    with core_db.get_read_engine().connect() as connection:
        return connection.execute(statement, params).all()


@pytest.mark.parametrize("spec", KINDS, ids=lambda spec: spec.type)
def test_an_entry_by_id_reads_the_same_row_prepared_as_through_sqlalchemy(
        client, auth, spec, prepared_runs):
    # JSON lists, dates, timestamps and nulls: every result processor in use.
    payload = sample(spec, url=None)
    created = client.post(f"/api/v1/{spec.plural}", json=payload, headers=auth)
    assert created.status_code == 201, created.text
    entry_id = created.json()["id"]

    reader = _reader()
    assert repo.get_by_id(reader, spec, entry_id)["id"] == entry_id
    statement = statements.get(("entry_by", spec.type, "id"), lambda: None)
    assert prepared_runs, "the kept statement did not run prepared"

    rows = reader.execute(statement, {"id": entry_id}).all()
    expected = _through_sqlalchemy(statement, {"id": entry_id})
    assert len(rows) == len(expected) == 1
    assert tuple(rows[0]) == tuple(expected[0])
    assert [type(value) for value in rows[0]] == [type(value) for value in expected[0]]
    assert dict(rows[0]._mapping) == dict(expected[0]._mapping)
    assert rows[0].id == entry_id  # attribute access, as on SQLAlchemy's rows
    assert rows[0].topics == payload["topics"]
    assert reader.execute(statement, {"id": entry_id + 10_000}).all() == []


def test_list_pages_run_prepared_and_answer_as_before(client, auth, prepared_runs):
    spec = KINDS[0]
    for number in range(3):
        client.post(f"/api/v1/{spec.plural}", json=sample(spec, title=f"Entry {number}"),
                    headers=auth)
    page = client.get(f"/api/v1/{spec.plural}?limit=2").json()
    assert [item["title"] for item in page["items"]] == ["Entry 2", "Entry 1"]
    assert page["total"] == 3 and page["total_exact"] is True
    assert any("LIMIT" in sql for sql in prepared_runs)


def test_a_statement_built_for_one_request_goes_through_sqlalchemy(client, auth,
                                                                   prepared_runs):
    spec = KINDS[0]
    client.post(f"/api/v1/{spec.plural}", json=sample(spec), headers=auth)
    statement = select(entries.c.title).where(entries.c.type == bindparam("kind"))
    dialect = core_db.get_read_engine().dialect
    assert statements.prepared(statement, dialect, prepare) is None  # not a kept one
    rows = _reader().execute(statement, {"kind": spec.type}).all()
    assert [row.title for row in rows] == [sample(spec)["title"]]
    assert prepared_runs == []


def test_expanding_parameters_go_through_sqlalchemy(client, auth, prepared_runs):
    spec = KINDS[0]
    ids = [client.post(f"/api/v1/{spec.plural}", json=sample(spec, title=f"T{n}"),
                       headers=auth).json()["id"] for n in range(3)]
    statement = statements.get(("test", "expanding"), lambda: select(entries.c.id).where(
        entries.c.id.in_(bindparam("ids", expanding=True))).order_by(entries.c.id))
    assert statements.prepared(statement, core_db.get_read_engine().dialect, prepare) is None
    assert _reader().scalars(statement, {"ids": ids[:2]}).all() == ids[:2]
    assert prepared_runs == []


def test_a_failing_prepared_statement_raises_sqlalchemys_error_and_frees_its_connection(
        engine, prepared_runs):
    statement = statements.get(("test", "missing table"), lambda: select(
        table("no_such_table", column("x")).c.x).where(column("x") == bindparam("x")))
    reads = core_db.get_read_engine()
    checked_out = reads.pool.checkedout()
    with pytest.raises(DBAPIError) as raised:
        _reader().execute(statement, {"x": 1})
    assert "no_such_table" in str(raised.value.orig)
    assert raised.value.statement == prepared_runs[-1]
    assert reads.pool.checkedout() == checked_out


@pytest.fixture
def entry_url(client, auth) -> str:
    """The URL of a new article."""
    spec = KINDS[0]
    entry_id = client.post(f"/api/v1/{spec.plural}", json=sample(spec),
                           headers=auth).json()["id"]
    return f"/api/v1/{spec.plural}/{entry_id}"


# Each hook and where its arguments carry the statement.
@pytest.mark.parametrize("hook,position", [("before_cursor_execute", 2), ("do_execute", 1)])
def test_reads_go_through_sqlalchemy_while_an_execute_hook_is_registered(
        client, entry_url, prepared_runs, hook, position):
    seen: list[str] = []

    def listener(*args):
        seen.append(args[position])  # returns None: do_execute then executes as usual

    engine = core_db.get_read_engine()
    event.listen(engine, hook, listener)
    try:
        assert client.get(entry_url).status_code == 200
    finally:
        event.remove(engine, hook, listener)
    assert any("entries.id = " in sql for sql in seen)
    assert prepared_runs == []
    assert client.get(entry_url).status_code == 200
    assert len(prepared_runs) == 1  # no hook left: prepared again


def test_reads_go_through_sqlalchemy_while_sql_is_echoed(client, entry_url, caplog,
                                                        prepared_runs):
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine.Engine")
    assert client.get(entry_url).status_code == 200
    assert any("entries.id = " in record.getMessage() for record in caplog.records)
    assert prepared_runs == []


@pytest.mark.skipif(not IS_POSTGRES, reason="SQLite has no server to drop it")
def test_postgresql_a_connection_lost_under_a_prepared_read_is_503_then_replaced(
        client, auth, engine, prepared_runs):
    spec = KINDS[0]
    entry_id = client.post(f"/api/v1/{spec.plural}", json=sample(spec),
                           headers=auth).json()["id"]
    url = f"/api/v1/{spec.plural}/{entry_id}"
    assert client.get(url).status_code == 200  # the read pool holds a connection now
    dsn = BASE_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    try:
        # Used moments ago, so not pinged: the read finds it dead.
        lost = client.get(url)
        assert_problem(lost, 503, "the database is unavailable")
        assert lost.headers["Retry-After"] == "5"
        assert len(prepared_runs) == 2
        # SQLAlchemy's handling invalidated the pool: the next read gets a new connection.
        assert client.get(url).status_code == 200
    finally:
        engine.dispose()  # the write pool's connections were dropped too


def test_a_connection_found_closed_before_its_cursor_is_invalidated_as_sqlalchemy_does(
        engine, prepared_runs):
    own = core_db.build_engine(BASE_URL, pool_size=1, autocommit=True)
    statement = statements.get(("test", "by id"), lambda: select(entries.c.id).where(
        entries.c.id == bindparam("id")))
    reader = core_db.ReadConnection(own)
    try:
        assert reader.execute(statement, {"id": 1}).all() == []
        assert prepared_runs  # the prepared path, on a pooled connection
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


def test_prepared_statements_are_dropped_with_their_statement():
    from app.core.statements import StatementCache

    cache = StatementCache(size=1)
    dialect = core_db.get_read_engine().dialect
    first = cache.get("first", lambda: select(entries.c.id).where(
        entries.c.id == bindparam("id")))
    assert cache.prepared(first, dialect, prepare) is cache.prepared(first, dialect, prepare)
    assert cache.prepared(first, dialect, prepare) is not None
    cache.get("second", lambda: select(entries.c.slug))  # pushes `first` out
    assert cache.prepared(first, dialect, prepare) is None
    assert cache.prepared(text("SELECT 1"), dialect, prepare) is None


@pytest.mark.parametrize("statement", [
    select(entries.c.id).execution_options(schema_translate_map={None: "other"}),
    select(text("*")).select_from(entries),
    select(column("id"), text("slug, title")).select_from(entries),
    select(entries.c.id, entries.c.id.label("id")),
], ids=["execution options", "star", "textual columns", "one name twice"])
def test_statements_whose_rows_only_sqlalchemy_matches_are_not_prepared(statement):
    assert prepare(statement, core_db.get_read_engine().dialect) is None
