"""Alembic environment: the app's metadata, the configured database."""

import warnings

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlalchemy.exc import SAWarning

from app.core.config import get_settings
from app.core.metadata import metadata, skip_engine_objects

config = context.config
if not config.get_main_option("sqlalchemy.url"):
    config.set_main_option("sqlalchemy.url", get_settings().database_url.replace("%", "%%"))


def run_migrations_offline() -> None:
    """Emit SQL without a connection."""
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      literal_binds=True, render_as_batch=True,
                      include_object=skip_engine_objects)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate over a connection (batch mode so SQLite can alter tables)."""
    connectable = config.attributes.get("connection") or engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
        poolclass=pool.NullPool)
    if hasattr(connectable, "connect"):
        with connectable.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                      compare_type=True, include_object=skip_engine_objects)
    with context.begin_transaction(), warnings.catch_warnings():
        # A batch operation on SQLite (0006 on entry_topics, entry_countries) reflects
        # the tables its foreign keys reach, `entries` among them, whose date-order
        # indexes are on expressions (0004) that SQLAlchemy cannot reflect and warns
        # about. The batch copies only the table it alters, so nothing is lost: the
        # warning is noise on every fresh database, and only it is silenced, only here.
        warnings.filterwarnings("ignore", category=SAWarning,
                                message="Skipped unsupported reflection of expression-based "
                                        "index")
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
