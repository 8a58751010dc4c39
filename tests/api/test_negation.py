"""Negation in the any-of filters (`topic=-tibet`), on the seeded digest, through HTTP.

Every expectation is recounted here from the entries themselves (every item of the
unfiltered list), so the same test holds on SQLite and PostgreSQL.
"""

import json
from collections import Counter
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from tests.helpers import assert_problem

pytestmark = pytest.mark.usefixtures("seeded")

Item = dict[str, Any]
ATOM = "{http://www.w3.org/2005/Atom}"


def body(client, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return response.json()


def every(client, path: str) -> list[Item]:
    """Every entry of a list, unfiltered (the seed holds fewer than 100 of each)."""
    page = body(client, f"{path}?limit=100&count=exact")
    assert page["total"] == len(page["items"]) < 100
    return page["items"]


def ids(client, url: str) -> set[int]:
    sep = "&" if "?" in url else "?"
    page = body(client, f"{url}{sep}limit=100&count=exact")
    assert page["total"] == len(page["items"])
    return {item["id"] for item in page["items"]}


def kept(items: list[Item], *tests: Callable[[Item], bool]) -> set[int]:
    return {item["id"] for item in items if all(test(item) for test in tests)}


def has(field: str, value: Any) -> Callable[[Item], bool]:
    return lambda item: value in item[field]


def lacks(field: str, value: Any) -> Callable[[Item], bool]:
    return lambda item: value not in item[field]


def common_topic(items: list[Item], *, besides: str | None = None) -> str:
    """The topic most entries carry (with `besides`: the one most often next to it)."""
    counts = Counter(topic for item in items if besides is None or besides in item["topics"]
                     for topic in item["topics"] if topic != besides)
    return counts.most_common(1)[0][0]


class TestTopicsAndCountries:
    def test_a_value_with_a_leading_minus_excludes(self, client):
        items = every(client, "/api/v1/search")
        first = common_topic(items)
        second = common_topic(items, besides=first)
        expected = kept(items, has("topics", first), lacks("topics", second))
        assert 0 < len(expected) < len(kept(items, has("topics", first)))
        assert ids(client, f"/api/v1/search?topic={first}&topic=-{second}") == expected

    def test_only_exclusions_keep_every_other_entry_untagged_ones_too(self, client, auth):
        untagged = client.post("/api/v1/articles", headers=auth, json={"title": "No topics"})
        assert untagged.status_code == 201, untagged.text
        items = every(client, "/api/v1/articles")
        topic = common_topic(items)
        expected = kept(items, lacks("topics", topic))
        assert untagged.json()["id"] in expected
        assert ids(client, f"/api/v1/articles?topic=-{topic}") == expected
        # the capped count (folded in the page) and the exact count agree, and the two
        # halves make the whole: `topic=x` and `topic=-x` are statements of their own
        for count in ("capped", "exact"):
            page = body(client, f"/api/v1/articles?topic=-{topic}&count={count}&limit=1")
            assert (page["total"], page["total_exact"]) == (len(expected), True)
        assert body(client, f"/api/v1/articles?topic={topic}")["total"] + len(expected) == len(
            items)

    def test_country_exclusion_in_either_case(self, client):
        items = every(client, "/api/v1/search")
        country = Counter(c for item in items for c in item["countries"]).most_common(1)[0][0]
        expected = kept(items, lacks("countries", country))
        assert 0 < len(expected) < len(items)
        assert ids(client, f"/api/v1/search?country=-{country.lower()}") == expected
        assert ids(client, f"/api/v1/search?country=-{country}&country=-{country}") == expected

    def test_a_value_both_wanted_and_excluded_matches_nothing(self, client):
        items = every(client, "/api/v1/search")
        topic = common_topic(items)
        assert ids(client, f"/api/v1/search?topic={topic}&topic=-{topic}") == set()


class TestEntryColumns:
    def test_session_language_type_and_precision(self, client, auth):
        loose = client.post("/api/v1/statements", headers=auth,
                            json={"title": "No session", "session": None, "language": "fr"})
        assert loose.status_code == 201, loose.text
        items = every(client, "/api/v1/search")
        cases = {
            "session=-46": kept(items, lambda i: i["session"] != 46),
            "language=-EN": kept(items, lambda i: i["language"].lower() != "en"),
            "type=-event": kept(items, lambda i: i["type"] != "event"),
            "type=article,-event": kept(items, lambda i: i["type"] == "article"),
            "type=-event&type=-statement": kept(items, lambda i: i["type"] == "article"),
            "date_precision=-session": kept(items, lambda i: i["date_precision"] != "session"),
            "date_precision=-session&date_precision=-unknown": kept(
                items, lambda i: i["date_precision"] not in ("session", "unknown")),
        }
        assert loose.json()["id"] in cases["session=-46"]  # no session: none of the values
        for query, expected in cases.items():
            assert 0 < len(expected) < len(items), query
            assert ids(client, f"/api/v1/search?{query}") == expected, query


class TestKindFilters:
    def test_a_kind_list_keeps_entries_whose_field_is_empty(self, client, auth):
        nobody = client.post("/api/v1/statements", headers=auth,
                             json={"title": "Nobody spoke", "speaker": None})
        assert nobody.status_code == 201, nobody.text
        items = every(client, "/api/v1/statements")
        speaker = Counter(i["speaker"] for i in items if i["speaker"]).most_common(1)[0][0]
        expected = kept(items, lambda i: (i["speaker"] or "").lower() != speaker.lower())
        assert nobody.json()["id"] in expected
        assert ids(client, f"/api/v1/statements?speaker=-{speaker.upper()}") == expected

    def test_across_kinds_an_exclusion_removes_only_its_kind(self, client):
        everything = every(client, "/api/v1/search")
        statements = every(client, "/api/v1/statements")
        spoke = {i["id"] for i in statements if (i["speaker"] or "").lower() == "chen xu"}
        assert spoke
        expected = {i["id"] for i in everything} - spoke
        assert ids(client, "/api/v1/search?speaker=-chen%20xu") == expected
        assert ids(client, "/api/v1/search?speaker=-chen%20xu&type=-article") == {
            i["id"] for i in everything if i["type"] != "article"} - spoke

    def test_enum_exclusions_and_their_any_of(self, client):
        items = every(client, "/api/v1/events")
        kinds = Counter(i["event_type"] for i in items).most_common(2)
        (first, _), (second, _) = kinds
        expected = kept(items, lambda i: i["event_type"] not in (first, second))
        assert ids(client, f"/api/v1/events?event_type=-{first}&event_type=-{second}") == (
            expected)
        assert ids(client, f"/api/v1/events?event_type={first}&event_type=-{second}") == (
            kept(items, lambda i: i["event_type"] == first))


def _disjunctive(items: list[Item], filters: dict[str, Callable[[Item], bool]],
                 facet: str, values: Callable[[Item], list[Any]]) -> dict[Any, int]:
    """A facet's counts as the API promises them: over the entries every filter but the
    facet's own keeps."""
    counts: Counter = Counter()
    for item in items:
        if all(test(item) for name, test in filters.items() if name != facet):
            counts.update(values(item))
    return dict(counts)


class TestFacets:
    def test_facets_ignore_only_their_own_filter_exclusions_included(self, client):
        items = every(client, "/api/v1/search")
        first = common_topic(items)
        second = common_topic(items, besides=first)
        country = Counter(c for item in items for c in item["countries"]).most_common(1)[0][0]
        filters = {
            "topic": lambda i: first in i["topics"] and second not in i["topics"],
            "country": lambda i: country not in i["countries"],
            "type": lambda i: i["type"] != "event",
        }
        url = (f"/api/v1/search?topic={first}&topic=-{second}&country=-{country}&type=-event"
               "&facets=topic,country,type,session&facet_limit=100&count=exact")
        page = body(client, url)
        assert page["total"] == len(kept(items, *filters.values()))
        assert page["facets_exact"] is True
        by_hand = {
            "topic": _disjunctive(items, filters, "topic", lambda i: i["topics"]),
            "country": _disjunctive(items, filters, "country", lambda i: i["countries"]),
            "type": _disjunctive(items, filters, "type", lambda i: [i["type"]]),
            "session": _disjunctive(items, filters, "session",
                                    lambda i: [i["session"]] if i["session"] else []),
        }
        for name, expected in by_hand.items():
            facet = page["facets"][name]
            assert {f["value"]: f["count"] for f in facet} == expected, name
            counts = [f["count"] for f in facet]
            assert counts == sorted(counts, reverse=True), name  # most frequent first
        # the excluded values still show in their own facet, with what choosing them gives
        assert second in by_hand["topic"] and country in by_hand["country"]
        # capped (the default) counts the same here: fewer matches than the cap
        capped = body(client, url.replace("&count=exact", ""))
        assert capped["facets"] == page["facets"] and capped["facets_exact"] is True


class TestEverywhere:
    def test_timeline(self, client):
        searched = every(client, "/api/v1/search")
        topic = common_topic(searched)
        dated = {i["id"] for i in searched if i["date"] is not None}
        untagged = kept(searched, lacks("topics", topic))
        page = body(client, f"/api/v1/timeline?topic=-{topic}&limit=100")
        assert {i["id"] for i in page["items"]} == dated & untagged
        dates = [i["date"] for i in page["items"]]
        assert dates == sorted(dates)

    def test_export(self, client):
        items = every(client, "/api/v1/statements")
        topic = common_topic(items)
        response = client.get(f"/api/v1/statements/export?format=ndjson&topic=-{topic}")
        assert response.status_code == 200, response.text
        exported = [json.loads(line) for line in response.text.splitlines() if line]
        assert {r["slug"] for r in exported} == {
            i["slug"] for i in items if topic not in i["topics"]}
        citations = client.get(f"/api/v1/search/export?format=csl-json&type=-article"
                               f"&topic=-{topic}")
        assert citations.status_code == 200, citations.text
        searched = every(client, "/api/v1/search")
        assert len(citations.json()) == len(kept(
            searched, lacks("topics", topic), lambda i: i["type"] != "article"))
        # an excluded kind-filter value, where the cited rows join that kind's own table
        spoke = {i["slug"] for i in items if (i["speaker"] or "").lower() == "chen xu"}
        cited = client.get("/api/v1/search/export?format=csl-json&speaker=-chen%20xu")
        assert cited.status_code == 200, cited.text
        assert {c["id"] for c in cited.json()} == {
            f"{i['type']}:{i['slug']}" for i in searched if i["slug"] not in spoke}

    def test_feed_entries_and_its_id(self, client):
        items = every(client, "/api/v1/statements")
        topic = common_topic(items)
        response = client.get(f"/api/v1/feeds/statements.atom?topic=-{topic}&limit=100")
        assert response.status_code == 200, response.text
        root = ET.fromstring(response.content)
        found = {e.findtext(f"{ATOM}id") for e in root.findall(f"{ATOM}entry")}
        assert found == {f"urn:hrc-digest:statement:{i['slug']}" for i in items
                         if topic not in i["topics"]}
        assert root.findtext(f"{ATOM}id") == f"urn:hrc-digest:feed:statements:topic=-{topic}"
        wanted = ET.fromstring(client.get(f"/api/v1/feeds/statements.atom?topic={topic}")
                               .content).findtext(f"{ATOM}id")
        assert wanted == f"urn:hrc-digest:feed:statements:topic={topic}"
        both = ET.fromstring(client.get("/api/v1/feeds/all.atom?type=%20-event,article&session"
                                        "=-46&country=-us").content).findtext(f"{ATOM}id")
        assert both == ("urn:hrc-digest:feed:all:country=-US&session=-46&type=-event"
                        "&type=article")

    def test_calendar_keeps_days_unless_they_are_excluded(self, client, auth):
        event = client.post("/api/v1/events", headers=auth,
                            json={"title": "A day", "starts_on": "2021-03-02"})
        assert event.status_code == 201, event.text
        kept_days = client.get("/api/v1/feeds/events.ics?date_precision=-session").text
        assert "A day" in kept_days
        no_days = client.get("/api/v1/feeds/events.ics?date_precision=-day").text
        assert "BEGIN:VCALENDAR" in no_days and "VEVENT" not in no_days


@pytest.mark.parametrize(("url", "field", "mention"), [
    ("/api/v1/articles?topic=-nosuch", "topic", "unknown topic 'nosuch'"),
    ("/api/v1/articles?topic=xinjiang&topic=-", "topic", "unknown topic ''"),
    ("/api/v1/articles?country=-XX", "country", "unknown country 'XX'"),
    ("/api/v1/articles?session=-99", "session", "unknown session 99"),
    ("/api/v1/articles?session=0", "session", "unknown session 0"),
    ("/api/v1/articles?genre=-opinion", "genre", "genre"),
    ("/api/v1/articles?date_precision=-daily", "date_precision", "date_precision"),
    ("/api/v1/search?type=-tweet", "type", "unknown type 'tweet'"),
    ("/api/v1/search?type=-", "type", "unknown type ''"),
    ("/api/v1/search?type=-%20event", "type", "unknown type ' event'"),
    ("/api/v1/statements/export?topic=-nosuch", "topic", "nosuch"),
    ("/api/v1/feeds/all.atom?country=--", "country", "country"),
])
def test_bad_exclusions_are_422_naming_the_field(client, url, field, mention):
    problem = assert_problem(client.get(url), 422, mention)
    assert ["query", field] == problem["errors"][0]["loc"][:2]


def test_openapi_documents_negation_with_examples(client):
    spec = client.get("/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/api/v1/articles"]["get"]["parameters"]}
    for name in ("topic", "country", "session", "language", "date_precision", "genre",
                 "source", "author"):
        assert "excludes" in params[name]["description"], name
        assert params[name].get("example") is not None or params[name]["schema"].get(
            "examples"), name
    genre = params["genre"]["schema"]["anyOf"][0]["items"]["enum"]
    assert "-news" in genre and "news" in genre
