"""Topics, countries and sessions: listed with counts in the list envelope, curated with a
key."""

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from app.entries.registry import KINDS
from tests.helpers import assert_problem, kind_counts, sample

ENVELOPE = {"items", "total", "total_exact", "limit", "offset", "next_cursor"}


def test_topics_listed_with_counts_per_kind(client, auth):
    client.post("/api/v1/articles", json=sample(KINDS[0], topics=["tibet"]), headers=auth)
    client.post("/api/v1/events", json=sample(KINDS[1], topics=["tibet", "xinjiang"]),
                headers=auth)
    page = client.get("/api/v1/topics").json()
    assert page.keys() == ENVELOPE
    assert page["total"] == len(page["items"]) == 14 and page["total_exact"] is True
    assert (page["limit"], page["offset"], page["next_cursor"]) == (100, 0, None)
    topics = {t["slug"]: t for t in page["items"]}
    assert topics["tibet"]["counts"] == kind_counts(article=1, event=1)
    assert topics["xinjiang"]["counts"] == kind_counts(event=1)
    assert "Xizang" in topics["tibet"]["keywords"]
    assert topics["tibet"]["href"] == "/api/v1/topics/tibet"
    assert client.get("/api/v1/topics/tibet").json() == topics["tibet"]
    names = [(t["name"], t["slug"]) for t in page["items"]]
    assert names == sorted(names)  # by name, as before (then slug: a total order)


@pytest.mark.parametrize("path", ["/api/v1/topics", "/api/v1/countries",
                                  "/api/v1/countries?used=true", "/api/v1/sessions"])
def test_every_item_links_to_itself(client, auth, path):
    client.post("/api/v1/articles", json=sample(KINDS[0], countries=["CU"]), headers=auth)
    items = client.get(path).json()["items"]
    assert items
    for item in items[:20]:
        assert client.get(item["href"]).json() == item


def _cursor_pages(client, url: str) -> list[dict]:
    """Every page of a collection, following `next_cursor` and checking `Link` says so."""
    pages = [client.get(url)]
    while pages[-1].json()["next_cursor"] is not None:
        cursor = pages[-1].json()["next_cursor"]
        link = pages[-1].headers["link"]
        assert f'cursor={cursor}>; rel="next"' in link and 'rel="first"' in link
        pages.append(client.get(f"{url}&cursor={cursor}"))
    assert 'rel="next"' not in pages[-1].headers["link"]
    return [page.json() for page in pages]


def test_countries_page_by_cursor_in_name_order(client):
    pages = _cursor_pages(client, "/api/v1/countries?limit=40")
    assert [len(p["items"]) for p in pages] == [40] * 6 + [9]
    assert {p["total"] for p in pages} == {249}
    codes = [c["code"] for p in pages for c in p["items"]]
    assert len(codes) == len(set(codes)) == 249
    whole = client.get("/api/v1/countries?limit=1000").json()["items"]
    assert [c["code"] for c in whole] == codes  # one order, whichever way it is read
    names = [(c["name"], c["code"]) for c in whole]
    assert names == sorted(names)  # by name, then code
    assert client.get("/api/v1/countries").json()["limit"] == 100


def test_offset_pages_link_back(client):
    page = client.get("/api/v1/sessions?limit=1")  # one session: nothing before or after
    assert page.headers["link"] == '</api/v1/sessions?limit=1>; rel="first"'
    second = client.get("/api/v1/topics?limit=5&offset=5")
    assert [t["slug"] for t in second.json()["items"]] == [
        t["slug"] for t in client.get("/api/v1/topics").json()["items"][5:10]]
    links = {rel: urlsplit(url.strip("<>")) for url, rel in (
        part.split("; rel=") for part in second.headers["link"].split(", "))}
    assert parse_qs(links['"prev"'].query) == {"limit": ["5"]}
    assert "offset" not in links['"first"'].query
    beyond = client.get("/api/v1/topics?offset=50").json()
    assert (beyond["items"], beyond["total"], beyond["next_cursor"]) == ([], 14, None)


def test_sessions_page_newest_first(client, auth):
    for number in (44, 47, 45):
        client.post("/api/v1/sessions", json={"number": number, "name": f"{number}th"},
                    headers=auth)
    pages = _cursor_pages(client, "/api/v1/sessions?limit=3")
    assert [[s["number"] for s in p["items"]] for p in pages] == [[47, 46, 45], [44]]


@pytest.mark.parametrize(("query", "status", "named"), [
    ("limit=0", 422, "limit"), ("limit=1001", 422, "limit"), ("offset=-1", 422, "offset"),
    ("offset=10001", 422, "offset"), ("colour=red", 400, "colour"),
    ("cursor=not-a-cursor", 400, "cursor"), ("limit=1&offset=1&cursor=x", 400, "cursor"),
])
def test_paging_parameters_are_checked(client, query, status, named):
    for path in ("/api/v1/topics", "/api/v1/countries", "/api/v1/sessions"):
        assert_problem(client.get(f"{path}?{query}"), status, named)


def test_a_cursor_serves_only_its_own_collection(client):
    cursor = client.get("/api/v1/topics?limit=1").json()["next_cursor"]
    assert_problem(client.get(f"/api/v1/countries?cursor={cursor}"), 400, "cursor")
    forged = base64.urlsafe_b64encode(json.dumps({"s": "name,slug", "v": [1, 2]}).encode())
    assert_problem(client.get(f"/api/v1/topics?cursor={forged.decode()}"), 400, "cursor")


def test_topic_crud(client, auth):
    new = {"slug": "water", "name": "Right to water", "keywords": ["water", "sanitation"]}
    created = client.post("/api/v1/topics", json=new, headers=auth)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/api/v1/topics/water"
    assert created.json()["counts"] == kind_counts()
    assert created.json()["href"] == "/api/v1/topics/water"
    assert_problem(client.post("/api/v1/topics", json=new, headers=auth), 409, "water")
    patched = client.patch("/api/v1/topics/water", json={"description": "Water."}, headers=auth)
    assert patched.json()["description"] == "Water." and patched.json()["name"] == new["name"]
    assert client.get("/api/v1/topics").json()["total"] == 15
    assert client.delete("/api/v1/topics/water", headers=auth).status_code == 204
    assert_problem(client.get("/api/v1/topics/water"), 404, "water")


def test_topic_in_use_cannot_be_deleted(client, auth):
    client.post("/api/v1/articles", json=sample(KINDS[0], topics=["upr"]), headers=auth)
    assert_problem(client.delete("/api/v1/topics/upr", headers=auth), 409, "1 entries")
    assert client.get("/api/v1/topics/upr").status_code == 200


def test_topic_validation(client, auth):
    assert_problem(client.post("/api/v1/topics", json={"slug": "Bad Slug", "name": "x"},
                               headers=auth), 422, "slug")
    assert_problem(client.patch("/api/v1/topics/tibet", json={"name": ""}, headers=auth), 422,
                   "name")
    assert_problem(client.patch("/api/v1/topics/nope", json={"name": "x"}, headers=auth), 404)


def test_countries_come_from_iso_3166(client, auth):
    page = client.get("/api/v1/countries?limit=1000").json()
    countries = {c["code"]: c for c in page["items"]}
    assert len(countries) == page["total"] == 249
    assert countries["CN"]["name"] == "China"
    assert countries["GB"]["name"] == "United Kingdom"
    client.post("/api/v1/articles", json=sample(KINDS[0], countries=["CU"]), headers=auth)
    used = client.get("/api/v1/countries?used=true").json()
    assert [c["code"] for c in used["items"]] == ["CU"] and used["total"] == 1
    assert used["items"][0]["counts"]["article"] == 1
    assert_problem(client.get("/api/v1/countries?usd=true"), 400, "usd")


def test_a_country_by_its_code(client, auth):
    client.post("/api/v1/articles", json=sample(KINDS[0], countries=["CU"]), headers=auth)
    cuba = client.get("/api/v1/countries/cu").json()
    assert (cuba["code"], cuba["name"], cuba["href"]) == ("CU", "Cuba", "/api/v1/countries/CU")
    assert cuba["counts"] == kind_counts(article=1)
    assert_problem(client.get("/api/v1/countries/XK"), 404, "XK")
    assert_problem(client.get("/api/v1/countries/CHN"), 422, "code")


def test_sessions_listed_with_the_46th(client, auth):
    client.post("/api/v1/statements", json=sample(KINDS[2], session=46), headers=auth)
    page = client.get("/api/v1/sessions").json()
    assert page.keys() == ENVELOPE and page["total"] == 1
    s46 = next(s for s in page["items"] if s["number"] == 46)
    assert (s46["starts_on"], s46["ends_on"], s46["location"]) == (
        "2021-02-22", "2021-03-23", "Geneva")
    assert s46["counts"] == kind_counts(statement=1)
    assert s46["href"] == "/api/v1/sessions/46"


def test_session_crud_and_in_use(client, auth):
    new = {"number": 47, "name": "47th session", "starts_on": "2021-06-21",
           "ends_on": "2021-07-13", "location": "Geneva"}
    created = client.post("/api/v1/sessions", json=new, headers=auth)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/api/v1/sessions/47"
    assert_problem(client.post("/api/v1/sessions", json=new, headers=auth), 409, "47")
    assert_problem(client.patch("/api/v1/sessions/47", json={"ends_on": "2021-06-01"},
                                headers=auth), 422, "ends_on")
    patched = client.patch("/api/v1/sessions/47", json={"description": "Summer."}, headers=auth)
    assert patched.json()["description"] == "Summer."
    client.post("/api/v1/articles", json=sample(KINDS[0], session=47), headers=auth)
    assert_problem(client.delete("/api/v1/sessions/47", headers=auth), 409, "used by 1")
    assert_problem(client.get("/api/v1/sessions/48"), 404, "48")
    assert_problem(client.get("/api/v1/sessions/zero"), 422, "number")
