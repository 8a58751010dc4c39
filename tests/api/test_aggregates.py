"""Counts and facets kept until the data changes (app/entries/listing/aggregates.py)."""


import pytest
from sqlalchemy import text

from app.core.config import get_settings
from app.entries.listing.kept import Remembered
from app.entries.registry import KINDS
from tests.helpers import kept_response, sample

SEARCH = "/api/v1/search?q=poverty&facets=type,topic"


@pytest.fixture(autouse=True)
def no_kept_pages(monkeypatch):
    """These tests watch the aggregates' stores: whole list answers, kept too
    (app/entries/answers.py, tests/api/test_answers.py), would answer the repeated
    requests before them."""
    monkeypatch.setattr(get_settings(), "page_cache", 0)


def kept_answer(client, url: str, sent: list[str]) -> dict:
    """The answer's JSON once the process keeps it (`tests.helpers.kept_response`)."""
    return kept_response(client, url, sent).json()


def topic_count(answer: dict, topic: str) -> int:
    return next((f["count"] for f in answer["facets"]["topic"] if f["value"] == topic), 0)


def poverty_article(title: str) -> dict:
    return sample(KINDS[0], title=title, summary="Rural poverty work.", topics=["xinjiang"])


@pytest.mark.usefixtures("seeded")
def test_counts_and_facets_are_kept_until_an_entry_is_written(client, auth, aggregate_runs):
    before = kept_answer(client, SEARCH, aggregate_runs)
    assert before["total"] > 0 and before["facets"]["topic"]
    created = [client.post("/api/v1/articles", json=poverty_article(f"Poverty work {n}"),
                           headers=auth) for n in range(2)]
    assert [answer.status_code for answer in created] == [201, 201]
    aggregate_runs.clear()
    after = client.get(SEARCH).json()
    assert aggregate_runs  # the writes moved the data version: computed again
    assert after["total"] == before["total"] + 2
    assert topic_count(after, "xinjiang") == topic_count(before, "xinjiang") + 2
    # The same holds for a kind's list with a text query and for an exact count.
    for url, answer in zip(("/api/v1/articles?q=poverty",
                            "/api/v1/articles?q=poverty&count=exact"), created, strict=True):
        counted = kept_answer(client, url, aggregate_runs)["total"]
        deleted = client.delete(f"/api/v1/articles/{answer.json()['id']}", headers=auth)
        assert deleted.status_code == 204
        assert client.get(url).json()["total"] == counted - 1


@pytest.mark.usefixtures("seeded")
def test_a_write_running_while_an_answer_is_kept_counts_once_committed(client, engine,
                                                                      aggregate_runs):
    from sqlalchemy.orm import Session

    from app.entries import service

    base = kept_answer(client, SEARCH, aggregate_runs)["total"]
    with Session(engine) as writer:  # a write under way: not committed yet
        payload = KINDS[0].create_model.model_validate(poverty_article("Poverty, pending"))
        service.create(writer, KINDS[0], payload)
        writer.flush()
        assert client.get(SEARCH).json()["total"] == base  # not visible yet
        writer.commit()
    assert client.get(SEARCH).json()["total"] == base + 1


@pytest.mark.usefixtures("seeded")
def test_postgresql_a_write_with_a_newer_id_and_an_older_change_still_counts(client, engine,
                                                                            aggregate_runs):
    """Keyed by the newest change `seq`, this answer would be kept and go stale."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    from sqlalchemy.orm import Session

    from app.entries import service

    def create(session: Session, title: str) -> None:
        payload = KINDS[0].create_model.model_validate(poverty_article(title))
        service.create(session, KINDS[0], payload)
        session.flush()

    base = kept_answer(client, SEARCH, aggregate_runs)["total"]
    with Session(engine) as older, Session(engine) as newer:
        older.execute(text("SELECT pg_current_xact_id()"))  # the older transaction id
        create(newer, "Poverty, newer id, logged first")  # change seq n, still running
        create(older, "Poverty, older id, logged second")  # change seq n + 1
        older.commit()
        # Snapshots now list no running transaction below their xmax (the newer one is
        # at or above it): an answer is kept, at the older writer's id.
        assert kept_answer(client, SEARCH, aggregate_runs)["total"] == base + 1
        newer.commit()
    assert client.get(SEARCH).json()["total"] == base + 2


@pytest.mark.usefixtures("seeded")
def test_no_answer_is_kept_when_the_cache_is_off(client, monkeypatch, aggregate_runs):
    monkeypatch.setattr(get_settings(), "aggregate_cache", 0)
    for _ in range(2):
        aggregate_runs.clear()
        assert client.get(SEARCH).status_code == 200
        assert aggregate_runs


def test_answers_are_kept_per_version_and_the_least_recently_used_go_first():
    kept = Remembered(size=2)
    kept.put("a", 7, ["A"])
    kept.put("b", 7, ["B"])
    assert kept.get("a", 7) == ["A"]
    kept.put("c", 7, ["C"])  # "b" was used least recently
    assert kept.get("b", 7) is None and kept.get("a", 7) == ["A"] and kept.get("c", 7) == ["C"]
    # Asked at another version, an answer is of no use again: dropped.
    assert kept.get("a", 8) is None and kept.get("a", 7) is None
    kept.clear()
    assert kept.get("a", 7) is None
