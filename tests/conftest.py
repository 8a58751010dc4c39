"""Test setup: one migrated database per run (SQLite, or PostgreSQL when TEST_DATABASE_URL
is set). The app runs with its own sessions and real commits; every table but the
reference data is emptied after each test."""

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.databases import ROOT, configure_environment, drop_created_databases

configure_environment()

from app.core import db as core_db  # noqa: E402
from app.core.migrations import upgrade  # noqa: E402
from app.core.security import create_key  # noqa: E402
from app.entries.aggregates import remembered  # noqa: E402
from app.main import create_app  # noqa: E402
from app.reference.seed import load_reference_data  # noqa: E402
from tests.databases import BASE_URL  # noqa: E402


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


# Emptied after every test, children first; reference rows are then restored from seed_data.
_DATA_TABLES = ("entry_topics", "entry_countries", "articles", "events", "statements",
                "entry_changes", "entries", "api_keys", "topics", "sessions")


@pytest.fixture(autouse=True)
def _clean_database(request):
    """Each test starts from migrated tables holding only the reference data."""
    yield
    if "engine" not in request.fixturenames:
        return
    engine = request.getfixturevalue("engine")
    remembered.clear()  # the change log starts again: SQLite reuses its ids
    with Session(engine) as session:
        for table in _DATA_TABLES:
            session.execute(text(f"DELETE FROM {table}"))
        load_reference_data(session, ROOT / "seed_data")
        session.commit()


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
    from app.loader import seeding

    seed_dir = ROOT / "seed_data"
    seeding.save(db, seeding.plan(seeding.default_pages(seed_dir), seed_dir, db))
    db.commit()
