"""Overlapping bulk upserts: never a 500, every item written once per request, and an
item compared with what is committed when it is written.

Two clients send NDJSON bulks over the same 3,000 slugs at the same moment, one in
ascending slug order and one in descending, to a real two-worker server (so the
requests run in separate processes and transactions, as in production). Before the
consistent lock order and the retry, PostgreSQL answered `DeadlockDetected` with a 500
in most rounds. A bulk that stays blocked past its retries is a 503 with Retry-After,
shown in-process by holding the lock the bulk needs (SQLite: the database's write lock,
`database is locked`; PostgreSQL: the entry's row lock, past a short `lock_timeout`).
"""

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from app.core import db as core_db
from app.entries import repository as repo
from app.entries.bulk import writer as bulk_module
from tests.databases import BASE_URL, IS_POSTGRES, new_database_url
from tests.helpers import assert_problem
from tests.process.server import create_key, metric, running, server_env

SLUGS = [f"contended-{i:04d}" for i in range(3_000)]
TOPICS = ["xinjiang", "tibet", "hong-kong", "development", "upr", "multilateralism"]
ROUNDS = 6
NDJSON = {"Content-Type": "application/x-ndjson"}


def _payload(slugs: list[str], summary: str) -> bytes:
    """NDJSON articles for these slugs, all with this summary."""
    return b"".join(orjson.dumps({
        "slug": slug, "title": f"Contended {slug}", "summary": summary,
        "topics": [TOPICS[i % len(TOPICS)]], "countries": ["CN"],
        "published_on": f"2021-03-{1 + i % 28:02d}", "source": "Xinhua",
    }) + b"\n" for i, slug in enumerate(slugs))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A two-worker server over a fresh database (metrics summed over its workers);
    stopped after the module."""
    metrics = tmp_path_factory.mktemp("metrics")
    env = server_env(new_database_url(), PROMETHEUS_MULTIPROC_DIR=str(metrics))
    with running(env) as served:
        yield served.base, {"Authorization": f"Bearer {create_key(env)}"}


def _round(base: str, headers: dict[str, str], number: int) -> list[httpx.Response]:
    """Both bulks at once: ascending (A) and descending (B)."""
    bodies = [_payload(SLUGS, f"round {number} A"), _payload(SLUGS[::-1], f"round {number} B")]
    start = threading.Barrier(2, timeout=10)

    def send(body: bytes) -> httpx.Response:
        start.wait()
        return httpx.post(f"{base}/api/v1/articles/bulk", content=body,
                          headers=headers | NDJSON, timeout=60)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(send, bodies))


def test_overlapping_bulks_in_opposite_orders_never_fail_with_a_5xx(server):
    base, headers = server
    started = time.monotonic()
    responses = [response for number in range(ROUNDS) for response in _round(base, headers,
                                                                              number)]
    assert time.monotonic() - started < 60
    assert [r.status_code for r in responses] == [200] * 2 * ROUNDS, [
        r.text[:300] for r in responses if r.status_code != 200]
    reports = [r.json() for r in responses]
    assert all(r["failed"] == 0 and r["created"] + r["updated"] + r["unchanged"] == 3_000
               for r in reports), reports
    written = sum(r["created"] + r["updated"] for r in reports)
    assert written == 2 * ROUNDS * 3_000  # every request changed every item it sent

    export = httpx.get(f"{base}/api/v1/articles/export", timeout=60)
    rows = [orjson.loads(line) for line in export.content.splitlines()]
    stored = {row["slug"]: row for row in rows if row["slug"].startswith("contended-")}
    assert sorted(stored) == SLUGS
    # One version per write: every request bumped every entry exactly once.
    assert {row["version"] for row in stored.values()} == {2 * ROUNDS}
    assert {row["summary"] for row in stored.values()} <= {f"round {ROUNDS - 1} A",
                                                          f"round {ROUNDS - 1} B"}
    if IS_POSTGRES:  # the requests did deadlock, and were run again (SQLite's queue)
        assert metric(base, "hrc_bulk_retries_total", kind="articles") >= 1
    # The tallies followed every write (A and B give a slug other topics and dates), the
    # ones run again included: counts from them are those read from the entries.
    facets = f"{base}/api/v1/articles?facets=topic,country,year,month,day&facet_limit=100"
    tallied, read = (httpx.get(url, timeout=60).json() for url in (facets,
                                                                    f"{facets}&id=-0"))
    assert (tallied["total"], tallied["facets"]) == (read["total"], read["facets"])


@pytest.fixture
def short_waits(engine, monkeypatch):
    """The app's write sessions wait at most 0.2 s for a lock, and retry after ~10 ms."""
    if not IS_POSTGRES:
        # A SQLite write session takes the write lock at BEGIN IMMEDIATE and waits for it
        # up to the busy time-out (then 503: tests/process/test_database_outage.py).
        yield engine
        return
    waiting = create_engine(BASE_URL, connect_args={"options": "-c lock_timeout=200"})
    factory = sessionmaker(bind=waiting, expire_on_commit=False, autoflush=False)
    monkeypatch.setattr(core_db, "_session_factory", lambda: factory)
    monkeypatch.setattr(bulk_module, "RETRY_BACKOFF_S", 0.01)
    yield engine
    waiting.dispose()


def _hold_write_lock(engine, seconds: float, holding: threading.Event) -> None:
    """Take the write lock the bulk needs (SQLite: the database's; PostgreSQL: the row of
    the slug 'held', locked FOR UPDATE) and keep it for `seconds`."""
    with engine.execution_options(**{core_db.WRITE_LOCK: True}).connect() as connection:
        # SQLite: this engine begins with BEGIN IMMEDIATE, taking the database's write lock.
        connection.execute(text("SELECT id FROM entries WHERE slug = 'held' FOR UPDATE"
                                if IS_POSTGRES else "SELECT 1"))
        holding.set()
        time.sleep(seconds)
        connection.rollback()


@pytest.mark.parametrize("held_for, status", [(0.3, 200), (2.0, 503)],
                         ids=["released-then-retried", "held-past-every-retry"])
def test_a_bulk_blocked_by_a_lock_is_retried_then_answered_503(client, auth, short_waits,
                                                               held_for, status):
    if status == 503 and not IS_POSTGRES:
        pytest.skip("SQLite: a writer waits for the lock up to the 10 s busy time-out, then "
                    "503 (tests/process/test_database_outage.py)")
    item = {"slug": "held", "title": "Held", "published_on": "2021-03-01"}
    assert client.post("/api/v1/articles/bulk", json=[item], headers=auth).status_code == 200
    holding = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(short_waits, held_for, holding))
    holder.start()
    try:
        assert holding.wait(timeout=10)
        response = client.post("/api/v1/articles/bulk", headers=auth, timeout=30,
                               json=[item | {"summary": "Changed."}])
    finally:
        holder.join(timeout=15)
    if status == 200:
        assert response.status_code == 200, response.text
        assert response.json()["updated"] == 1
    else:
        body = assert_problem(response, 503, "nothing was written", "try again")
        assert int(response.headers["retry-after"]) >= 1
        assert body["type"] == "/problems/service-unavailable"


def _change_meanwhile(engine, holding: threading.Event) -> None:
    """Another writer: changes the entry 'held' and commits 0.5 s later."""
    with engine.begin() as connection:
        connection.execute(text("UPDATE entries SET summary = 'Changed meanwhile.', "
                                "version = version + 1 WHERE slug = 'held'"))
        holding.set()
        time.sleep(0.5)


def test_an_item_equal_to_the_entry_before_a_concurrent_change_is_written_over_it(
        client, auth, engine):
    """The bulk waits for the other writer and compares its item with the entry as then
    committed: not `unchanged` against the value the other writer was replacing."""
    item = {"slug": "held", "title": "Held", "summary": "First.", "published_on": "2021-03-01"}
    assert client.post("/api/v1/articles/bulk", json=[item], headers=auth).status_code == 200
    holding = threading.Event()
    writer = threading.Thread(target=_change_meanwhile, args=(engine, holding))
    writer.start()
    try:
        assert holding.wait(timeout=10)
        response = client.post("/api/v1/articles/bulk", json=[item], headers=auth, timeout=30)
    finally:
        writer.join(timeout=15)
    assert response.status_code == 200, response.text
    assert response.json()["updated"] == 1
    stored = client.get("/api/v1/articles?limit=1").json()["items"][0]
    assert (stored["summary"], stored["version"]) == ("First.", 3)


def _deadlock() -> Exception:
    """What the driver raises for a deadlock (PostgreSQL) or a lock refused (SQLite)."""
    if IS_POSTGRES:
        import psycopg

        return OperationalError("SELECT", None, psycopg.errors.DeadlockDetected("deadlock"))
    return OperationalError("SELECT", None, sqlite3.OperationalError("database is locked"))


def test_a_request_failing_midway_runs_again_whole_from_its_items(client, auth, monkeypatch):
    """The second batch's lookup fails once, while the body is still arriving: the first
    batch's writes are rolled back and the whole request runs again, the rest of the
    body read from where the first run stopped."""
    real = repo.fetch_by_slugs
    calls: list[int] = []

    def second_fails_once(*args, **options):
        calls.append(1)
        if len(calls) == 2:
            raise _deadlock()
        return real(*args, **options)

    monkeypatch.setattr(repo, "fetch_by_slugs", second_fails_once)
    monkeypatch.setattr(bulk_module, "RETRY_BACKOFF_S", 0.01)
    slugs = [f"rerun-{i:04d}" for i in range(2_500)]
    response = client.post("/api/v1/articles/bulk", content=_payload(slugs, "Once."),
                           headers=auth | NDJSON)
    assert response.status_code == 200, response.text
    assert response.json() == {"created": 2_500, "updated": 0, "unchanged": 0, "failed": 0,
                               "errors": []}
    assert len(calls) == 2 + 3  # two lookups of the first run, three of the second
    export = client.get("/api/v1/articles/export").content.splitlines()
    versions = {orjson.loads(line)["slug"]: orjson.loads(line)["version"] for line in export}
    assert versions == dict.fromkeys(slugs, 1)
