"""Tallies (app/entries/tallies.py): every write keeps them as a recount from the entries
gives them, so totals and facets read from them are those the matches give."""

import threading

import orjson
import pytest
from sqlalchemy.orm import Session

from app.core.db import get_engine, new_session
from app.entries import service, tallies
from app.entries.registry import KINDS
from tests.helpers import sample, statements_sent

ARTICLES, EVENTS, STATEMENTS = KINDS
NDJSON = {"Content-Type": "application/x-ndjson"}
FACETS = "type,topic,country,session,language,year,month,day"
# Read from the tallies, and the same over the same matches read from the entries: an
# excluded id no entry has keeps every entry, and makes the shape one the tallies do not
# hold.
TALLIED, READ = (f"/api/v1/{{path}}?facets={FACETS}&facet_limit=100",
                 f"/api/v1/{{path}}?facets={FACETS}&facet_limit=100&id=-0")


def assert_tallies_recount(client) -> None:
    """The stored tallies are a recount's, and lists answer alike from either."""
    with Session(get_engine()) as session:
        assert tallies.stored(session) == tallies.recounted(session)
    for path in ("search", "timeline", "articles", "events", "statements"):
        tallied = client.get(TALLIED.format(path=path)).json()
        read = client.get(READ.format(path=path)).json()
        assert (tallied["total"], tallied["facets"]) == (read["total"], read["facets"]), path
        assert tallied["total_exact"] and tallied["facets_exact"]


def _bulk(client, auth, spec, records: list[dict]) -> dict:
    body = b"".join(orjson.dumps(record) + b"\n" for record in records)
    response = client.post(f"/api/v1/{spec.plural}/bulk", content=body,
                           headers=auth | NDJSON)
    assert response.status_code == 200, response.text
    return response.json()


def test_every_kind_of_write_keeps_the_tallies(client, auth):
    assert_tallies_recount(client)  # the reference data alone: no tally
    created = []
    for index, (spec, topics, countries) in enumerate([
            (ARTICLES, ["xinjiang", "tibet"], ["CN", "US"]), (EVENTS, ["tibet"], []),
            (STATEMENTS, [], ["FR"]), (ARTICLES, ["xinjiang"], ["CN"])]):
        payload = sample(spec, title=f"Tallied {index}", slug=f"tallied-{index}",
                         topics=topics, countries=countries, session=46,
                         **{spec.primary_date: None if index == 2 else f"2021-0{index + 1}-05"})
        response = client.post(f"/api/v1/{spec.plural}", json=payload, headers=auth)
        assert response.status_code == 201, response.text
        created.append(response.json())
    assert_tallies_recount(client)
    # A bulk that creates some entries and changes others (topics, countries, dates).
    report = _bulk(client, auth, ARTICLES, [
        sample(ARTICLES, slug="tallied-0", title="Tallied 0", topics=["hong-kong"],
               countries=["GB"], published_on="2022-05-01"),
        *(sample(ARTICLES, slug=f"bulk-{n}", title=f"Bulk {n}", topics=["upr", "tibet"][:n % 3],
                 countries=["CN"] * (n % 2), language="fr" if n % 2 else "en",
                 published_on=f"2020-12-{10 + n}") for n in range(6))])
    assert (report["created"], report["updated"]) == (6, 1)
    assert_tallies_recount(client)
    # PUT, PATCH and DELETE, one entry each.
    first = created[1]
    put = sample(EVENTS, title="Tallied 1", slug="tallied-1", topics=["development"],
                 countries=["CN", "IN"], starts_on=None, session=None)
    assert client.put(f"/api/v1/events/{first['id']}", json=put,
                      headers=auth | {"If-Match": "*"}).status_code == 200
    patched = client.patch(f"/api/v1/statements/{created[2]['id']}", headers=auth,
                           json={"delivered_on": "2021-03-01", "topics": ["xinjiang"]})
    assert patched.status_code == 200, patched.text
    assert client.delete(f"/api/v1/articles/{created[3]['id']}", headers=auth).status_code == 204
    assert_tallies_recount(client)
    # New dates for session 46 place its undated entries again (their month and year).
    undated = sample(STATEMENTS, title="Undated", session=46, delivered_on=None)
    assert client.post("/api/v1/statements", json=undated, headers=auth).status_code == 201
    assert client.get("/api/v1/search?date_precision=session").json()["total"] == 1
    moved = client.patch("/api/v1/sessions/46", headers=auth,
                         json={"starts_on": "2019-06-03", "ends_on": "2019-07-01"})
    assert moved.status_code == 200, moved.text
    assert_tallies_recount(client)


def test_a_write_that_fails_leaves_the_tallies_as_they_were(client, auth):
    client.post("/api/v1/articles", json=sample(ARTICLES, slug="kept", topics=["tibet"]),
                headers=auth)
    with Session(get_engine()) as session:
        before = tallies.stored(session)
    taken = client.post("/api/v1/articles", json=sample(ARTICLES, slug="kept"), headers=auth)
    assert taken.status_code == 409
    stale = client.patch("/api/v1/articles/1", json={"topics": ["upr"]},
                         headers=auth | {"If-Match": '"1-99"'})
    assert stale.status_code in (404, 412)
    with new_session() as session:
        service.create(session, ARTICLES, ARTICLES.create_model(title="Rolled back",
                                                                topics=["upr"]))
        session.rollback()  # its queued tallies go with it
        assert tallies.stored(session) == before == tallies.recounted(session)
        service.create(session, ARTICLES, ARTICLES.create_model(title="Committed"))
        session.commit()
    assert_tallies_recount(client)


def test_concurrent_writers_keep_the_tallies(client, auth):
    """Writers of every kind at once, creating, changing and deleting: on PostgreSQL each
    in its own transaction at the same time (SQLite runs them one after the other)."""
    start = threading.Barrier(3, timeout=30)
    failures: list[BaseException] = []

    def write(spec, worker: int) -> None:
        try:
            start.wait()
            for n in range(8):
                with new_session() as session:
                    payload = spec.create_model(**sample(
                        spec, title=f"Worker {worker} entry {n}", slug=f"w{worker}-{n}",
                        topics=["xinjiang", "tibet"][: 1 + n % 2], countries=["CN"],
                        **{spec.primary_date: f"2021-0{1 + n % 9}-0{1 + worker}"}))
                    entry = service.create(session, spec, payload)
                    session.commit()
                if n % 3 == 0:
                    with new_session() as session:
                        service.remove(session, spec, entry["id"], None)
                        session.commit()
        except BaseException as error:  # noqa: BLE001 - reported by the test's thread
            failures.append(error)

    threads = [threading.Thread(target=write, args=(spec, worker))
               for worker, spec in enumerate(KINDS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert_tallies_recount(client)


@pytest.mark.parametrize("path", ["articles", "search", "timeline"])
def test_a_rebuild_after_direct_writes_gives_the_recount(client, auth, path):
    """`rebuild` (for writes past the app, as the bench's loader makes) counts afresh."""
    client.post("/api/v1/articles", json=sample(ARTICLES, topics=["tibet"]), headers=auth)
    with Session(get_engine()) as session:
        session.execute(tallies.tallies.delete())  # as after a load that bypassed the app
        session.commit()
        assert tallies.stored(session) != tallies.recounted(session)
        tallies.rebuild(session)
        session.commit()
    assert_tallies_recount(client)
    assert client.get(f"/api/v1/{path}").json()["total"] == 1


QUERIES = ["", "language=en", "language=EN&language=fr", "language=-fr",
           "language=en&language=-en", "topic=tibet", "country=cn"]
TYPED = ["type=article", "type=-event", "type=article,statement", "type=event&topic=xinjiang",
         "type=statement&language=fr"]  # a kind's own list takes no `type`


@pytest.mark.parametrize(("path", "query"), [
    *((path, query) for path in ("search", "timeline") for query in QUERIES + TYPED),
    *(("articles", query) for query in QUERIES)])
def test_totals_from_the_tallies_are_those_the_matches_give(client, auth, path, query):
    """A list filtered by kind, languages, or one topic or country is counted from the
    tallies (no statement of its own, nothing read from the matches), as the same list
    counted from its matches."""
    for index, (spec, language, day) in enumerate([
            (ARTICLES, "en", "2021-03-01"), (ARTICLES, "fr", None), (EVENTS, "EN", "2020-01-02"),
            (STATEMENTS, "fr", "2022-05-06"), (STATEMENTS, "en", None)]):
        payload = sample(spec, title=f"Counted {index}", language=language,
                         topics=["tibet", "xinjiang"][: index % 3], countries=["CN"] * (index % 2),
                         **{spec.primary_date: day})
        assert client.post(f"/api/v1/{spec.plural}", json=payload, headers=auth).status_code == 201
    with statements_sent(lambda sql: "page_ids" not in sql and "FROM entries" in sql) as counts:
        tallied = client.get(f"/api/v1/{path}?{query}&limit=1").json()
        past_end = client.get(f"/api/v1/{path}?{query}&offset=50").json()
    assert counts == [], counts  # but the page, none read the entries: the tallies counted
    read = client.get(f"/api/v1/{path}?{query}&limit=1&id=-0").json()
    assert tallied["total"] == past_end["total"] == read["total"]
    assert tallied["total_exact"] and read["total_exact"]
