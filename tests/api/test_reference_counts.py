"""The entries per kind that topics, countries and sessions report are right after every
kind of write, and a read after no write does not count them again."""

from collections import Counter

import pytest

from app.core.config import get_settings
from app.entries.registry import KINDS
from app.reference import listing
from tests.helpers import kept_response, sample, seed, statements_sent

ARTICLE, EVENT, STATEMENT = KINDS


def _entries(client) -> list[dict]:
    """Every entry's kind, topics, countries and session, as the entry lists give them."""
    found = []
    for spec in KINDS:
        url = f"/api/v1/{spec.plural}?limit=100&fields=topics,countries,session"
        while url:
            page = client.get(url).json()
            found += page["items"]
            url = page["next_cursor"] and (f"/api/v1/{spec.plural}?limit=100&fields=topics,"
                                           f"countries,session&cursor={page['next_cursor']}")
    return found


def _expected(client) -> dict[str, Counter]:
    """What the collections should report, counted from the entries themselves."""
    expected = {"topics": Counter(), "countries": Counter(), "sessions": Counter()}
    for entry in _entries(client):
        expected["topics"].update((t, entry["type"]) for t in entry["topics"])
        expected["countries"].update((c, entry["type"]) for c in entry["countries"])
        if entry["session"] is not None:
            expected["sessions"][(entry["session"], entry["type"])] += 1
    return expected


def _reported(client) -> dict[str, Counter]:
    """What the collections report, from their pages and from each member's own route."""
    reported = {}
    for path, key in (("topics", "slug"), ("countries?used=true", "code"),
                      ("sessions", "number")):
        page = client.get(f"/api/v1/{path}&limit=1000" if "?" in path
                          else f"/api/v1/{path}?limit=1000").json()
        counted = Counter()
        for item in page["items"]:
            assert client.get(item["href"]).json()["counts"] == item["counts"]
            counted.update({(item[key], kind): n for kind, n in item["counts"].items() if n})
        reported[path.split("?")[0]] = counted
    return reported


def assert_counts_exact(client) -> None:
    """Every collection reports what the entries hold, no more and no less."""
    expected, reported = _expected(client), _reported(client)
    assert reported == expected
    assert client.get("/api/v1/countries?used=true").json()["total"] == len(
        {code for code, _ in expected["countries"]})


def _post(client, auth, spec, **fields) -> dict:
    created = client.post(f"/api/v1/{spec.plural}", json=sample(spec, **fields), headers=auth)
    assert created.status_code == 201, created.text
    return created.json()


def test_counts_follow_single_writes(client, auth):
    assert_counts_exact(client)  # nothing yet: kept as such
    article = _post(client, auth, ARTICLE, topics=["tibet", "xinjiang"], countries=["CN"],
                    session=46)
    event = _post(client, auth, EVENT, topics=["tibet"], countries=["CU", "CN"])
    _post(client, auth, STATEMENT, topics=["upr"], session=46, event_id=event["id"])
    assert_counts_exact(client)
    assert client.get("/api/v1/topics/tibet").json()["counts"]["article"] == 1
    # PUT: other topics, countries and session
    body = sample(ARTICLE, topics=["upr"], countries=["US", "GB"], session=None)
    replaced = client.put(article["href"], json=body, headers=auth)
    assert replaced.status_code == 200, replaced.text
    assert_counts_exact(client)
    assert client.get("/api/v1/topics/tibet").json()["counts"]["article"] == 0
    # PATCH: one field of the three
    patched = client.patch(article["href"], json={"countries": ["FR"]}, headers=auth)
    assert patched.status_code == 200, patched.text
    assert_counts_exact(client)
    # DELETE an event a statement names: its links go, the statement's link is cleared
    assert client.delete(event["href"], headers=auth).status_code == 204
    assert_counts_exact(client)
    assert client.get("/api/v1/countries/CU").json()["counts"]["event"] == 0
    assert client.delete(article["href"], headers=auth).status_code == 204
    assert_counts_exact(client)


def test_counts_follow_bulk_writes(client, auth):
    items = [sample(ARTICLE, title=f"Bulk {i}", slug=f"bulk-{i}", topics=["tibet"],
                    countries=["CN"] if i % 2 else ["US"], session=46) for i in range(6)]
    assert client.post("/api/v1/articles/bulk", json=items, headers=auth).json()["created"] == 6
    assert_counts_exact(client)
    changed = [item | {"topics": ["upr", "xinjiang"], "countries": ["RU"], "session": None}
               for item in items[:3]]
    report = client.post("/api/v1/articles/bulk", json=changed, headers=auth).json()
    assert report["updated"] == 3
    assert_counts_exact(client)
    # on_conflict=skip changes nothing; atomic=false lands the good items only
    skipped = [item | {"topics": ["covid-19"]} for item in items[3:]]
    assert client.post("/api/v1/articles/bulk?on_conflict=skip", json=skipped,
                       headers=auth).json()["unchanged"] == 3
    mixed = [sample(EVENT, title="Good", slug="good", topics=["covid-19"]),
             sample(EVENT, title="Bad", slug="bad", topics=["no-such-topic"])]
    report = client.post("/api/v1/events/bulk?atomic=false", json=mixed, headers=auth).json()
    assert (report["created"], report["failed"]) == (1, 1)
    assert_counts_exact(client)
    refused = [sample(STATEMENT, title="All or nothing", slug="atomic", topics=["tibet"]),
               sample(STATEMENT, title="Bad", slug="bad-statement", countries=["ZZ"])]
    assert client.post("/api/v1/statements/bulk", json=refused, headers=auth).status_code == 422
    assert_counts_exact(client)


def test_counts_follow_the_loader_and_curators(client, auth, db):
    seed(db)  # the digest loader's own write path
    assert_counts_exact(client)
    assert client.get("/api/v1/sessions/46").json()["counts"] == dict(Counter(
        entry["type"] for entry in _entries(client) if entry["session"] == 46))
    # A new session and topic, entries in them, then the session's dates move its entries
    client.post("/api/v1/sessions", json={"number": 47, "name": "47th", "starts_on":
                                          "2021-06-21", "ends_on": "2021-07-13"}, headers=auth)
    client.post("/api/v1/topics", json={"slug": "water", "name": "Water"}, headers=auth)
    _post(client, auth, STATEMENT, session=47, topics=["water"], delivered_on=None)
    assert_counts_exact(client)
    assert client.patch("/api/v1/sessions/47", json={"ends_on": "2021-07-14"},
                        headers=auth).status_code == 200
    assert_counts_exact(client)
    unused = client.post("/api/v1/topics", json={"slug": "unused", "name": "Unused"},
                         headers=auth)
    assert unused.json()["counts"] == {spec.type: 0 for spec in KINDS}
    assert client.delete("/api/v1/topics/unused", headers=auth).status_code == 204
    assert_counts_exact(client)


def _counting(statement: str) -> bool:
    """A statement that counts the entries of a reference collection."""
    return "count(*)" in statement and "GROUP BY" in statement and (
        "entry_topics" in statement or "entry_countries" in statement
        or "entries.session" in statement)


@pytest.mark.parametrize("path", ["/api/v1/topics", "/api/v1/topics/tibet",
                                  "/api/v1/countries?used=true", "/api/v1/countries/CN",
                                  "/api/v1/sessions", "/api/v1/sessions/46"])
def test_reads_after_no_write_count_nothing_not_even_for_a_304(client, auth, path):
    _post(client, auth, ARTICLE, topics=["tibet"], countries=["CN"], session=46)
    with statements_sent(_counting) as seen:
        client.get(path)
        assert seen  # the first read after a write counts
        first = kept_response(client, path, seen)
        assert client.get(path, headers={"If-None-Match": first.headers["etag"]}
                          ).status_code == 304
        assert client.get(path).json() == first.json()
        assert not seen
        _post(client, auth, ARTICLE, title="Another", topics=["tibet"], countries=["CN"],
              session=46)
        again = client.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 200 and seen
        assert again.json() != first.json()


def test_with_the_cache_off_every_read_counts(client, auth, monkeypatch):
    monkeypatch.setattr(get_settings(), "aggregate_cache", 0)
    _post(client, auth, ARTICLE, topics=["tibet"], countries=["CN"], session=46)
    with statements_sent(_counting) as seen:
        for _ in range(2):
            assert client.get("/api/v1/topics/tibet").json()["counts"]["article"] == 1
        assert len(seen) == 2
    assert_counts_exact(client)


def test_counts_are_read_from_the_covering_indexes(engine):
    """No count statement joins another table: each reads one index (EXPLAIN)."""
    with engine.connect() as connection:
        dialect = connection.dialect.name
        for collection in (listing.TOPICS, listing.COUNTRIES, listing.SESSIONS):
            stmt = listing.count_statement(collection, dialect)
            compiled = str(stmt.compile(dialect=connection.dialect))
            assert " JOIN " not in compiled
            if dialect == "sqlite":
                sql = stmt.compile(connection, compile_kwargs={"literal_binds": True})
                plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {sql}"))
                assert "COVERING INDEX" in plan and "TEMP B-TREE" not in plan, plan
