"""Running and inspecting the Alembic migrations (the only way the schema changes)."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from app.core.config import packaged_dir
from app.core.db import prepare_sqlite_folder

# Any fixed number: the advisory lock that lets one process at a time migrate.
MIGRATION_LOCK = 4_611_686_018_427_387_801


class MigrationsNotFound(RuntimeError):
    """The installed package carries no migrations/ (a broken install)."""


def migrations_dir() -> Path:
    """Where the Alembic scripts are: shipped in the package as app.migrations."""
    candidate = packaged_dir("app.migrations", "migrations")
    if not (candidate / "env.py").is_file():
        raise MigrationsNotFound(f"no migrations in {candidate}; reinstall hrc-digest")
    return candidate


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at migrations/ and the given database."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    """Bring the database to the newest migration (one process at a time on PostgreSQL)."""
    prepare_sqlite_folder(database_url)
    config = alembic_config(database_url)
    if not database_url.startswith("postgresql"):
        command.upgrade(config, "head")  # SQLite's write lock already serialises migrators
        return
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
            try:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                connection.commit()
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                   {"key": MIGRATION_LOCK})
                connection.commit()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """The newest migration in migrations/."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def is_known_revision(revision: str) -> bool:
    """True when migrations/ holds this revision (False: a newer hrc-digest migrated)."""
    try:
        ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(revision)
    except CommandError:
        return False
    return True


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None when never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
