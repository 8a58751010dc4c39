"""Test setup: one migrated database per run (SQLite, or PostgreSQL when TEST_DATABASE_URL
is set). The app runs with its own sessions and real commits; every table but the
reference data is emptied after each test."""

from collections.abc import Iterator

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.databases import ROOT, configure_environment, drop_created_databases

configure_environment()

from app.core import db as core_db  # noqa: E402
from app.core.migrations import upgrade  # noqa: E402
from app.core.security import create_key  # noqa: E402
from app.main import create_app  # noqa: E402
from app.reference.seed import load_reference_data  # noqa: E402
from tests.databases import BASE_URL  # noqa: E402
from tests.helpers import empty_database, seed  # noqa: E402


def pytest_sessionfinish(session, exitstatus) -> None:
    """Drop the databases made for CLI and process tests."""
    drop_created_databases()


@pytest.fixture(scope="session")
def engine():
    """The run's database, migrated to head with reference data loaded."""
    upgrade(BASE_URL)
    engine = core_db.get_engine()
    with Session(engine) as session:
        load_reference_data(session, ROOT / "seed_data")
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _clean_database(request):
    """Each test starts from migrated tables holding only the reference data."""
    yield
    if "engine" not in request.fixturenames:
        return
    empty_database(request.getfixturevalue("engine"))


@pytest.fixture
def db(engine) -> Iterator[Session]:
    """A session on the test database; what it commits is removed after the test."""
    session = Session(engine, expire_on_commit=False)
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def app(engine):
    """The application, on the test database."""
    return create_app()


@pytest.fixture
def client(app):
    """An HTTP client for the app."""
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def api_key(db) -> str:
    """A valid API key (inside the test's transaction)."""
    _, secret = create_key(db, "tests")
    db.commit()
    return secret


@pytest.fixture
def auth(api_key) -> dict[str, str]:
    """Headers that authorise a write."""
    return {"Authorization": f"Bearer {api_key}"}


@pytest.fixture
def seeded(db, engine) -> None:
    """The shipped digest page loaded (26 entries of the 46th session)."""
    seed(db)


@pytest.fixture
def key_lookups(engine) -> Iterator[list[str]]:
    """Every statement sent to the database that reads the API keys, while the test runs."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if "api_keys" in statement:
            seen.append(statement)

    engines = {id(e): e for e in (core_db.get_engine(), core_db.get_read_engine())}
    for each in engines.values():
        event.listen(each, "before_cursor_execute", record)
    yield seen
    for each in engines.values():
        event.remove(each, "before_cursor_execute", record)
