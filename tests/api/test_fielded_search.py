"""Fielded and prefix search in `q` (`title:poverty`, `speaker:"chen xu"`, `pover*`), through HTTP.

A small digest is written through the API; each query's expected slugs are worked out by
hand from it, and are the same on SQLite and PostgreSQL.
"""

import pytest

from app.entries.registry import BY_PLURAL
from tests.helpers import assert_problem, sample

STATEMENTS = [
    dict(slug="envoy", title="Envoy urges poverty alleviation", summary="Remarks at the Council.",
         body="Development cooperation matters.", speaker="Chen Xu",
         speaker_role="Permanent Representative", speaker_affiliation="CN"),
    dict(slug="minister", title="Minister on development rights",
         summary="Poverty reduction remains central.", body="No further remarks.",
         speaker="Wang Yi", speaker_role="Foreign Minister", speaker_affiliation="CN"),
    dict(slug="adviser", title="Adviser remarks", summary="Remarks on villages.", body=None,
         speaker="Li Qiang", speaker_role="Adviser to Chen Xu",
         speaker_affiliation="Geneva Institute"),
]
ARTICLES = [
    dict(slug="rural-poverty", title="Poverty alleviation in rural areas",
         summary="A report on villages.", body="Development reached the villages.",
         source="Xinhua", authors=["Li Yunlong"]),
    dict(slug="rural-development", title="Rural development", summary="A survey.",
         body="Poverty fell sharply.", source="CGTN", authors=["Chen Xu", "Wang Fang"]),
    dict(slug="economic-notes", title="Economic notes",
         summary="Poverty alleviation programmes expanded.", body="Powerful growth.",
         source="People's Daily", authors=[]),
]
EVENTS = [
    dict(slug="seminar", title="Seminar on poverty alleviation", summary="Experts met in Geneva.",
         body=None, location="Geneva", organizers=["China Society for Human Rights Studies"]),
    dict(slug="forum", title="Forum on development", summary="Held online.",
         body="Chen Xu spoke about poverty.", location="Beijing", organizers=["Geneva Forum"]),
]
POVERTY = {"envoy", "minister", "rural-poverty", "rural-development", "economic-notes",
           "seminar", "forum"}
EVERY = {item["slug"] for item in STATEMENTS + ARTICLES + EVENTS}
SLUG_OF = {item["title"]: item["slug"] for item in STATEMENTS + ARTICLES + EVENTS}

# (path, q, the slugs it finds)
QUERIES = [
    ("search", "poverty", POVERTY),
    ("search", "title:poverty", {"envoy", "rural-poverty", "seminar"}),
    ("search", "summary:poverty", {"minister", "economic-notes"}),
    ("search", "body:poverty", {"rural-development", "forum"}),
    ("search", "Title:Poverty", {"envoy", "rural-poverty", "seminar"}),
    # The speaker alone: not the adviser's role, the article's author, the forum's body.
    ("search", "speaker:chen", {"envoy"}),
    ("search", 'speaker:"chen xu"', {"envoy"}),
    ("search", "speaker_role:chen", {"adviser"}),
    ("search", "speaker_affiliation:geneva", {"adviser"}),
    ("search", 'authors:"chen xu"', {"rural-development"}),
    ("search", "location:geneva", {"seminar"}),
    ("search", "organizers:geneva", {"forum"}),
    ("search", "geneva", {"adviser", "seminar", "forum"}),
    ("search", '"chen xu"', {"envoy", "adviser", "rural-development", "forum"}),
    ("search", '"poverty alleviation"', {"envoy", "rural-poverty", "economic-notes", "seminar"}),
    ("search", 'title:"poverty alleviation"', {"envoy", "rural-poverty", "seminar"}),
    ("search", 'summary:"poverty alleviation" OR body:"poverty fell"',
     {"economic-notes", "rural-development"}),
    ("search", "pover*", POVERTY),
    ("search", "pow*", {"economic-notes"}),
    ("search", "title:pover*", {"envoy", "rural-poverty", "seminar"}),
    ("search", "body:develop*", {"envoy", "rural-poverty"}),
    ("search", "speaker:che*", {"envoy"}),
    ("search", "title:rural OR summary:villages", {"rural-poverty", "rural-development",
                                                    "adviser"}),
    ("search", "poverty -title:poverty", {"minister", "rural-development", "economic-notes",
                                          "forum"}),
    ("search", "alleviation -summary:alleviation", {"envoy", "rural-poverty", "seminar"}),
    ("search", "-geneva", EVERY - {"adviser", "seminar", "forum"}),
    ("search", "-speaker:chen", EVERY - {"envoy"}),  # articles and events have no speaker
    ("search", "development speaker:chen", {"envoy"}),
    ("search", "rural title:pov*", {"rural-poverty"}),
    ("statements", "-speaker:chen", {"minister", "adviser"}),
    ("statements", "remarks -speaker_role:adviser", {"envoy", "minister"}),
    ("articles", "authors:chen OR source:xinhua", {"rural-development", "rural-poverty"}),
    ("events", "organizers:geneva OR location:geneva", {"seminar", "forum"}),
    ("timeline", "speaker:chen OR location:geneva", {"envoy", "seminar"}),
]


@pytest.fixture
def digest(client, auth) -> None:
    for plural, items in (("statements", STATEMENTS), ("articles", ARTICLES),
                          ("events", EVENTS)):
        payload = [sample(BY_PLURAL[plural], **item) for item in items]
        response = client.post(f"/api/v1/{plural}/bulk", json=payload, headers=auth)
        assert response.status_code == 200, response.text
        assert response.json()["created"] == len(items)


def slugs(client, path: str, q: str) -> set[str]:
    response = client.get(f"/api/v1/{path}", params={"q": q, "limit": 100, "count": "exact"})
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == len(page["items"])
    return {SLUG_OF[item["title"]] for item in page["items"]}  # the timeline shows no slug


@pytest.mark.usefixtures("digest")
@pytest.mark.parametrize(("path", "q", "expected"), QUERIES, ids=[q for _, q, _ in QUERIES])
def test_each_query_finds_exactly_its_entries(client, path, q, expected):
    assert slugs(client, path, q) == expected


@pytest.mark.usefixtures("digest")
def test_fielded_queries_rank_sort_and_page(client):
    """Relevance, date order and cursors work as for any query; prefixes score too."""
    ranked = client.get("/api/v1/search", params={"q": "pover*", "limit": 3}).json()
    assert ranked["total"] == len(POVERTY)
    seen = [item["slug"] for item in ranked["items"]]
    while ranked["next_cursor"]:
        ranked = client.get("/api/v1/search", params={
            "q": "pover*", "limit": 3, "cursor": ranked["next_cursor"]}).json()
        seen += [item["slug"] for item in ranked["items"]]
    assert set(seen) == POVERTY and len(seen) == len(POVERTY)
    # A title match (1.0) outranks a body match (0.2) for a prefix as for a word.
    assert seen.index("rural-poverty") < seen.index("rural-development")
    by_date = client.get("/api/v1/search", params={"q": "title:pover*", "sort": "-date"})
    assert by_date.status_code == 200 and by_date.json()["total"] == 3
    faceted = client.get("/api/v1/search", params={"q": "speaker:chen OR location:geneva",
                                                   "facets": "type"}).json()
    assert {f["value"]: f["count"] for f in faceted["facets"]["type"]} == {
        "statement": 1, "event": 1}


@pytest.mark.usefixtures("digest")
def test_fielded_query_filters_exports_and_feeds(client):
    export = client.get("/api/v1/statements/export", params={"q": "speaker:chen",
                                                            "format": "ndjson"})
    assert export.status_code == 200
    assert len(export.text.splitlines()) == 1
    feed = client.get("/api/v1/feeds/statements.atom", params={"q": "-speaker:chen"})
    assert feed.status_code == 200
    assert feed.text.count("<entry>") == 2


def test_highlights_mark_the_field_that_matched(client, auth):
    payload = sample(BY_PLURAL["articles"], slug="report", title="Poverty report",
                     summary="Poverty is falling in the villages.")
    assert client.post("/api/v1/articles", json=payload, headers=auth).status_code == 201

    def marks(q: str) -> dict[str, str]:
        return client.get("/api/v1/articles", params={"q": q}).json()["items"][0]["highlights"]

    assert marks("title:poverty") == {"title": "<mark>Poverty</mark> report",
                                      "summary": "Poverty is falling in the villages."}
    assert marks("summary:poverty") == {
        "title": "Poverty report", "summary": "<mark>Poverty</mark> is falling in the villages."}
    assert marks("pover* vill*") == {
        "title": "<mark>Poverty</mark> report",
        "summary": "<mark>Poverty</mark> is falling in the <mark>villages</mark>."}
    # A name field's match is in no highlighted text: nothing is marked.
    assert marks("source:xinhua title:report")["title"] == "Poverty <mark>report</mark>"


@pytest.mark.parametrize(("url", "mentions"), [
    ("/api/v1/search?q=po*", ("q", "at least 3 characters", "'po*'")),
    ("/api/v1/articles?q=poverty%20-title:a*", ("q", "at least 3 characters")),
    ("/api/v1/statements?q=speaker:ch*", ("q", "at least 3 characters")),
    ("/api/v1/search?q=colour:red", ("q", "no field 'colour'", "title, summary, body",
                                     "speaker")),
    ("/api/v1/articles?q=speaker:chen", ("q", "articles have no field 'speaker'",
                                         "title, summary, body, source, authors")),
    ("/api/v1/events?q=-authors:%22li%20yunlong%22", ("q", "no field 'authors'",
                                                      "organizers, location")),
    ("/api/v1/timeline?q=genre:report", ("q", "no field 'genre'")),
    ("/api/v1/statements/export?q=title:pov*%20x*", ("q", "at least 3 characters")),
])
def test_bad_fields_and_short_prefixes_are_400_naming_q(client, url, mentions):
    body = assert_problem(client.get(url), 400, *mentions)
    assert body["errors"][0]["loc"] == ["query", "q"]


@pytest.mark.parametrize("q", ["http://example.org", "10:30", "title:", "a:", "*", "**",
                               "title:*", "the*", "zzspeakerzz", "zzsp*", 'title:""'])
def test_what_is_no_field_or_no_prefix_stays_plain(client, q):
    """A colon that does not open a field, or a `*` with no word, is punctuation."""
    assert client.get("/api/v1/search", params={"q": q}).status_code == 200


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize(("q", "total"), [
    ("title:poverty", 6), ("pover*", 7), ("xinjiang -title:xinjiang", 3),
    ('speaker:"chen xu"', 2), ("poverty", 7)])
def test_the_documented_seed_examples(client, q, total):
    """docs/api.md gives these counts on the seeded digest."""
    assert client.get("/api/v1/search", params={"q": q}).json()["total"] == total


@pytest.mark.usefixtures("seeded")
def test_the_documented_fielded_prefix_example(client):
    page = client.get("/api/v1/search", params={"q": "title:pover* -tibet",
                                                "fields": "title,type", "sort": "title"}).json()
    assert [item["title"] for item in page["items"]] == [
        "China shares poverty alleviation experience with UN members",
        "China's anti-poverty campaign promotes human rights: experts",
        "UN chief congratulates Xi on China's success in fight against extreme poverty"]
    first = page["items"][0]["highlights"]
    assert first["title"] == ("China shares <mark>poverty</mark> alleviation experience with "
                              "UN members")
    assert "poverty" in first["summary"] and "<mark>" not in first["summary"]
