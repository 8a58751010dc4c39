"""Atom feeds and the events calendar, checked through HTTP with real parsers."""

import re
import xml.etree.ElementTree as ET
from datetime import date, datetime

import pytest
from icalendar import Calendar

from app.entries.registry import BY_PLURAL, KINDS
from tests.helpers import KIND_IDS, assert_problem, sample

NS = "http://www.w3.org/2005/Atom"
A = f"{{{NS}}}"
ARTICLES, EVENTS, STATEMENTS = (BY_PLURAL[k] for k in ("articles", "events", "statements"))
kinds = pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)


def feed(client, path: str) -> ET.Element:
    """GET an Atom feed and parse it, checking the media type."""
    response = client.get(f"/api/v1/feeds/{path}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=60"
    return ET.fromstring(response.content)


def entries_of(root: ET.Element) -> list[ET.Element]:
    """The atom:entry elements of a feed."""
    return root.findall(f"{A}entry")


def text(element: ET.Element, tag: str) -> str:
    """The text of a required child element."""
    child = element.find(f"{A}{tag}")
    assert child is not None, tag
    return child.text or ""


def links(element: ET.Element) -> dict[str, str]:
    """The href of each atom:link by rel."""
    return {link.get("rel", "alternate"): link.get("href") for link in element.findall(f"{A}link")}


def parse_time(value: str) -> datetime:
    """An RFC 3339 timestamp in UTC (Z)."""
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def create(client, auth, spec, **fields) -> dict:
    """Create an entry of a kind over the API."""
    response = client.post(f"/api/v1/{spec.plural}", json=sample(spec, **fields), headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


def calendar(client, query: str = "") -> Calendar:
    """GET the events calendar, check its framing, and parse it."""
    response = client.get(f"/api/v1/feeds/events.ics{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    raw = response.content
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    return Calendar.from_ical(raw)


@kinds
def test_kind_feed_is_atom_with_the_required_elements(client, seeded, auth, spec):
    created = client.post(f"/api/v1/{spec.plural}", json=sample(spec), headers=auth)
    assert created.status_code == 201  # at least one entry, whatever the seed page holds
    root = feed(client, f"{spec.plural}.atom")
    assert root.tag == f"{A}feed"
    assert text(root, "id") == f"urn:hrc-digest:feed:{spec.plural}"
    assert spec.plural in text(root, "title")
    assert text(root.find(f"{A}author"), "name") == "hrc-digest"
    feed_links = links(root)
    assert feed_links["self"] == f"/api/v1/feeds/{spec.plural}.atom"
    assert feed_links["alternate"].startswith(f"/api/v1/{spec.plural}?")
    listed = client.get(f"/api/v1/{spec.plural}?limit=100").json()["items"]
    items = entries_of(root)
    assert len(items) == len(listed) > 0
    updated = [parse_time(text(item, "updated")) for item in items]
    assert updated == sorted(updated, reverse=True)
    assert parse_time(text(root, "updated")) == max(updated)
    for item in items:
        assert re.fullmatch(rf"urn:hrc-digest:{spec.type}:[a-z0-9-]+", text(item, "id"))
        assert text(item, "title")
        parse_time(text(item, "published"))
        detail = client.get(links(item)["alternate"].removeprefix("http://testserver"))
        assert detail.status_code == 200
        assert text(item, "id").endswith(":" + detail.json()["slug"])


def test_all_feed_mixes_kinds_newest_change_first_and_type_narrows(client, auth, seeded):
    root = feed(client, "all.atom?limit=100")
    assert text(root, "id") == "urn:hrc-digest:feed:all"
    ids = [text(item, "id") for item in entries_of(root)]
    assert len(ids) == 26
    assert {i.split(":")[2] for i in ids} == {"article", "event", "statement"}
    assert links(root)["alternate"].startswith("/api/v1/search?")
    newest = create(client, auth, STATEMENTS, title="Newest statement of all")
    first = entries_of(feed(client, "all.atom"))[0]
    assert text(first, "id") == f"urn:hrc-digest:statement:{newest['slug']}"
    only = entries_of(feed(client, "all.atom?type=event&limit=100"))
    assert only and all(text(item, "id").startswith("urn:hrc-digest:event:") for item in only)


def test_limit_defaults_to_50_and_bounds_the_feed(client, auth, seeded):
    for index in range(25):
        create(client, auth, STATEMENTS, title=f"Filler statement {index}")
    assert len(entries_of(feed(client, "all.atom"))) == 50
    assert len(entries_of(feed(client, "all.atom?limit=100"))) == 51
    assert len(entries_of(feed(client, "articles.atom?limit=3"))) == 3


def test_topic_filters_like_the_list(client, seeded):
    root = feed(client, "articles.atom?topic=xinjiang")
    listed = client.get("/api/v1/articles?topic=xinjiang&limit=100").json()["items"]
    items = entries_of(root)
    assert {text(i, "id") for i in items} == {f"urn:hrc-digest:article:{a['slug']}"
                                             for a in listed}
    assert 0 < len(items) < len(client.get("/api/v1/articles?limit=100").json()["items"])
    for item in items:
        assert "xinjiang" in [c.get("term") for c in item.findall(f"{A}category")]
    assert text(root, "id") == "urn:hrc-digest:feed:articles:topic=xinjiang"
    assert "xinjiang" in text(root, "title")


def test_filters_and_sort_reach_the_query(client, seeded):
    titles = [text(i, "title") for i in entries_of(feed(client, "events.atom?sort=title"))]
    assert titles == sorted(titles, key=str.lower)
    speakers = entries_of(feed(client, "all.atom?q=poverty&type=statement"))
    assert speakers and all(":statement:" in text(i, "id") for i in speakers)
    assert not entries_of(feed(client, "statements.atom?date_from=2030-01-01"))


def test_feed_id_ignores_order_limit_and_sort_but_not_filters(client, seeded):
    one = text(feed(client, "all.atom?topic=xinjiang&country=cn&limit=5"), "id")
    two = text(feed(client, "all.atom?sort=title&country=CN&topic=xinjiang"), "id")
    assert one == two == "urn:hrc-digest:feed:all:country=CN&topic=xinjiang"
    assert text(feed(client, "all.atom?topic=xinjiang"), "id") != one


def test_entry_ids_survive_requests_and_updates(client, auth):
    article = create(client, auth, ARTICLES, title="Stable id article")
    before = entries_of(feed(client, "articles.atom"))
    again = entries_of(feed(client, "articles.atom"))
    assert [text(i, "id") for i in before] == [text(i, "id") for i in again]
    response = client.patch(f"/api/v1/articles/{article['id']}",
                            json={"title": "Stable id article, revised"}, headers=auth)
    assert response.status_code == 200, response.text
    (after,) = entries_of(feed(client, "articles.atom"))
    assert text(after, "id") == text(before[0], "id") == (
        f"urn:hrc-digest:article:{article['slug']}")
    assert text(after, "title") == "Stable id article, revised"
    assert parse_time(text(after, "updated")) > parse_time(text(before[0], "updated"))
    assert text(after, "published") == text(before[0], "published")


def test_titles_and_summaries_are_escaped(client, auth):
    title = '<script>alert("x")</script> Rights & Wrongs'
    create(client, auth, ARTICLES, title=title, summary="a < b && c > d")
    response = client.get("/api/v1/feeds/articles.atom")
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text and "Rights &amp; Wrongs" in response.text
    (item,) = entries_of(ET.fromstring(response.content))
    assert text(item, "title") == title
    assert text(item, "summary") == "a < b && c > d"


def test_characters_xml_cannot_carry_are_dropped(client, auth):
    create(client, auth, ARTICLES, title="Bell\x07 and tab\tin title")
    (item,) = entries_of(feed(client, "articles.atom"))
    assert text(item, "title") == "Bell and tab\tin title"


def test_entry_links_authors_and_categories(client, auth):
    create(client, auth, ARTICLES, title="Authored article", url="https://example.org/a?x=1&y=2",
           authors=["Li Yunlong", "Chen Xu"], source="Xinhua", topics=["xinjiang"])
    create(client, auth, ARTICLES, title="Sourced article", authors=[], source="CSHRS")
    create(client, auth, STATEMENTS, title="Spoken statement", speaker="Chen Xu")
    items = {text(i, "title"): i for i in entries_of(feed(client, "all.atom"))}
    authored = items["Authored article"]
    # A reader's item link is the original article; the JSON resource is `related`.
    authored_links = {(link.get("rel"), link.get("type")): link.get("href")
                      for link in authored.findall(f"{A}link")}
    assert authored_links.keys() == {("alternate", None), ("related", "application/json")}
    assert authored_links[("alternate", None)] == "https://example.org/a?x=1&y=2"
    json_link = authored_links[("related", "application/json")]
    assert client.get(json_link).json()["title"] == "Authored article"
    assert [text(a, "name") for a in authored.findall(f"{A}author")] == ["Li Yunlong", "Chen Xu"]
    assert [c.get("term") for c in authored.findall(f"{A}category")] == ["xinjiang"]
    assert [text(a, "name") for a in items["Sourced article"].findall(f"{A}author")] == ["CSHRS"]
    assert "related" not in links(items["Sourced article"])  # no url: the JSON is alternate
    sourced = items["Sourced article"].find(f"{A}link")
    assert (sourced.get("rel"), sourced.get("type")) == ("alternate", "application/json")
    assert client.get(sourced.get("href")).json()["title"] == "Sourced article"
    spoken = items["Spoken statement"]
    assert [text(a, "name") for a in spoken.findall(f"{A}author")] == ["Chen Xu"]


def test_empty_feed_is_still_valid(client):
    root = feed(client, "statements.atom")
    assert entries_of(root) == []
    assert text(root, "updated") == "1970-01-01T00:00:00Z"
    assert text(root, "id") and text(root.find(f"{A}author"), "name") == "hrc-digest"


@pytest.mark.parametrize("path", [
    "articles.atom?cursor=abc", "articles.atom?offset=1", "articles.atom?facets=topic",
    "articles.atom?fields=title", "articles.atom?count=exact", "articles.atom?topicz=x",
    "events.atom?speaker=x", "articles.atom?type=article", "events.ics?page=2",
])
def test_unknown_parameters_are_400(client, path):
    name = path.split("?")[1].split("=")[0]
    body = assert_problem(client.get(f"/api/v1/feeds/{path}"), 400, f"'{name}'")
    assert ["query", name] in [e["loc"] for e in body["errors"]]


@pytest.mark.parametrize(("path", "mention"), [
    ("articles.atom?limit=0", "limit"), ("articles.atom?limit=101", "limit"),
    ("all.atom?date_from=yesterday", "date_from"), ("all.atom?type=memo", "type"),
    ("statements.atom?topic=no-such-topic", "topic"), ("events.ics?format=zoom", "format"),
    ("events.atom?country=XX", "country"),
])
def test_bad_values_are_422(client, path, mention):
    assert_problem(client.get(f"/api/v1/feeds/{path}"), 422, mention)


def test_unknown_feed_is_404(client):
    assert_problem(client.get("/api/v1/feeds/topics.atom"), 404)


def test_calendar_has_one_all_day_vevent_per_dated_event(client, auth):
    summit = create(client, auth, EVENTS, title="Forum; on rights, development", format="online",
                    starts_on="2021-03-01", ends_on="2021-03-03", location="Geneva",
                    url="https://example.org/forum", topics=["development", "xinjiang"],
                    summary="Long " * 40)
    briefing = create(client, auth, EVENTS, title="Briefing in Beijing", format="in_person",
                      starts_on="2021-02-26", location="Beijing")
    create(client, auth, EVENTS, title="Undated webinar", format="online", starts_on=None)
    cal = calendar(client)
    assert str(cal["VERSION"]) == "2.0" and "hrc-digest" in str(cal["PRODID"])
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert set(events) == {f"{summit['slug']}@hrc-digest", f"{briefing['slug']}@hrc-digest"}
    forum = events[f"{summit['slug']}@hrc-digest"]
    assert forum["DTSTART"].dt == date(2021, 3, 1) and forum["DTEND"].dt == date(2021, 3, 4)
    assert forum["DTSTART"].params.get("VALUE") == "DATE"
    assert str(forum["SUMMARY"]) == "Forum; on rights, development"
    assert str(forum["DESCRIPTION"]) == "Long " * 40
    assert str(forum["LOCATION"]) == "Geneva" and str(forum["URL"]) == "https://example.org/forum"
    assert [str(c) for c in forum["CATEGORIES"].cats] == ["development", "xinjiang"]
    assert forum["DTSTAMP"].dt == datetime.fromisoformat(summit["updated_at"]).replace(
        microsecond=0)
    one_day = events[f"{briefing['slug']}@hrc-digest"]
    assert one_day["DTEND"].dt == date(2021, 2, 27)
    online = [str(e["UID"]) for e in calendar(client, "?format=online").walk("VEVENT")]
    assert online == [f"{summit['slug']}@hrc-digest"]


def test_calendar_uids_are_stable_across_updates(client, auth):
    event = create(client, auth, EVENTS, title="Seminar", starts_on="2021-03-05")
    (before,) = calendar(client).walk("VEVENT")
    client.patch(f"/api/v1/events/{event['id']}", json={"title": "Seminar, moved",
                                                        "starts_on": "2021-03-06"}, headers=auth)
    (after,) = calendar(client).walk("VEVENT")
    assert str(after["UID"]) == str(before["UID"])
    assert after["DTSTART"].dt == date(2021, 3, 6)
    assert after["DTSTAMP"].dt >= before["DTSTAMP"].dt


def test_openapi_documents_the_feeds(client):
    paths = client.get("/openapi.json").json()["paths"]
    for kind in ("articles", "events", "statements", "all"):
        operation = paths[f"/api/v1/feeds/{kind}.atom"]["get"]
        assert operation["summary"] and operation["description"]
        assert "application/atom+xml" in operation["responses"]["200"]["content"]
        assert {"400", "422"} <= operation["responses"].keys()
        names = {p["name"] for p in operation["parameters"]}
        assert {"q", "topic", "sort", "limit"} <= names
        assert not names & {"offset", "cursor", "fields", "facets", "count"}
    assert "type" in {p["name"] for p in paths["/api/v1/feeds/all.atom"]["get"]["parameters"]}
    calendar_op = paths["/api/v1/feeds/events.ics"]["get"]
    assert "text/calendar" in calendar_op["responses"]["200"]["content"]
    assert "format" in {p["name"] for p in calendar_op["parameters"]}
