"""Which database the tests run on, and fresh databases for process-level tests.

SQLite by default; PostgreSQL when TEST_DATABASE_URL is set. Imported once (by
conftest and tests alike) so every part of a run agrees on the URL.
"""

import os
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
_TMP = Path(tempfile.mkdtemp(prefix="hrc-digest-tests-"))
BASE_URL = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{_TMP / 'test.db'}"
if BASE_URL.startswith(("postgres://", "postgresql://")):
    BASE_URL = "postgresql+psycopg://" + BASE_URL.split("://", 1)[1]
IS_POSTGRES = BASE_URL.startswith("postgresql")
_created_databases: list[str] = []


def configure_environment() -> None:
    """Point the app's settings at the test database."""
    os.environ["DATABASE_URL"] = BASE_URL
    os.environ["HRC_DIGEST_SEED_DIR"] = str(ROOT / "seed_data")
    os.environ.pop("HRC_DIGEST_CORS_ORIGINS", None)


def _admin_engine():
    return create_engine(make_url(BASE_URL).set(database="postgres"),
                         isolation_level="AUTOCOMMIT")


def new_database_url() -> str:
    """A brand-new empty database on the engine under test."""
    if not IS_POSTGRES:
        return f"sqlite:///{_TMP / f'fresh-{uuid.uuid4().hex[:8]}.db'}"
    name = f"hrc_digest_t_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    _created_databases.append(name)
    return make_url(BASE_URL).set(database=name).render_as_string(hide_password=False)


def drop_created_databases() -> None:
    """Drop the databases new_database_url made."""
    if not (IS_POSTGRES and _created_databases):
        return
    admin = _admin_engine()
    with admin.connect() as connection:
        for name in _created_databases:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
