"""Counts and facets kept in Redis for every process (app/entries/listing/kept.py).

In one process the process's own store answers first; these tests empty it before a
request to stand for another process, whose only way to an answer computed elsewhere
is Redis. Each test keeps its keys under a prefix of its own (`redis_prefix`).
"""

import logging

import orjson
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import literal, select

from app.core.config import get_settings
from app.core.db import build_engine, get_read_engine
from app.entries.listing import kept
from app.entries.listing.aggregates import version_column
from tests.api.test_aggregates import SEARCH, kept_answer, poverty_article
from tests.databases import new_database_url
from tests.helpers import REDIS_URL, redis_keys
from tests.process.server import free_port


@pytest.fixture(autouse=True)
def no_kept_pages(monkeypatch):
    """These tests watch the aggregates' stores: whole list answers, kept too
    (app/entries/answers.py, tests/api/test_answers.py), would answer the repeated
    requests before them."""
    monkeypatch.setattr(get_settings(), "page_cache", 0)


@pytest.fixture
def shared(monkeypatch, redis_prefix) -> str:
    """Counts and facets shared through the tests' Redis, under this test's prefix."""
    for name, value in {"redis_url": REDIS_URL, "redis_prefix": redis_prefix,
                        "aggregate_cache_ttl": 600}.items():
        monkeypatch.setattr(get_settings(), name, value)
    return redis_prefix


def answered(client) -> dict[str, float]:
    """`hrc_aggregate_answers_total` by source."""
    text = client.get("/metrics").text
    return {sample.labels["source"]: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == "hrc_aggregate_answers_total"}


def store_errors(client) -> float:
    """`hrc_aggregate_store_errors_total`."""
    text = client.get("/metrics").text
    return next(sample.value for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == "hrc_aggregate_store_errors_total")


def shared_answer(client, url: str, sent: list[str]) -> dict:
    """The answer once Redis keeps it: asked by a process that has not computed it (its
    own store emptied), it is served from Redis without an aggregate statement."""
    kept_answer(client, url, sent)  # kept in the process, so in Redis too
    kept.remembered.clear()
    before = answered(client)
    sent.clear()
    answer = client.get(url)
    assert answer.status_code == 200 and not sent, sent
    after = answered(client)  # facets with the count: the answer of one statement
    assert after["redis"] == before.get("redis", 0) + 1
    assert after["database"] == before.get("database", 0)
    return answer.json()


@pytest.mark.usefixtures("seeded", "shared")
def test_an_answer_computed_once_serves_a_process_that_never_computed_it(
        client, aggregate_runs):
    computed = client.get(SEARCH).json()
    served = shared_answer(client, SEARCH, aggregate_runs)
    assert served == computed
    # The process keeps what Redis gave: asked again, neither Redis nor the database.
    before = answered(client)
    assert client.get(SEARCH).json() == computed
    after = answered(client)
    assert after["process"] == before.get("process", 0) + 1
    assert after["redis"] == before["redis"]


@pytest.mark.usefixtures("seeded")
def test_an_answer_in_redis_is_not_served_once_a_write_lands(client, auth, shared,
                                                              aggregate_runs):
    before = shared_answer(client, SEARCH, aggregate_runs)
    created = client.post("/api/v1/articles", json=poverty_article("Poverty, shared"),
                          headers=auth)
    assert created.status_code == 201
    kept.remembered.clear()  # another process: only Redis could answer, at the old version
    aggregate_runs.clear()
    after = client.get(SEARCH).json()
    assert aggregate_runs  # computed again
    assert after["total"] == before["total"] + 1


@pytest.mark.usefixtures("seeded", "shared")
def test_kept_answers_expire_and_each_key_names_the_question(client, aggregate_runs):
    shared_answer(client, SEARCH, aggregate_runs)
    shared_answer(client, "/api/v1/search?q=poverty&facets=country", aggregate_runs)
    keys = redis_keys(f"{get_settings().redis_prefix}:aggregate:")  # not the rate limits'
    with redis.Redis.from_url(REDIS_URL) as client_:
        ttls = [client_.ttl(key) for key in keys]
        values = [orjson.loads(client_.get(key)) for key in keys]
    assert all(0 < ttl <= 600 for ttl in ttls)
    # The facets (each with its count) of two questions: plain JSON data.
    assert len(keys) == 2
    assert all(isinstance(version, int) and isinstance(rows, list) for version, rows in values)


@pytest.mark.usefixtures("seeded")
def test_an_unreachable_redis_fails_no_read(client, monkeypatch, caplog, aggregate_runs):
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens: connection refused
    monkeypatch.setattr(get_settings(), "redis_url", closed)
    errors = store_errors(client)
    with caplog.at_level(logging.WARNING, logger="hrc_digest.kept"):
        answers = [client.get(SEARCH) for _ in range(4)]
    assert [a.status_code for a in answers] == [200] * 4
    assert len({a.content for a in answers}) == 1
    # One failed call, then Redis is left alone for a while: one warning. The process
    # still keeps its answers.
    warnings = [r for r in caplog.records if r.name == "hrc_digest.kept"]
    assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()
    assert store_errors(client) == errors + 1
    assert answered(client).get("process", 0) >= 1
    aggregate_runs.clear()
    kept_answer(client, SEARCH, aggregate_runs)


# --- the store alone --------------------------------------------------------------------


def question(value: object, literal_value: str = "a") -> kept.Question:
    dialect = get_read_engine().dialect.name
    stmt = select(literal(literal_value).label("facet"), version_column(dialect))
    return kept.Question(stmt, (("value", value),))


def new_store(prefix: str, database: str = "db-1", ttl: int = 60) -> kept.Shared:
    """A store as a process of its own would make it (its own client)."""
    return kept.Shared(kept.redis_client(REDIS_URL), prefix, database,
                       get_read_engine().dialect, ttl)


def test_every_process_finds_a_question_under_the_same_key(redis_prefix):
    one, two = new_store(redis_prefix), new_store(redis_prefix)
    asked = question(3)
    # The same statement built again (another process builds its own objects).
    assert one.key(asked) == two.key(question(3)) is not None
    one.put(asked, 7, [("topic", "xinjiang", 4, 7)])
    assert two.get(question(3), 7) == [("topic", "xinjiang", 4, 7)]
    assert two.get(question(3), 8) is None  # another version: never served
    # Another bound value, another literal in the statement, another database: other keys.
    assert len({one.key(asked), one.key(question(4)), one.key(question(3, "b")),
                new_store(redis_prefix, database="db-2").key(asked)}) == 4


def test_only_plain_answers_of_a_bounded_size_are_shared(redis_prefix, monkeypatch):
    import datetime as dt

    store = new_store(redis_prefix)
    store.put(question(1), 7, [("x", dt.date(2021, 2, 22), 7)])  # a date: not shared
    assert store.get(question(1), 7) is None
    monkeypatch.setattr(kept, "MAX_SHARED_BYTES", 100)
    store.put(question(2), 7, [("x" * 200, 1, 7)])  # too large: not shared
    assert store.get(question(2), 7) is None
    assert redis_keys(redis_prefix) == []
    assert store.key(kept.Question(question(1).statement, (("value", object()),))) is None


def test_a_value_that_is_not_an_answer_is_a_miss(redis_prefix):
    store = new_store(redis_prefix)
    with redis.Redis.from_url(REDIS_URL) as client:
        for stored in (b"\x80\x04not json", b'{"a": 1}', b"[7, 3]", b"null"):
            client.set(store.key(question(1)), stored, ex=60)
            assert store.get(question(1), 7) is None


def test_a_store_is_asked_only_with_redis_set_and_a_ttl(monkeypatch, engine):
    with engine.connect() as connection:
        assert kept.stores(connection) == (kept.remembered,)
        monkeypatch.setattr(get_settings(), "redis_url", REDIS_URL)
        assert [s.source for s in kept.stores(connection)] == ["process", "redis"]
        monkeypatch.setattr(get_settings(), "aggregate_cache_ttl", 0)
        assert kept.stores(connection) == (kept.remembered,)


def test_a_database_is_named_the_same_from_every_engine_and_another_is_not(engine):
    other = build_engine(new_database_url())
    try:
        with engine.connect() as one, get_read_engine().connect() as two, \
                other.connect() as three:
            assert kept.identity(one) == kept.identity(two) != kept.identity(three)
    finally:
        other.dispose()


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("url", ["/api/v1/topics", "/api/v1/sessions",
                                 "/api/v1/countries?used=true", "/api/v1/topics/xinjiang"])
def test_reference_counts_are_kept_until_an_entry_is_written(client, auth, aggregate_runs,
                                                             url):
    before = kept_answer(client, url, aggregate_runs)  # asked again: no count statement
    created = client.post("/api/v1/articles", headers=auth, json=poverty_article(
        "Poverty, counted") | {"countries": ["CN"]})
    assert created.status_code == 201
    after = client.get(url).json()
    # The article's topic, country and session each count one more.
    assert articles_counted(after) == articles_counted(before) + 1


def articles_counted(answer: dict) -> int:
    """The articles a reference list's page (or one member) counts, over all its rows."""
    return sum(row["counts"]["article"] for row in answer.get("items", [answer]))
