"""Test setup: one migrated database per run (SQLite, or PostgreSQL when TEST_DATABASE_URL
is set); each test runs in a transaction that is rolled back."""

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
_TMP = Path(tempfile.mkdtemp(prefix="hrc-digest-tests-"))
BASE_URL = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{_TMP / 'test.db'}"
if BASE_URL.startswith(("postgres://", "postgresql://")):
    BASE_URL = "postgresql+psycopg://" + BASE_URL.split("://", 1)[1]
os.environ["DATABASE_URL"] = BASE_URL
os.environ["HRC_DIGEST_SEED_DIR"] = str(ROOT / "seed_data")
os.environ.pop("HRC_DIGEST_CORS_ORIGINS", None)

from app.core import db as core_db  # noqa: E402
from app.core.migrations import upgrade  # noqa: E402
from app.core.security import create_key  # noqa: E402
from app.main import create_app  # noqa: E402
from app.reference.seed import load_reference_data  # noqa: E402

IS_POSTGRES = BASE_URL.startswith("postgresql")


def new_database_url() -> str:
    """A brand-new empty database on the engine under test."""
    if not IS_POSTGRES:
        return f"sqlite:///{_TMP / f'fresh-{uuid.uuid4().hex[:8]}.db'}"
    name = f"hrc_digest_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(make_url(BASE_URL).set(database="postgres"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    _created_databases.append(name)
    return make_url(BASE_URL).set(database=name).render_as_string(hide_password=False)


_created_databases: list[str] = []


def pytest_sessionfinish(session, exitstatus) -> None:
    """Drop the databases made for CLI and process tests."""
    if not (IS_POSTGRES and _created_databases):
        return
    admin = create_engine(make_url(BASE_URL).set(database="postgres"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for name in _created_databases:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


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


@pytest.fixture
def db(engine) -> Iterator[Session]:
    """A session inside a transaction rolled back after the test."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint",
                      expire_on_commit=False, autoflush=False)
    yield session
    session.close()
    outer.rollback()
    connection.close()


@pytest.fixture
def app(db):
    """The app, with its request session joined to the test's transaction."""
    application = create_app()

    def joined_session() -> Iterator[Session]:
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise

    application.dependency_overrides[core_db.get_session] = joined_session
    return application


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
    db.flush()
    return secret


@pytest.fixture
def auth(api_key) -> dict[str, str]:
    """Headers that authorise a write."""
    return {"Authorization": f"Bearer {api_key}"}
