"""Pooled connections: an idle one that the server dropped is replaced before use."""

import psycopg
import pytest
from sqlalchemy import text

from app.core import db as core_db
from tests.databases import BASE_URL, IS_POSTGRES

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="SQLite has no server to drop it")


def test_a_connection_dropped_while_idle_is_replaced_before_use(monkeypatch):
    monkeypatch.setattr(core_db, "PING_AFTER_IDLE_S", 0.0)  # every checkout counts as idle
    engine = core_db.build_engine(BASE_URL, pool_size=1)
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        dsn = BASE_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        with engine.connect() as conn:  # no error: the ping found it dead, the pool replaced it
            second = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        assert second != first
    finally:
        engine.dispose()


def test_a_busy_connection_is_not_pinged(monkeypatch):
    pings = []
    monkeypatch.setattr(core_db, "PING_AFTER_IDLE_S", 3600.0)
    engine = core_db.build_engine(BASE_URL, pool_size=1)
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(conn) or True)
    try:
        for _ in range(3):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        assert pings == []
    finally:
        engine.dispose()
