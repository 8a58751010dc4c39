"""A crash in the middle of a bulk load leaves nothing behind (one transaction per request).

A real two-worker server takes a streamed NDJSON upload; once it has written two
batches of 1,000 into the request's transaction, every server process is killed with
SIGKILL (no handler runs, nothing is rolled back by the app). Restarted on the same
database, the server must hold none of the load, no row of it in any child table,
and accept the same load again.
"""

import sqlite3
import threading

import httpx
import orjson
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.databases import IS_POSTGRES, new_database_url
from tests.process.server import create_key, metric, running, server_env, wait_for

BULK = "/api/v1/articles/bulk"
TOTAL, SENT, CHUNK = 10_000, 2_500, 100  # items in the load; sent before the crash
TABLES = ("entries", "articles", "entry_topics", "entry_countries", "entry_changes")
ORPHANS = {  # rows whose entry does not exist
    "articles": "SELECT count(*) FROM articles a LEFT JOIN entries e ON e.id = a.id "
                "WHERE e.id IS NULL",
    "entry_topics": "SELECT count(*) FROM entry_topics t LEFT JOIN entries e "
                    "ON e.id = t.entry_id WHERE e.id IS NULL",
    "entry_countries": "SELECT count(*) FROM entry_countries c LEFT JOIN entries e "
                       "ON e.id = c.entry_id WHERE e.id IS NULL",
    "entry_changes": "SELECT count(*) FROM entry_changes c LEFT JOIN entries e "
                     "ON e.id = c.entry_id WHERE e.id IS NULL",
}


def item(index: int) -> bytes:
    return orjson.dumps({"title": f"Crashload article {index}", "slug": f"crashload-{index}",
                         "session": 46, "topics": ["double-standards"], "countries": ["US"],
                         "source": "Xinhua", "published_on": "2021-03-24"}) + b"\n"


def chunks(start: int, stop: int):
    for first in range(start, stop, CHUNK):
        yield b"".join(item(i) for i in range(first, min(first + CHUNK, stop)))


def snapshot(url: str) -> dict[str, int]:
    """Row counts, orphans and the load's own rows, read straight from the database."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            found = {table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                     for table in TABLES}
            found |= {f"orphan {table}": connection.execute(text(query)).scalar()
                      for table, query in ORPHANS.items()}
            found["crashload entries"] = connection.execute(text(
                "SELECT count(*) FROM entries WHERE slug LIKE 'crashload-%'")).scalar()
            found["crashload changes"] = connection.execute(text(
                "SELECT count(*) FROM entry_changes WHERE slug LIKE 'crashload-%'")).scalar()
    finally:
        engine.dispose()
    return found


def sqlite_checks(url: str) -> None:
    """The file itself: page structure, foreign keys, and the full-text index vs its table."""
    with sqlite3.connect(make_url(url).database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        connection.execute("INSERT INTO entries_fts(entries_fts) VALUES ('integrity-check')")


def assert_mid_load(url: str, max_id: int) -> None:
    """Evidence from the database that the server has written part of the load, uncommitted."""
    if IS_POSTGRES:
        # Sequences are not transactional: ids handed to the uncommitted rows stay used.
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                sequence = connection.execute(text(
                    "SELECT pg_get_serial_sequence('entries', 'id')")).scalar()
                last = connection.execute(text(f"SELECT last_value FROM {sequence}")).scalar()
        finally:
            engine.dispose()
        assert last >= max_id + 2_000
    else:
        # The request's transaction holds SQLite's write lock.
        connection = sqlite3.connect(make_url(url).database, timeout=0)
        try:
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                assert "locked" in str(exc)
            else:
                raise AssertionError("no transaction holds the write lock mid-load")
        finally:
            connection.close()


def test_sigkill_during_a_bulk_load_leaves_no_partial_record(tmp_path):
    url = new_database_url()
    (tmp_path / "metrics-1").mkdir()
    (tmp_path / "metrics-2").mkdir()
    env = server_env(url, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics-1"))
    sent, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    with running(env) as server:
        key = create_key(env)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
        before = snapshot(url)
        assert before["crashload entries"] == 0 and before["entries"] == 26
        engine = create_engine(url, poolclass=NullPool)
        with engine.connect() as connection:
            max_id = connection.execute(text("SELECT max(id) FROM entries")).scalar()
        engine.dispose()

        def body():
            yield from chunks(0, SENT)
            sent.set()
            release.wait(timeout=30)  # the server is killed meanwhile
            yield from chunks(SENT, TOTAL)

        def upload() -> None:
            try:
                outcome["response"] = httpx.post(server.base + BULK, content=body(),
                                                 headers=headers, timeout=30)
            except httpx.TransportError as exc:
                outcome["error"] = exc

        client = threading.Thread(target=upload, daemon=True)
        client.start()
        try:
            assert sent.wait(timeout=20)
            # Two batches of 1,000 processed in the request's transaction; 500 more items
            # sent and parsed, waiting for the rest of the third batch.
            wait_for(lambda: metric(server.base, "hrc_bulk_items_total", kind="articles")
                     >= 2_000, timeout=20, what="two bulk batches to be processed")
            assert_mid_load(url, max_id)
            listed = httpx.get(f"{server.base}/api/v1/articles?count=exact", timeout=10)
            assert listed.json()["total"] == 4  # uncommitted rows are invisible to readers
            server.kill_group()  # supervisor and both workers, SIGKILL: nothing runs after
        finally:
            release.set()
            client.join(timeout=30)
        assert not client.is_alive()
        assert "error" in outcome, outcome  # the upload was cut, never answered

    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics-2")
    with running(env) as server:  # the same database, a new server
        after = snapshot(url)
        assert after == before  # every table as it was: not one row of the load
        assert all(after[f"orphan {table}"] == 0 for table in ORPHANS)
        if not IS_POSTGRES:
            sqlite_checks(url)
        listed = httpx.get(f"{server.base}/api/v1/articles?count=exact", timeout=10).json()
        assert listed["total"] == 4
        searched = httpx.get(f"{server.base}/api/v1/articles?q=crashload", timeout=10).json()
        assert searched["total"] == 0 and searched["items"] == []

        # The same items load again: no slug of the crashed load was left taken.
        again = httpx.post(server.base + BULK, content=b"".join(chunks(0, 1_500)),
                           headers=headers, timeout=60)
        assert again.status_code == 200, again.text
        assert again.json() | {"errors": []} == {"created": 1_500, "updated": 0, "unchanged": 0,
                                                "failed": 0, "errors": []}
        listed = httpx.get(f"{server.base}/api/v1/articles?count=exact", timeout=10).json()
        assert listed["total"] == 4 + 1_500
        final = snapshot(url)
        assert final["crashload entries"] == final["crashload changes"] == 1_500
        assert all(final[f"orphan {table}"] == 0 for table in ORPHANS)
