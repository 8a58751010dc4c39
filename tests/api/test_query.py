"""Filters, full-text search, relevance, highlights, facets and fields on the seeded digest."""

import pytest

from app.core.config import get_settings
from app.entries.registry import BY_PLURAL, KINDS
from tests.helpers import assert_problem, sample

ARTICLES, EVENTS, STATEMENTS = (BY_PLURAL[name] for name in ("articles", "events", "statements"))


def titles(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


def total(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return response.json()["total"]


@pytest.mark.usefixtures("seeded")
class TestFilters:
    def test_topic_and_its_any_of_repeat(self, client):
        xinjiang = total(client, "/api/v1/statements?topic=xinjiang")
        tibet = total(client, "/api/v1/statements?topic=tibet")
        both = total(client, "/api/v1/statements?topic=xinjiang&topic=tibet")
        assert xinjiang >= 3 and tibet >= 2
        assert max(xinjiang, tibet) <= both <= xinjiang + tibet
        for item in client.get("/api/v1/statements?topic=xinjiang&limit=100").json()["items"]:
            assert "xinjiang" in item["topics"]

    def test_country_any_of_and_case(self, client):
        for item in client.get("/api/v1/events?country=de&limit=100").json()["items"]:
            assert "DE" in item["countries"]
        assert total(client, "/api/v1/events?country=DE") == 1
        assert total(client, "/api/v1/statements?country=CU&country=RU") == 2

    def test_session_and_language(self, client):
        assert total(client, "/api/v1/articles?session=46") == 4
        assert total(client, "/api/v1/articles?language=EN") == 4
        assert total(client, "/api/v1/articles?language=fr") == 0

    @pytest.mark.parametrize(("url", "expected"), [
        ("/api/v1/articles?source=xinhua", 1),
        ("/api/v1/articles?source=CSHRS&source=Xinhua", 4),
        ("/api/v1/articles?genre=research", 3),
        ("/api/v1/events?event_type=seminar", 2),
        ("/api/v1/events?event_type=seminar&event_type=forum", 3),
        ("/api/v1/events?format=online", 5),
        ("/api/v1/events?location=GENEVA", 1),
        ("/api/v1/events?organizer=china%20society%20for%20human%20rights%20studies", 1),
        ("/api/v1/statements?speaker=chen%20xu", 2),
        ("/api/v1/statements?speaker=Antonio%20Guterres&speaker=Wang%20Yi", 3),
        ("/api/v1/statements?statement_type=spokesperson", 4),
        ("/api/v1/statements?speaker_affiliation=un", 2),
    ])
    def test_kind_fields(self, client, url, expected):
        assert total(client, url) == expected

    def test_filters_combine_with_and(self, client):
        assert total(client, "/api/v1/statements?speaker=chen%20xu&topic=covid-19") == 1

    @pytest.mark.parametrize(("url", "mention"), [
        ("/api/v1/articles?topic=xinjang", "unknown topic 'xinjang'"),
        # The page has rows (xinjiang's): the unknown value is still named.
        ("/api/v1/statements?topic=xinjiang&topic=xinjang", "unknown topic 'xinjang'"),
        ("/api/v1/statements?topic=xinjiang&topic=tibet&topic=-atlantis",
         "unknown topic 'atlantis'"),
        ("/api/v1/statements?session=46&session=-99", "unknown session 99"),
        ("/api/v1/statements?topic=xinjiang&session=-99&limit=1", "unknown session 99"),
        ("/api/v1/articles?country=XX", "unknown country 'XX'"),
        ("/api/v1/articles?session=99", "unknown session 99"),
        ("/api/v1/articles?genre=opinion", "genre"),
        ("/api/v1/events?format=radio", "format"),
        ("/api/v1/articles?date_from=2021-02-30", "date_from"),
        ("/api/v1/articles?date_from=yesterday", "date_from"),
        ("/api/v1/articles?date_from=2021-03-02&date_to=2021-03-01", "date_to"),
        ("/api/v1/statements?event_id=abc", "event_id"),
        ("/api/v1/search?type=tweet", "type"),
    ])
    def test_bad_filter_values_are_422_naming_them(self, client, url, mention):
        assert_problem(client.get(url), 422, mention)

    @pytest.mark.parametrize(("url", "mention"), [
        ("/api/v1/articles?fields=title,nope", "nope"),
        ("/api/v1/articles?facets=speaker", "speaker"),
        ("/api/v1/articles?sort=relevance", "relevance"),
        ("/api/v1/articles?q=x&q=y", "'q'"),
    ])
    def test_bad_options_are_400(self, client, url, mention):
        assert_problem(client.get(url), 400, mention)


def test_date_range_on_the_primary_date(client, auth):
    for day in ("2021-02-22", "2021-03-01", "2021-03-24", None):
        client.post("/api/v1/statements", json=sample(STATEMENTS, delivered_on=day,
                                                      title=f"On {day}"), headers=auth)
    assert titles(client.get("/api/v1/statements?date_from=2021-03-01&sort=date")) == [
        "On 2021-03-01", "On 2021-03-24"]
    assert titles(client.get("/api/v1/statements?date_to=2021-03-01&sort=date")) == [
        "On 2021-02-22", "On 2021-03-01"]
    assert titles(client.get(
        "/api/v1/statements?date_from=2021-03-01&date_to=2021-03-01")) == ["On 2021-03-01"]


@pytest.mark.usefixtures("seeded")
class TestFullText:
    def test_words_are_anded(self, client):
        found = titles(client.get("/api/v1/search?q=poverty%20tibet&limit=100"))
        assert found and all("tibet" in t.lower() for t in found)
        assert total(client, "/api/v1/search?q=poverty%20tibet") < total(
            client, "/api/v1/search?q=poverty")

    def test_stemming_finds_poverty_alleviation(self, client):
        found = titles(client.get("/api/v1/articles?q=alleviate"))
        assert any("Poverty-Alleviation" in t for t in found)
        assert total(client, "/api/v1/articles?q=poverties") >= 1

    def test_phrase(self, client):
        phrase = total(client, '/api/v1/search?q="poverty%20alleviation"')
        loose = total(client, "/api/v1/search?q=poverty%20alleviation")
        assert 1 <= phrase <= loose
        reversed_phrase = total(client, '/api/v1/search?q="alleviation%20poverty"')
        assert reversed_phrase < phrase

    def test_or(self, client):
        zenz = total(client, "/api/v1/search?q=zenz")
        guterres = total(client, "/api/v1/search?q=guterres")
        assert total(client, "/api/v1/search?q=zenz%20OR%20guterres") == zenz + guterres == 3

    def test_exclusion(self, client):
        everything = total(client, "/api/v1/search?q=rights")
        without = client.get("/api/v1/search?q=rights%20-xinjiang&limit=100").json()
        assert 0 < without["total"] < everything
        for item in without["items"]:
            assert "xinjiang" not in (item["title"] + item["summary"]).lower()

    def test_exclusion_only(self, client):
        assert total(client, "/api/v1/search?q=-xinjiang") == 26 - total(
            client, "/api/v1/search?q=xinjiang")

    def test_name_fields_are_searched(self, client):
        assert total(client, "/api/v1/statements?q=Liu%20Yuyin") == 1
        assert total(client, "/api/v1/articles?q=CSHRS") == 3

    def test_best_match_first(self, client):
        assert titles(client.get("/api/v1/search?q=belt%20road"))[0] == (
            "Virtual seminar focuses on human rights cooperation under Belt & Road")
        assert titles(client.get("/api/v1/search?q=zenz%20genocide"))[0].startswith(
            "The Truth about Population Development in Xinjiang")
        relevance = client.get("/api/v1/search?q=poverty&limit=100").json()["items"]
        by_count = [i["title"] for i in relevance]
        assert "poverty" in by_count[0].lower() or "poverty" in relevance[0]["summary"].lower()

    def test_highlights_mark_matches(self, client):
        item = client.get("/api/v1/articles?q=alleviate").json()["items"][0]
        assert "<mark>Alleviation</mark>" in item["highlights"]["title"]
        assert "highlights" not in client.get("/api/v1/articles").json()["items"][0]

    @pytest.mark.parametrize("q", [
        '"unbalanced', "OR", "-", "' OR 1=1 --", "); DROP TABLE entries; --", "NEAR(a b)",
        "title:x", "*", "\\", "%00", "%27%22", "a" * 400, "()", "😀", "the",
    ])
    def test_hostile_queries_never_fail(self, client, q):
        for url in (f"/api/v1/articles?q={q}", f"/api/v1/search?q={q}&facets=topic",
                    f"/api/v1/timeline?q={q}"):
            response = client.get(url)
            expected = 422 if q == "%00" else 200  # NUL is refused before any SQL
            assert response.status_code == expected, (url, response.text)
        assert total(client, "/api/v1/search") == 26

    def test_overlong_query_is_422(self, client):
        assert_problem(client.get("/api/v1/search?q=" + "a" * 501), 422, "q")


def test_highlights_escape_markup(client, auth):
    client.post("/api/v1/articles", json=sample(ARTICLES, title="<script>alert(1)</script> "
                                                "poverty & co"), headers=auth)
    item = client.get("/api/v1/articles?q=poverty").json()["items"][0]
    assert item["title"] == "<script>alert(1)</script> poverty & co"
    assert item["highlights"]["title"] == (
        "&lt;script&gt;alert(1)&lt;/script&gt; <mark>poverty</mark> &amp; co")


def test_writes_reach_the_index_at_once(client, auth):
    created = client.post("/api/v1/articles", json=sample(ARTICLES, title="Zanzibar report"),
                          headers=auth).json()
    assert total(client, "/api/v1/articles?q=zanzibar") == 1
    client.patch(f"/api/v1/articles/{created['id']}", json={"title": "Mombasa report"},
                 headers=auth)
    assert total(client, "/api/v1/articles?q=zanzibar") == 0
    assert total(client, "/api/v1/articles?q=mombasa") == 1
    client.delete(f"/api/v1/articles/{created['id']}", headers=auth)
    assert total(client, "/api/v1/articles?q=mombasa") == 0


@pytest.mark.usefixtures("seeded")
class TestFacets:
    def test_counts_follow_the_filters_but_each_ignores_its_own(self, client):
        body = client.get("/api/v1/statements?topic=tibet&facets=topic,country,type").json()
        topics = {f["value"]: f["count"] for f in body["facets"]["topic"]}
        assert topics["xinjiang"] > 0  # other topics stay visible while topic=tibet is on
        unfiltered = {f["value"]: f["count"] for f in client.get(
            "/api/v1/statements?facets=topic").json()["facets"]["topic"]}
        assert topics == unfiltered
        countries = {f["value"]: f["count"] for f in body["facets"]["country"]}
        assert countries["CN"] <= body["total"]
        assert body["facets"]["type"] == [{"value": "statement", "count": body["total"]}]

    def test_sorted_by_count_and_capped(self, client):
        facet = client.get("/api/v1/search?facets=topic&facet_limit=3").json()["facets"]["topic"]
        assert len(facet) == 3
        assert [f["count"] for f in facet] == sorted((f["count"] for f in facet), reverse=True)

    def test_kind_facets_on_search(self, client):
        body = client.get("/api/v1/search?facets=type,speaker,source,genre,event_type,"
                          "statement_type,session").json()
        facets = body["facets"]
        assert {f["value"] for f in facets["type"]} == {"article", "event", "statement"}
        assert {"value": "Chen Xu", "count": 2} in facets["speaker"]
        assert {"value": "Xinhua", "count": 1} in facets["source"]
        assert facets["session"] == [{"value": 46, "label": "46th regular session of the "
                                      "Human Rights Council", "count": 26}]
        assert sum(f["count"] for f in facets["type"]) == 26

    @pytest.mark.parametrize("query", ["", "q=human%20rights&", "topic=xinjiang&",
                                       "date_from=2021-01-01&"])
    def test_topics_countries_and_sessions_carry_their_names(self, client, query):
        """Each topic, country and session bucket names its value as the reference data
        does, from the tallies or from the matches alike; other facets carry no label."""
        body = client.get(f"/api/v1/search?{query}facets=topic,country,session,type,year"
                          "&facet_limit=100").json()
        def named(path: str, key: str, **params: str) -> dict:
            return {row[key]: row["name"] for row in client.get(
                f"/api/v1/{path}", params={"limit": 100} | params).json()["items"]}

        names = {"topic": named("topics", "slug"),
                 "country": named("countries", "code", used="true"),
                 "session": named("sessions", "number")}
        for facet, labels in names.items():
            assert body["facets"][facet], facet
            for bucket in body["facets"][facet]:
                assert list(bucket) == ["value", "label", "count"]
                assert bucket["label"] == labels[bucket["value"]]
        for facet in ("type", "year"):
            assert all(set(bucket) == {"value", "count"} for bucket in body["facets"][facet])
        assert {"value": "CN", "label": "China", "count": body["facets"]["country"][0]["count"]
                } in body["facets"]["country"]

    def test_type_facet_ignores_the_type_filter(self, client):
        body = client.get("/api/v1/search?type=event&facets=type").json()
        assert body["total"] == 8
        assert {f["value"] for f in body["facets"]["type"]} == {"article", "event", "statement"}

    def test_facets_follow_the_text_query(self, client):
        facet = client.get("/api/v1/search?q=guterres&facets=speaker").json()["facets"]
        assert facet["speaker"] == [{"value": "Antonio Guterres", "count": 2}]


def test_year_facet(client, auth):
    for day in ("2021-02-22", "2022-03-01", "2022-03-24"):
        client.post("/api/v1/events", json=sample(EVENTS, starts_on=day, title=day), headers=auth)
    facet = client.get("/api/v1/events?facets=year").json()["facets"]["year"]
    assert facet == [{"value": 2021, "count": 1}, {"value": 2022, "count": 2}]  # by date


@pytest.mark.usefixtures("seeded")
class TestSearchAndTimeline:
    def test_search_mixes_kinds_and_types_each_item(self, client):
        body = client.get("/api/v1/search?q=human%20rights&limit=100").json()
        assert {item["type"] for item in body["items"]} == {"article", "event", "statement"}
        assert all("date" in item and "highlights" in item for item in body["items"])

    def test_search_type_filter(self, client):
        assert total(client, "/api/v1/search?type=article,event") == 12
        assert total(client, "/api/v1/search?type=article&type=statement") == 18

    def test_kind_filter_on_search_keeps_that_kind(self, client):
        body = client.get("/api/v1/search?speaker=chen%20xu").json()
        assert body["total"] == 2 and {i["type"] for i in body["items"]} == {"statement"}

    def test_search_cursor_over_relevance(self, client):
        expected = [i["id"] for i in client.get(
            "/api/v1/search?q=rights&limit=100").json()["items"]]
        seen, cursor = [], None
        while True:
            page = client.get("/api/v1/search?q=rights&limit=4" +
                              (f"&cursor={cursor}" if cursor else "")).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == expected and len(expected) > 8

    def test_timeline_is_placed_entries_oldest_first(self, client, auth):
        client.post("/api/v1/statements", json=sample(STATEMENTS, delivered_on="2021-03-01"),
                    headers=auth)
        items = client.get("/api/v1/timeline?limit=100").json()["items"]
        assert items and all(set(item) == {"type", "id", "title", "date", "date_precision",
                                           "date_from", "date_to", "summary", "href"}
                             for item in items)
        dates = [item["date"] for item in items]
        assert dates == sorted(dates) and None not in dates
        assert {"event", "statement"} <= {item["type"] for item in items}
        assert titles(client.get("/api/v1/timeline?type=event&date_precision=day")) == [
            "China wins praise for contributions to world's human rights cause"]


@pytest.mark.usefixtures("seeded")
class TestRelated:
    def test_related_entries_rank_shared_topics_first(self, client):
        chen = client.get("/api/v1/statements?speaker=chen%20xu&q=groundless").json()["items"][0]
        related = client.get(f"/api/v1/statements/{chen['id']}/related?limit=5").json()["items"]
        assert related and chen["id"] not in [r["id"] for r in related]
        scores = [r["score"] for r in related]
        assert scores == sorted(scores, reverse=True)
        plural = {spec.type: spec.plural for spec in KINDS}[related[0]["type"]]
        best = client.get(f"/api/v1/{plural}/{related[0]['id']}").json()
        assert {"xinjiang", "tibet", "hong-kong"} & set(best["topics"])

    def test_related_of_unknown_entry_is_404(self, client):
        assert_problem(client.get("/api/v1/articles/999999/related"), 404, "999999")
        assert_problem(client.get("/api/v1/widgets/1/related"), 404, "widgets")


@pytest.mark.usefixtures("seeded")
def test_sparse_fieldsets(client):
    item = client.get("/api/v1/statements?fields=title,speaker&limit=1").json()["items"][0]
    assert set(item) == {"id", "type", "href", "title", "speaker"}
    item = client.get("/api/v1/search?fields=date&limit=1").json()["items"][0]
    assert set(item) == {"id", "type", "href", "date"}


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("param", ["topic", "country", "source", "sort", "fields", "facets",
                                   "cursor", "language", "speaker", "q"])
def test_sql_in_any_parameter_is_a_clean_4xx_or_empty(client, param):
    for value in ("' OR '1'='1", "1; DROP TABLE entries", "\" OR 1=1 --", "%00"):
        kind = "statements" if param == "speaker" else "articles"
        response = client.get(f"/api/v1/{kind}?{param}={value}")
        assert response.status_code in (200, 400, 422), response.text
        if response.status_code == 200:
            assert response.json()["total"] in (0, 4)
    assert total(client, "/api/v1/search") == 26


class TestRankingWindow:
    """Relevance scores only the newest `rank_window` matches; counts cover every match."""

    @staticmethod
    def _articles(client, auth, rows: list[tuple[str, str, str, str]]) -> None:
        for title, summary, body, day in rows:
            payload = sample(ARTICLES, title=title, summary=summary, body=body,
                             published_on=day, slug=None)
            assert client.post("/api/v1/articles", json=payload, headers=auth).status_code == 201

    def test_best_matches_first_then_fewer_and_weaker_columns(self, client, auth):
        filler = [(f"Council report {i}", "A plain summary.", "Mentions sericulture once.",
                   f"2021-03-{i + 1:02d}") for i in range(12)]
        self._articles(client, auth, [
            *filler[:6],
            ("Sericulture cooperatives and sericulture exports", "Sericulture grows.", "",
             "2021-02-01"),
            ("Silk roads", "The sericulture sector.", "", "2021-02-02"),
            *filler[6:]])
        items = client.get("/api/v1/articles?q=sericulture&limit=20&count=exact").json()
        titles = [i["title"] for i in items["items"]]
        assert items["total"] == 14
        assert titles[0] == "Sericulture cooperatives and sericulture exports"  # title, twice
        assert titles[1] == "Silk roads"  # summary beats body
        assert all(t.startswith("Council report") for t in titles[2:])

    def test_window_bounds_what_is_ranked_not_what_is_counted(self, client, auth, monkeypatch):
        self._articles(client, auth, [
            ("Sericulture, sericulture, sericulture", "Sericulture.", "", "2020-01-01"),
            *[(f"Council report {i}", "Plain.", "Mentions sericulture once.",
               f"2021-03-{i + 1:02d}") for i in range(6)]])
        monkeypatch.setattr(get_settings(), "rank_window", 4)
        page = client.get("/api/v1/articles?q=sericulture&limit=3&count=exact").json()
        assert page["total"] == 7  # every match is counted
        ranked = [page["items"]]
        while page["next_cursor"]:
            page = client.get(f"/api/v1/articles?q=sericulture&limit=3&cursor="
                              f"{page['next_cursor']}").json()
            ranked.append(page["items"])
        titles = [i["title"] for items in ranked for i in items]
        # Only the 4 newest matches are ranked: the older best match is outside the window.
        assert sorted(titles) == [f"Council report {i}" for i in range(2, 6)]
        by_date = client.get("/api/v1/articles?q=sericulture&sort=-date&limit=10").json()
        assert by_date["items"][-1]["title"] == "Sericulture, sericulture, sericulture"
        monkeypatch.setattr(get_settings(), "rank_window", 1000)
        best = client.get("/api/v1/articles?q=sericulture&limit=1").json()["items"][0]
        assert best["title"] == "Sericulture, sericulture, sericulture"


# Pairs of requests with the same shape (same parameters, other values): the second one
# runs on the statement built for the first, so a value baked into that statement instead
# of bound would answer the second request with the first one's rows.
SAME_SHAPE = [
    ("/api/v1/statements?topic=xinjiang", "/api/v1/statements?topic=tibet"),
    ("/api/v1/events?country=DE", "/api/v1/events?country=CN"),
    ("/api/v1/articles?language=en", "/api/v1/articles?language=fr"),
    ("/api/v1/articles?source=xinhua", "/api/v1/articles?source=CSHRS"),
    ("/api/v1/events?organizer=china%20society%20for%20human%20rights%20studies",
     "/api/v1/events?organizer=unknown"),
    ("/api/v1/statements?speaker=chen%20xu", "/api/v1/statements?speaker=wang%20yi"),
    ("/api/v1/events?event_type=seminar", "/api/v1/events?event_type=forum"),
    ("/api/v1/search?type=article", "/api/v1/search?type=event"),
    ("/api/v1/search?q=poverty", "/api/v1/search?q=xinjiang"),
    ("/api/v1/search?q=-poverty", "/api/v1/search?q=-xinjiang"),
    ("/api/v1/search?q=poverty&sort=-date", "/api/v1/search?q=xinjiang&sort=-date"),
    ("/api/v1/search?q=human%20rights&facets=topic,type",
     "/api/v1/search?q=xinjiang&facets=topic,type"),
    ("/api/v1/articles?limit=2", "/api/v1/articles?limit=3"),
    ("/api/v1/articles?offset=1", "/api/v1/articles?offset=2"),
    ("/api/v1/statements?limit=1&count=exact", "/api/v1/events?limit=1&count=exact"),
]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize(("first", "second"), SAME_SHAPE)
def test_a_statement_built_for_one_request_serves_others_of_its_shape(client, first, second):
    from app.entries.listing import plan

    first_page = client.get(first)
    reused = client.get(second)
    plan.page.cache_clear()
    fresh = client.get(second)
    assert first_page.status_code == reused.status_code == fresh.status_code == 200
    assert reused.json() == fresh.json()
    assert reused.json() != first_page.json()  # the pair really differs


@pytest.mark.usefixtures("seeded")
def test_a_cursor_page_reuses_its_statement_for_any_position(client):
    from app.entries.listing import plan

    pages, url = [], "/api/v1/statements?limit=2&sort=title"
    while url and len(pages) < 4:
        response = client.get(url)
        assert response.status_code == 200
        pages.append(response.json())
        cursor = pages[-1]["next_cursor"]
        url = f"/api/v1/statements?limit=2&sort=title&cursor={cursor}" if cursor else None
    assert len(pages) == 4
    third = f"/api/v1/statements?limit=2&sort=title&cursor={pages[1]['next_cursor']}"
    plan.page.cache_clear()
    assert client.get(third).json() == pages[2]
    seen = [item["id"] for page in pages for item in page["items"]]
    assert len(seen) == len(set(seen))


def test_date_bounds_are_bound_not_built_in(client, auth):
    from app.entries.listing import plan

    for day in ("2021-02-22", "2021-03-01", "2021-03-24"):
        client.post("/api/v1/statements", json=sample(STATEMENTS, delivered_on=day,
                                                      title=f"On {day}"), headers=auth)
    for bound in ("date_from", "date_to"):
        first = titles(client.get(f"/api/v1/statements?{bound}=2021-03-01&sort=date"))
        reused = titles(client.get(f"/api/v1/statements?{bound}=2021-03-24&sort=date"))
        plan.page.cache_clear()
        assert reused == titles(client.get(f"/api/v1/statements?{bound}=2021-03-24&sort=date"))
        assert reused != first
