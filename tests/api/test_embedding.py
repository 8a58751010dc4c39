"""Embedding: `include=statements` on events and `include=event` on statements, one query
per included relation per page (counted), with sparse fieldsets and ETags."""

from collections.abc import Iterator

import pytest

from app.entries.embedding import MAX_EMBEDDED
from tests.helpers import assert_problem, statements_sent

API = "/api/v1"
EVENTS, STATEMENTS = f"{API}/events", f"{API}/statements"


def bulk(client, auth, path: str, records: list[dict]) -> None:
    response = client.post(f"{path}/bulk", headers=auth, json=records)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == len(records)


def by_slug(client, path: str) -> dict[str, dict]:
    page = client.get(f"{path}?limit=100&sort=id").json()
    return {item["slug"]: item for item in page["items"]}


@pytest.fixture
def linked(client, auth) -> tuple[dict[str, dict], dict[str, dict]]:
    """Three events (the last with no statement) and five statements, by slug: two at the
    first event (delivered out of id order), one undated, one at the second, one at none."""
    bulk(client, auth, EVENTS, [
        {"title": "First forum", "slug": "first-forum", "starts_on": "2021-03-01"},
        {"title": "Second forum", "slug": "second-forum", "starts_on": "2021-03-02"},
        {"title": "Quiet forum", "slug": "quiet-forum"}])
    bulk(client, auth, STATEMENTS, [
        {"title": "Later words", "slug": "later", "event": "first-forum",
         "delivered_on": "2021-03-03"},
        {"title": "Earlier words", "slug": "earlier", "event": "first-forum",
         "delivered_on": "2021-03-01"},
        {"title": "Undated words", "slug": "undated", "event": "first-forum"},
        {"title": "Second words", "slug": "second", "event": "second-forum",
         "delivered_on": "2021-03-02"},
        {"title": "Loose words", "slug": "loose"}])
    return by_slug(client, EVENTS), by_slug(client, STATEMENTS)


class TestStatementsOfEvents:
    def test_each_event_carries_its_statements_by_date_then_id(self, client, linked):
        events, statements = linked
        page = client.get(f"{EVENTS}?include=statements&sort=id").json()
        carried = {item["slug"]: [s["slug"] for s in item["statements"]]
                   for item in page["items"]}
        # undated first, as lists sort by date
        assert carried == {"first-forum": ["undated", "earlier", "later"],
                           "second-forum": ["second"], "quiet-forum": []}
        first = next(item for item in page["items"] if item["slug"] == "first-forum")
        # each statement as its own detail shows it
        detail = client.get(f"{STATEMENTS}/{statements['earlier']['id']}").json()
        assert first["statements"][1] == detail
        assert first | {"statements": None} == events["first-forum"] | {"statements": None}

    def test_the_detail_route_and_by_slug_carry_them_too(self, client, linked):
        events, statements = linked
        forum = events["first-forum"]
        detail = client.get(f"{EVENTS}/{forum['id']}?include=statements").json()
        assert [s["id"] for s in detail["statements"]] == [
            statements[slug]["id"] for slug in ("undated", "earlier", "later")]
        assert client.get(f"{EVENTS}/by-slug/first-forum?include=statements").json() == detail
        quiet = client.get(f"{EVENTS}/{events['quiet-forum']['id']}?include=statements")
        assert quiet.json()["statements"] == []
        assert "statements" not in client.get(f"{EVENTS}/{forum['id']}").json()
        bibtex = {"Accept": "application/x-bibtex"}  # a citation includes nothing
        assert client.get(f"{EVENTS}/{forum['id']}?include=statements", headers=bibtex
                          ).content == client.get(f"{EVENTS}/{forum['id']}", headers=bibtex).content

    def test_at_most_the_bound_per_event(self, client, auth):
        bulk(client, auth, EVENTS, [{"title": "Long forum", "slug": "long-forum"}])
        bulk(client, auth, STATEMENTS, [
            {"title": f"Words {n}", "slug": f"words-{n}", "event": "long-forum",
             "delivered_on": f"2021-03-{1 + n % 28:02d}"} for n in range(MAX_EMBEDDED + 5)])
        [forum] = client.get(f"{EVENTS}?include=statements").json()["items"]
        carried = forum["statements"]
        assert len(carried) == MAX_EMBEDDED
        every = client.get(f"{STATEMENTS}?sort=date,id&limit=100").json()["items"]
        assert [s["id"] for s in carried] == [s["id"] for s in every[:MAX_EMBEDDED]]


class TestEventOfStatements:
    def test_each_statement_carries_its_event_object_or_null(self, client, linked):
        events, _ = linked
        page = client.get(f"{STATEMENTS}?include=event&sort=id").json()
        carried = {item["slug"]: item["event"] for item in page["items"]}
        assert carried["loose"] is None
        assert carried["later"] == carried["earlier"] == client.get(
            f"{EVENTS}/{events['first-forum']['id']}").json()
        assert carried["second"]["slug"] == "second-forum"
        assert {item["event_id"] for item in page["items"] if item["slug"] != "loose"} == {
            events["first-forum"]["id"], events["second-forum"]["id"]}

    def test_on_the_detail_routes(self, client, linked):
        events, statements = linked
        later = statements["later"]
        detail = client.get(f"{STATEMENTS}/{later['id']}?include=event").json()
        assert detail["event"]["id"] == events["first-forum"]["id"]
        assert client.get(f"{STATEMENTS}/by-slug/later?include=event").json() == detail
        loose = client.get(f"{STATEMENTS}/by-slug/loose?include=event").json()
        assert loose["event"] is None
        assert client.get(f"{STATEMENTS}/{later['id']}").json()["event"] == "first-forum"


class TestWithFields:
    def test_fields_shape_the_listed_entries_and_the_relation_comes_whole(self, client,
                                                                         linked):
        events, _ = linked
        page = client.get(f"{STATEMENTS}?include=event&fields=title&sort=id").json()
        first = events["first-forum"]
        later = next(item for item in page["items"] if item["title"] == "Later words")
        assert set(later) == {"id", "type", "href", "title", "event"}
        assert later["event"] == client.get(f"{EVENTS}/{first['id']}").json()
        page = client.get(f"{EVENTS}?include=statements&fields=slug").json()
        forum = next(item for item in page["items"] if item["slug"] == "first-forum")
        assert set(forum) == {"id", "type", "href", "slug", "statements"}
        assert "body" in forum["statements"][0]  # embedded entries are whole
        # `fields=event` with include: the object, not the slug
        page = client.get(f"{STATEMENTS}?include=event&fields=event&slug=later").json()
        assert page["items"][0]["event"]["slug"] == "first-forum"
        # a relation is no field of the entry: `include` brings it, `fields` cannot
        assert_problem(client.get(f"{EVENTS}?include=statements&fields=statements"), 400,
                       "fields", "statements")

    def test_with_filters_and_paging(self, client, linked):
        page = client.get(f"{EVENTS}?include=statements&slug=second-forum,quiet-forum"
                          "&sort=id&limit=1").json()
        assert [(item["slug"], [s["slug"] for s in item["statements"]])
                for item in page["items"]] == [("second-forum", ["second"])]
        rest = client.get(f"{EVENTS}?include=statements&slug=second-forum,quiet-forum"
                          f"&sort=id&limit=1&cursor={page['next_cursor']}").json()
        assert rest["items"][0]["statements"] == []
        empty = client.get(f"{EVENTS}?include=statements&slug=nothing").json()
        assert empty["items"] == []


class TestInvalid:
    @pytest.mark.parametrize(("url", "allowed"), [
        (f"{EVENTS}?include=event", "statements"),
        (f"{EVENTS}/1?include=statements,bogus", "statements"),
        (f"{EVENTS}/by-slug/x?include=articles", "statements"),
        (f"{STATEMENTS}?include=statements", "event"),
        (f"{STATEMENTS}/1?include=events", "event"),
    ])
    def test_an_include_the_kind_lacks_is_400_naming_include_and_the_allowed(
            self, client, url, allowed):
        body = assert_problem(client.get(url), 400, "include", f"use {allowed}")
        assert body["errors"][0]["loc"] == ["query", "include"]

    def test_articles_include_nothing_and_exports_take_no_include(self, client):
        for url in (f"{API}/articles?include=event", f"{API}/articles/1?include=event",
                    f"{EVENTS}/export?include=statements"):
            body = assert_problem(client.get(url), 400, "include")
            assert body["errors"][0]["loc"] == ["query", "include"]

    def test_repeats_and_blanks_are_one_relation(self, client, linked):
        events, _ = linked
        url = f"{EVENTS}/{events['second-forum']['id']}"
        once = client.get(f"{url}?include=statements").json()
        assert client.get(f"{url}?include=statements,&include=statements").json() == once


class TestEtags:
    def test_an_included_statement_changes_the_tag(self, client, auth, linked):
        events, statements = linked
        url = f"{EVENTS}/{events['first-forum']['id']}"
        plain, included = client.get(url), client.get(f"{url}?include=statements")
        assert plain.headers["etag"] != included.headers["etag"]
        tag = included.headers["etag"]
        assert client.get(f"{url}?include=statements",
                          headers={"If-None-Match": tag}).status_code == 304
        by_slug = client.get(f"{EVENTS}/by-slug/first-forum?include=statements")
        assert by_slug.headers["etag"] == tag
        listed = client.get(f"{EVENTS}?include=statements").headers["etag"]
        assert listed != client.get(EVENTS).headers["etag"]
        changed = client.patch(f"{STATEMENTS}/{statements['earlier']['id']}", headers=auth,
                               json={"summary": "Said again"})
        assert changed.status_code == 200, changed.text
        assert client.get(url).headers["etag"] == plain.headers["etag"]  # the event is as it was
        again = client.get(f"{url}?include=statements", headers={"If-None-Match": tag})
        assert again.status_code == 200
        assert again.headers["etag"] != tag
        assert client.get(f"{EVENTS}?include=statements").headers["etag"] != listed


@pytest.fixture
def executed(engine) -> Iterator[list[str]]:
    """Every statement the app sends to the database while the test runs."""
    with statements_sent() as seen:
        yield seen


def test_a_page_of_events_with_statements_runs_a_fixed_number_of_queries(client, auth,
                                                                         executed):
    bulk(client, auth, EVENTS, [{"title": f"Forum {n}", "slug": f"forum-{n}"}
                                for n in range(25)])
    bulk(client, auth, STATEMENTS, [{"title": f"Words {n}", "slug": f"words-{n}",
                                     "event": f"forum-{n % 25}"} for n in range(60)])

    def count(url: str) -> int:
        executed.clear()
        response = client.get(url)
        assert response.status_code == 200, response.text
        return len(executed)

    small, large = (count(f"{EVENTS}?include=statements&limit={n}") for n in (2, 20))
    assert small == large
    assert count(f"{EVENTS}?limit=20") == large - 1  # one query for the relation
    page = client.get(f"{EVENTS}?include=statements&limit=20").json()["items"]
    assert len(page) == 20 and all(len(item["statements"]) >= 2 for item in page)
    statements_small, statements_large = (
        count(f"{STATEMENTS}?include=event&limit={n}") for n in (2, 20))
    assert statements_small == statements_large == count(f"{STATEMENTS}?limit=20") + 1


def test_openapi_documents_include_and_the_detail_shapes(client):
    document = client.get("/openapi.json").json()
    for path, value in ((EVENTS, "statements"), (STATEMENTS, "event")):
        for route in (path, f"{path}/{{entry_id}}", f"{path}/by-slug/{{slug}}"):
            params = {p["name"]: p for p in document["paths"][route]["get"]["parameters"]}
            example = params["include"]["schema"]["examples"][0]  # a list where repeatable
            assert example in (value, [value]), route
    assert "include" not in {p["name"] for p in
                             document["paths"][f"{API}/articles"]["get"]["parameters"]}
    schemas = document["components"]["schemas"]
    assert schemas["EventDetail"]["properties"]["statements"]["items"] == {
        "$ref": "#/components/schemas/StatementPublic"}
    assert {"$ref": "#/components/schemas/EventPublic"} in (
        schemas["StatementDetail"]["properties"]["event"]["anyOf"])


def test_a_page_with_included_entries_keeps_stored_json_exact(client, linked, db):
    """A list page writes its entries' JSON fields as stored, and its included entries'
    as decoded: integers past 64 bits stay exact in both, in one answer (which the
    fast encoder refuses, so the standard library writes it, stored JSON included)."""
    from sqlalchemy import text

    events, statements = linked
    big = 123456789012345678901
    for entry in (events["first-forum"], statements["earlier"]):
        db.execute(text("UPDATE entries SET provenance = :p WHERE id = :id"),
                   {"p": f'{{"line": {big}, "rule": "r"}}', "id": entry["id"]})
    db.commit()
    response = client.get(f"{EVENTS}?include=statements&sort=id")
    assert response.status_code == 200, response.text
    first = response.json()["items"][0]
    assert first["slug"] == "first-forum"
    assert first["provenance"] == {"line": big, "rule": "r"}
    earlier = next(s for s in first["statements"] if s["slug"] == "earlier")
    assert earlier["provenance"] == {"line": big, "rule": "r"}
    assert first["organizers"] == [] and first["topics"] == []
