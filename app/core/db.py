"""Engine, sessions and the request's unit of work."""

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import Depends
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import get_settings


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL for concurrent readers, enforced foreign keys, wait instead of failing on locks."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def prepare_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite database file (./data/ on a fresh clone)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def build_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Create the engine for a database URL, preparing a SQLite file's folder."""
    prepare_sqlite_folder(url)
    if make_url(url).get_backend_name() == "sqlite":
        # As many connections as PostgreSQL gets: requests wait for a free one, not fail.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10},
                               pool_size=pool_size, max_overflow=pool_size)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_recycle=1800
    )


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine for the configured database."""
    settings = get_settings()
    return build_engine(settings.database_url, pool_size=settings.db_pool_size)


@lru_cache
def _session_factory() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False, autoflush=False)


def new_session() -> Session:
    """A session for scripts and the CLI (the caller commits)."""
    return _session_factory()()


def get_session() -> Iterator[Session]:
    """The request's unit of work: commit when the route returns, roll back on any error."""
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": commit before the response is sent, so a client never sees
# a 2xx for a write that then fails to commit.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
