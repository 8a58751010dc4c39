"""A bulk load or an import leaves the planner's statistics fresh (PostgreSQL, autovacuum
off).

25,000 articles are bulk-loaded through the API into a fresh database whose tables
autovacuum may not analyze; then the statements the product sends for a topic +
date-range list are explained with their actual row counts. With the statistics of the
empty tables, the planner estimated one row where there were hundreds (and chose plans
that joined a million rows to find them); after a load, every plan node's estimate must
be within a factor of the rows it really produced. `hrc-digest import` refreshes them
the same way (the tables' row counts as the planner knows them are the loaded rows).
"""

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import bindparam, create_engine, event, text
from sqlalchemy.orm import Session

from app.core import db as core_db
from app.core.config import get_settings
from app.core.migrations import upgrade
from app.core.security import create_key
from app.entries.listing import kept
from app.main import create_app
from app.reference.seed import load_reference_data
from tests.cli.test_cli import run
from tests.databases import IS_POSTGRES, ROOT, new_database_url

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="ANALYZE and plan estimates: "
                                                        "PostgreSQL's")

TOPICS = ["xinjiang", "tibet", "hong-kong", "poverty-alleviation", "covid-19",
          "unilateral-coercive-measures", "belt-and-road", "upr", "labour-rights",
          "development", "non-interference", "double-standards", "religion-and-culture",
          "multilateralism"]
TABLES = ("entries", "articles", "entry_topics", "entry_countries")
LIST = "/api/v1/articles?topic=xinjiang&date_from=2021-01-01&date_to=2021-03-31"
FACTOR = 10  # an estimate this far below the actual rows is stale statistics


@pytest.fixture
def fresh_database(engine, monkeypatch) -> Iterator[str]:
    """A migrated database of its own, autovacuum off on its tables, serving the app."""
    url = new_database_url()
    upgrade(url)
    fresh = create_engine(url)
    with Session(fresh) as session:
        load_reference_data(session, ROOT / "seed_data")
        for table in TABLES:
            session.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
        session.commit()
    fresh.dispose()
    monkeypatch.setattr(get_settings(), "database_url", url)
    monkeypatch.setattr(get_settings(), "read_database_url", None)
    core_db.reset_engines()
    yield url
    monkeypatch.undo()
    core_db.reset_engines()


def _articles(start: int, count: int) -> bytes:
    """NDJSON articles with varied topics (one or two) and dates (over four years)."""
    first = dt.date(2020, 1, 1)
    return b"".join(orjson.dumps({
        "slug": f"loaded-{i}", "title": f"Loaded article {i}", "source": "Xinhua",
        "topics": sorted({TOPICS[i % 14], TOPICS[i * 7 % 13]}), "countries": ["CN"],
        "published_on": (first + dt.timedelta(days=i * 37 % 1461)).isoformat(),
    }) + b"\n" for i in range(start, start + count))


def _sent_for(client: TestClient, path: str) -> list[tuple[str, Any]]:
    """The statements (with their parameters) the product sends to answer a GET."""
    sent: list[tuple[str, Any]] = []

    def capture(_conn, _cursor, statement, parameters, *_args) -> None:
        sent.append((statement, parameters))

    reads = core_db.get_read_engine()
    event.listen(reads, "before_cursor_execute", capture)
    try:
        kept.answers.clear()  # the page computed, not its kept answer (entries/answers.py)
        assert client.get(path).status_code == 200
    finally:
        event.remove(reads, "before_cursor_execute", capture)
    return [(sql, params) for sql, params in sent if "entry_topics" in sql]


def _underestimates(plan: dict[str, Any]) -> list[str]:
    """The plan's nodes that produced FACTOR times more rows than the planner expected."""
    found = []
    actual = plan["Actual Rows"]
    if actual > 10 and actual > FACTOR * plan["Plan Rows"]:
        found.append(f"{plan['Node Type']}: planned {plan['Plan Rows']}, got {actual}")
    for child in plan.get("Plans", []):
        found += _underestimates(child)
    return found


def test_a_topic_and_date_range_list_is_planned_on_fresh_statistics_after_a_bulk_load(
        fresh_database):
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        with Session(core_db.get_engine()) as session:
            _, secret = create_key(session, "load")
            session.commit()
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/x-ndjson"}
        started = time.monotonic()
        for start, count in ((0, 10_000), (10_000, 10_000), (20_000, 5_000)):
            loaded = client.post("/api/v1/articles/bulk", content=_articles(start, count),
                                 headers=headers, timeout=60)
            assert loaded.status_code == 200 and loaded.json()["created"] == count
        assert time.monotonic() - started < 60
        assert client.get(LIST).json()["total"] > 100
        sent = _sent_for(client, LIST)
    assert sent
    misplanned = []
    with core_db.get_engine().connect() as connection:
        for statement, params in sent:
            explained = connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params).scalar()
            misplanned += _underestimates(explained[0]["Plan"])
    assert misplanned == [], "\n".join(misplanned)


def test_an_import_leaves_the_tables_analyzed(tmp_path):
    url = new_database_url()
    assert run("migrate", database_url=url).returncode == 0
    database = create_engine(url)
    try:
        with database.begin() as connection:
            for table in TABLES:
                connection.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
        data = tmp_path / "articles.ndjson"
        data.write_bytes(_articles(0, 3_000))
        result = run("import", str(data), "--kind", "articles", database_url=url, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        with database.connect() as connection:
            known = dict(connection.execute(text(
                "SELECT relname, reltuples FROM pg_class WHERE relname IN :tables"
            ).bindparams(bindparam("tables", expanding=True)), {"tables": list(TABLES)}).all())
    finally:
        database.dispose()
    # Before any ANALYZE PostgreSQL knows no count (-1); the links: one or two a row.
    assert known["entries"] == known["articles"] == 3_000
    assert 3_000 <= known["entry_topics"] <= 6_000
