"""Lookups: `id=` and `slug=` on every list, export and feed, and GET /{kind}/by-slug/{slug}.

On the seeded digest (and entries of any kind it lacks), through HTTP; expectations are
taken from the entries themselves (every item of the unfiltered list), so the same test
holds on SQLite and PostgreSQL.
"""

import json
from xml.etree import ElementTree as ET

import pytest

from app.entries.fields import MAX_ENTRY_ID
from app.entries.listing.params import MAX_LOOKUPS
from app.entries.registry import KINDS
from tests.helpers import KIND_IDS, assert_problem

pytestmark = pytest.mark.usefixtures("every_kind")

API = "/api/v1"
ATOM = "{http://www.w3.org/2005/Atom}"


def items(client, url: str) -> list[dict]:
    sep = "&" if "?" in url else "?"
    response = client.get(f"{url}{sep}limit=100&count=exact")
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == len(page["items"]) < 100
    return page["items"]


def ids(client, url: str) -> set[int]:
    return {item["id"] for item in items(client, url)}


@pytest.fixture
def statements(client) -> list[dict]:
    """Every seeded statement, oldest id first (more than four of them)."""
    found = sorted(items(client, f"{API}/statements"), key=lambda item: item["id"])
    assert len(found) > 4
    return found


class TestIdFilter:
    @pytest.mark.parametrize("plural", KIND_IDS)
    def test_any_of_by_repeats_and_comma_lists_on_every_kind(self, client, plural):
        every = items(client, f"{API}/{plural}")
        first, second, third = (item["id"] for item in every[:3])
        assert ids(client, f"{API}/{plural}?id={first}") == {first}
        assert ids(client, f"{API}/{plural}?id={first}&id={second}") == {first, second}
        assert ids(client, f"{API}/{plural}?id={first},%20{second}&id={third}") == {
            first, second, third}

    def test_a_leading_minus_excludes(self, client, statements):
        every = {item["id"] for item in statements}
        first, second, third = (item["id"] for item in statements[:3])
        assert ids(client, f"{API}/statements?id=-{first}") == every - {first}
        assert ids(client, f"{API}/statements?id=-{first},-{second}") == every - {first, second}
        assert ids(client, f"{API}/statements?id={first},{second},-{second}&id={third}") == {
            first, third}

    def test_an_id_of_another_kind_or_of_none_matches_nothing(self, client, statements):
        article = items(client, f"{API}/articles")[0]["id"]
        assert ids(client, f"{API}/statements?id={article}") == set()
        for absent in (0, 999_999, MAX_ENTRY_ID + 1, 10**30):
            assert ids(client, f"{API}/statements?id={absent}") == set(), absent
            assert len(ids(client, f"{API}/statements?id=-{absent}")) == len(statements)

    def test_blank_items_are_dropped(self, client, statements):
        first = statements[0]["id"]
        assert ids(client, f"{API}/statements?id=,{first},") == {first}
        assert len(ids(client, f"{API}/statements?id=")) == len(statements)

    @pytest.mark.parametrize("value", ["abc", "1.5", "1;2", "--3", "- 3", "1,x", "0x1F", "١"])
    def test_a_non_integer_is_422_naming_id(self, client, value):
        for path in ("statements", "search", "timeline", "statements/export",
                     "feeds/statements.atom"):
            response = client.get(f"{API}/{path}", params={"id": value})
            body = assert_problem(response, 422, "id")
            assert body["errors"][0]["loc"] == ["query", "id"]

    def test_more_values_than_allowed_is_422_naming_the_parameter(self, client):
        half = ",".join(str(n) for n in range(1, MAX_LOOKUPS // 2 + 2))
        assert_problem(client.get(f"{API}/articles?id={half}&id={half}"), 422, "id",
                       str(MAX_LOOKUPS))
        slugs = [f"slug-{n}" for n in range(MAX_LOOKUPS + 1)]
        response = client.get(f"{API}/search", params=[("slug", s) for s in slugs])
        assert_problem(response, 422, "slug")


class TestSlugFilter:
    def test_any_of_comma_lists_negation_and_case(self, client, statements):
        every = {item["id"] for item in statements}
        first, second, third = statements[:3]
        url = f"{API}/statements?slug="
        assert ids(client, url + first["slug"]) == {first["id"]}
        assert ids(client, url + f"{first['slug']},{second['slug'].upper()}") == {
            first["id"], second["id"]}
        assert ids(client, url + f"{first['slug']}&slug={third['slug']}") == {
            first["id"], third["id"]}
        assert ids(client, url + f"-{first['slug']}") == every - {first["id"]}
        assert ids(client, url + f"-{first['slug']},-{second['slug']}") == every - {
            first["id"], second["id"]}

    def test_an_unknown_slug_matches_nothing_and_excludes_nothing(self, client, statements):
        assert ids(client, f"{API}/statements?slug=no-such-entry") == set()
        assert ids(client, f"{API}/statements?slug=Not%20A%20Slug") == set()
        assert len(ids(client, f"{API}/statements?slug=-no-such-entry")) == len(statements)

    def test_combines_with_the_other_filters(self, client, statements):
        chosen = statements[:4]
        slugs = ",".join(item["slug"] for item in chosen)
        topic = next(t for item in chosen for t in item["topics"])
        expected = {item["id"] for item in chosen if topic in item["topics"]}
        assert ids(client, f"{API}/statements?slug={slugs}&topic={topic}") == expected
        assert ids(client, f"{API}/statements?slug={slugs}&topic=-{topic}") == {
            item["id"] for item in chosen} - expected

    def test_search_and_timeline_match_the_slug_in_any_kind(self, client):
        everything = items(client, f"{API}/search")
        article = next(item for item in everything if item["type"] == "article")
        event = next(item for item in everything if item["type"] == "event")
        both = f"slug={article['slug']},{event['slug']}"
        assert ids(client, f"{API}/search?{both}") == {article["id"], event["id"]}
        assert ids(client, f"{API}/search?{both}&type=event") == {event["id"]}
        assert ids(client, f"{API}/search?{both}&id=-{event['id']}") == {article["id"]}
        dated = {item["id"] for item in items(client, f"{API}/timeline")}
        assert ids(client, f"{API}/timeline?{both}") == {article["id"], event["id"]} & dated

    def test_export_and_feeds_take_them(self, client, statements):
        first, second = statements[:2]
        exported = client.get(f"{API}/statements/export?slug={first['slug']}&id={second['id']}")
        assert exported.status_code == 200
        assert [json.loads(line)["id"] for line in exported.text.splitlines()] == []
        exported = client.get(f"{API}/statements/export?slug={first['slug']},{second['slug']}"
                              f"&id=-{second['id']}")
        assert [json.loads(line)["id"] for line in exported.text.splitlines()] == [first["id"]]
        cited = client.get(f"{API}/search/export?format=csl-json&id={first['id']}")
        assert [item["title"] for item in cited.json()] == [first["title"]]
        feed = client.get(f"{API}/feeds/all.atom?slug={first['slug'].upper()}&id=0{second['id']}")
        assert feed.status_code == 200
        root = ET.fromstring(feed.content)
        assert root.findall(f"{ATOM}entry") == []
        # the feed id names the filters canonically: lower-case slug, id without zeros
        assert root.find(f"{ATOM}id").text == (
            f"urn:hrc-digest:feed:all:id={second['id']}&slug={first['slug']}")
        feed = client.get(f"{API}/feeds/statements.atom?id={first['id']},{second['id']}")
        titles = {e.find(f"{ATOM}title").text for e in ET.fromstring(feed.content)
                  .findall(f"{ATOM}entry")}
        assert titles == {first["title"], second["title"]}

    def test_openapi_documents_both_with_examples(self, client):
        document = client.get("/openapi.json").json()
        for path in ("/api/v1/articles", "/api/v1/search", "/api/v1/statements/export",
                     "/api/v1/feeds/all.atom"):
            params = {p["name"]: p for p in document["paths"][path]["get"]["parameters"]}
            for name in ("id", "slug"):
                assert params[name]["schema"]["examples"], (path, name)
                assert "excludes" in params[name]["description"]


class TestBySlug:
    @pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)
    def test_same_body_and_etag_as_the_id_route(self, client, spec):
        entry = items(client, f"{API}/{spec.plural}")[0]
        identity = {"Accept-Encoding": "identity"}
        by_id = client.get(f"{API}/{spec.plural}/{entry['id']}", headers=identity)
        by_slug = client.get(f"{API}/{spec.plural}/by-slug/{entry['slug']}", headers=identity)
        assert by_slug.status_code == 200, by_slug.text
        assert by_slug.content == by_id.content
        assert by_slug.headers["etag"] == by_id.headers["etag"] == (
            f'"{entry["id"]}-{entry["version"]}"')
        assert "Accept" in by_slug.headers["vary"]
        gzipped = client.get(f"{API}/{spec.plural}/by-slug/{entry['slug']}")  # gzip accepted
        assert gzipped.headers["etag"] == f'"{entry["id"]}-{entry["version"]}-gzip"'

    def test_conditional_get_and_head(self, client, statements):
        entry = statements[0]
        url = f"{API}/statements/by-slug/{entry['slug']}"
        tag = client.get(f"{API}/statements/{entry['id']}").headers["etag"]
        unchanged = client.get(url, headers={"If-None-Match": tag})
        assert unchanged.status_code == 304 and unchanged.content == b""
        assert unchanged.headers["etag"] == tag
        assert client.get(url, headers={"If-None-Match": '"0-0"'}).status_code == 200
        head = client.head(url)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["etag"] == tag

    def test_an_unknown_slug_or_another_kinds_is_404(self, client, statements):
        assert_problem(client.get(f"{API}/statements/by-slug/no-such-entry"), 404,
                       "no statement has slug 'no-such-entry'")
        article = items(client, f"{API}/articles")[0]
        assert_problem(client.get(f"{API}/statements/by-slug/{article['slug']}"), 404,
                       article["slug"])
        assert client.head(f"{API}/statements/by-slug/nope").status_code == 404

    def test_a_slug_is_never_read_as_an_id_or_a_sub_resource(self, client, auth):
        for slug in ("related", "export", "bulk", "12"):
            created = client.post(f"{API}/events", headers=auth,
                                  json={"title": f"Titled {slug}", "slug": slug})
            assert created.status_code == 201, created.text
            found = client.get(f"{API}/events/by-slug/{slug}")
            assert found.status_code == 200, (slug, found.text)
            assert found.json()["id"] == created.json()["id"]
        assert_problem(client.get(f"{API}/events/by-slug"), 404)
        assert_problem(client.put(f"{API}/events/by-slug/12", headers=auth, json={}), 405)

    def test_accept_negotiates_a_citation(self, client, statements):
        entry = statements[0]
        url = f"{API}/statements/by-slug/{entry['slug']}"
        for accept in ("application/x-bibtex", "application/x-research-info-systems",
                       "application/vnd.citationstyles.csl+json"):
            by_slug = client.get(url, headers={"Accept": accept})
            by_id = client.get(f"{API}/statements/{entry['id']}", headers={"Accept": accept})
            assert by_slug.status_code == 200, by_slug.text
            assert by_slug.headers["content-type"].startswith(accept)
            assert by_slug.content == by_id.content
            assert by_slug.headers["etag"] == by_id.headers["etag"]
        assert_problem(client.get(url, headers={"Accept": "image/png"}), 406)
        assert_problem(client.get(f"{API}/statements/by-slug/nope",
                                  headers={"Accept": "application/x-bibtex"}), 404)

    def test_an_unknown_query_parameter_is_400(self, client, statements):
        entry = statements[0]
        for url in (f"{API}/articles/{entry['id']}", f"{API}/statements/by-slug/x"):
            assert_problem(client.get(f"{url}?inclde=event"), 400, "inclde")

    def test_openapi_documents_the_route(self, client):
        document = client.get("/openapi.json").json()
        for spec in KINDS:
            operation = document["paths"][f"/api/v1/{spec.plural}/by-slug/{{slug}}"]["get"]
            assert operation["operationId"] == f"get_{spec.type}_by_slug"
            [slug] = [p for p in operation["parameters"] if p["name"] == "slug"]
            assert slug["in"] == "path" and slug["schema"]["examples"]
            assert {"200", "304", "404", "406"} <= operation["responses"].keys()
