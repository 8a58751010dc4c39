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


def test_the_server_ends_a_vanished_app_s_session_within_a_minute():
    """Keepalives on PostgreSQL's side of every connection (not only the app's): a host
    gone mid-transaction without a reset leaves no session holding its locks and its
    transaction id for the operating system's two hours (docs/operations.md)."""
    engine = core_db.build_engine(BASE_URL, pool_size=1)
    try:
        with engine.connect() as conn:
            settings = {name: conn.execute(text(f"SHOW {name}")).scalar() for name in
                        ("tcp_keepalives_idle", "tcp_keepalives_interval",
                         "tcp_keepalives_count")}
            client = conn.execute(text("SELECT inet_client_addr()")).scalar()
    finally:
        engine.dispose()
    if client is None:  # a Unix socket: no TCP, the settings read 0
        pytest.skip("connected over a Unix socket")
    assert settings == {"tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10",
                        "tcp_keepalives_count": "3"}
