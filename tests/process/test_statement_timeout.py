"""Statement time-outs: a query a request abandoned does not run on.

HRC_DIGEST_STATEMENT_TIMEOUT_MS is enforced by PostgreSQL itself (`statement_timeout`,
set at connect) and on SQLite by a progress handler that aborts the call into SQLite
running past its budget. A timed-out query is a 503 problem without Retry-After.
It applies to requests only: the command line's jobs run without it.

The first tests run the app in this process, with a deliberately slow query
(`pg_sleep`; a recursive CTE on SQLite) injected behind the real list route; the
others start the command line and a server as child processes.
"""

import subprocess
import sys
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

from app.core import db as core_db
from app.core.config import get_settings
from app.main import create_app
from tests.databases import BASE_URL, IS_POSTGRES, ROOT, new_database_url
from tests.helpers import assert_problem
from tests.process.server import running, server_env


def counting_to(n: int) -> str:
    """SQLite busy work: about 0.4 s per million rows here."""
    return (f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) "
            "SELECT count(*) FROM c")


# Without a time-out: 5 s on PostgreSQL, some 8 s of SQLite work.
SLOW = "SELECT pg_sleep(5)" if IS_POSTGRES else counting_to(20_000_000)


@pytest.fixture
def timed(engine, monkeypatch):
    """The app's sessions on engines with a 200 ms statement time-out (pools of one)."""
    timed_engine = core_db.build_engine(BASE_URL, pool_size=1, statement_timeout_ms=200)
    monkeypatch.setattr(get_settings(), "statement_timeout_ms", 200)
    monkeypatch.setattr(get_settings(), "db_pool_size", 1)
    factory = sessionmaker(bind=timed_engine, expire_on_commit=False, autoflush=False)
    monkeypatch.setattr(core_db, "_session_factory", lambda: factory)
    # Reads and exports: the process's read engine made again from these settings (routes
    # call get_read_engine(), a kept function, so it is emptied, not replaced).
    core_db.get_read_engine.cache_clear()
    read_engine = core_db.get_read_engine()
    yield timed_engine
    timed_engine.dispose()
    read_engine.dispose()
    core_db.get_read_engine.cache_clear()


def test_a_slow_query_in_a_request_is_stopped_and_answered_503(timed, monkeypatch):
    from app.entries.listing import run

    def slow_listing(connection, *args, **kwargs):
        connection.execute(text(SLOW)).all()
        raise AssertionError("the slow query was not stopped")

    monkeypatch.setattr(run, "versioned_page", slow_listing)
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        started = time.monotonic()
        response = client.get("/api/v1/articles")
        elapsed = time.monotonic() - started
        body = assert_problem(response, 503)
        assert body["detail"] == "the query took longer than 0.2 s; narrow the filters"
        assert body["type"] == "/problems/statement-timeout"
        assert "retry-after" not in response.headers  # the same query would time out again
        assert 0.2 <= elapsed < 3
        # The pool's connections are fine afterwards: later requests on them work.
        for _ in range(3):
            assert client.get("/api/v1/topics").status_code == 200


def test_a_slow_reader_of_a_streamed_result_is_not_a_slow_query(timed):
    # Each fetch is a new budget (PostgreSQL: each FETCH from the server-side cursor is
    # a statement; SQLite: each call into the library), so an export read slowly by its
    # client for longer than the time-out is not cut.
    series = ("SELECT generate_series(1, 50000)" if IS_POSTGRES else
              "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000) "
              "SELECT x FROM c")
    with timed.connect() as connection:
        result = connection.execution_options(stream_results=True).execute(text(series))
        rows = []
        for partition in result.partitions(2_000):  # SQLite checks the clock during each
            rows += partition
            time.sleep(0.02)  # 0.5 s in all: more than the 200 ms time-out
    assert [row[0] for row in rows] == list(range(1, 50_001))


# The export job with a slow statement before its query, run as `hrc-digest export`
# (through main(), as the console script does) or through the bare Typer app.
EXPORT_WITH_A_SLOW_STATEMENT = """
import sys
from sqlalchemy import text
import app.cli
import app.entries.listing.run as query

real_stream = query.stream
entry, slow = sys.argv[1], sys.argv[2]

def slow_stream(session, scope, params):
    session.execute(text(slow)).all()
    yield from real_stream(session, scope, params)

query.stream = slow_stream
sys.argv = ["hrc-digest", "export", "--kind", "articles"]
app.cli.main() if entry == "main" else app.cli.cli()
"""


def test_command_line_jobs_are_not_cut_by_the_statement_timeout(engine):
    slow = "SELECT pg_sleep(0.6)" if IS_POSTGRES else counting_to(3_000_000)
    env = server_env(BASE_URL, HRC_DIGEST_STATEMENT_TIMEOUT_MS="100")

    def export(entry: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", EXPORT_WITH_A_SLOW_STATEMENT, entry, slow],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    as_shipped = export("main")
    assert as_shipped.returncode == 0, as_shipped.stderr
    # The control: the same job, had the command line not turned the time-out off.
    cut = export("bare")
    assert cut.returncode == 1
    assert cut.stderr.startswith(
        f"error: cannot use the database {core_db.describe_database(BASE_URL)}:"), cut.stderr


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL counts lock waits in statement_timeout")
def test_a_served_request_waiting_on_a_lock_is_stopped_at_the_timeout():
    # One worker: uvicorn runs the app in the very process whose migrate and seed ran
    # without the time-out, so this shows `serve` turns it back on for requests.
    url = new_database_url()
    env = server_env(url, HRC_DIGEST_STATEMENT_TIMEOUT_MS="500")
    with running(env, workers=1) as server:
        locker = create_engine(url, poolclass=NullPool)
        try:
            with locker.connect() as connection:
                connection.execute(text("LOCK TABLE entries IN ACCESS EXCLUSIVE MODE"))
                started = time.monotonic()
                response = httpx.get(f"{server.base}/api/v1/articles", timeout=10)
                elapsed = time.monotonic() - started
                connection.rollback()
        finally:
            locker.dispose()
        body = assert_problem(response, 503)
        assert body["detail"] == "the query took longer than 0.5 s; narrow the filters"
        assert 0.5 <= elapsed < 5
        assert httpx.get(f"{server.base}/api/v1/articles", timeout=10).json()["total"] == 4
