"""The list envelope, bounds, unknown parameters, sorting and keyset paging."""

from datetime import date, timedelta

import pytest

from app.entries.registry import KINDS
from tests.helpers import KIND_IDS, Rewritable, assert_problem, sample

kinds = pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)


def make_entries(client, auth, spec, count: int, *, undated_every: int = 0) -> list[dict]:
    """Create `count` entries of a kind with distinct titles and dates (some undated)."""
    created = []
    start = date(2021, 2, 22)
    for index in range(count):
        day = None if undated_every and index % undated_every == 0 else (
            start + timedelta(days=index % 7)).isoformat()
        payload = sample(spec, title=f"Entry {index:03d} {'ZYX'[index % 3]}",
                         **{spec.primary_date: day})
        response = client.post(f"/api/v1/{spec.plural}", json=payload, headers=auth)
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created


@kinds
def test_envelope_and_default_order_newest_first(client, auth, spec):
    make_entries(client, auth, spec, 5, undated_every=4)
    body = client.get(f"/api/v1/{spec.plural}").json()
    assert set(body) == {"items", "total", "total_exact", "limit", "offset", "next_cursor"}
    assert body["total"] == 5 and body["total_exact"] is True
    assert body["limit"] == 20 and body["offset"] == 0 and body["next_cursor"] is None
    dates = [item[spec.primary_date] for item in body["items"]]
    dated = [d for d in dates if d is not None]
    assert dated == sorted(dated, reverse=True)
    assert dates[-2:] == [None, None]  # undated entries come last
    assert all(item["type"] == spec.type for item in body["items"])


@pytest.mark.parametrize(("query", "mention"), [
    ("limit=0", "limit"), ("limit=101", "limit"), ("limit=abc", "limit"),
    ("offset=-1", "offset"), ("offset=10001", "offset"), ("count=maybe", "count"),
])
def test_out_of_bounds_paging_is_422_naming_the_parameter(client, query, mention):
    body = assert_problem(client.get(f"/api/v1/articles?{query}"), 422, mention)
    assert body["errors"][0]["loc"] == ["query", mention]


@pytest.mark.parametrize("query", ["topicz=xinjiang", "LIMIT=5", "page=2", "speaker=x&limit=1",
                                   "event_type=seminar"])
def test_unknown_parameters_are_400_naming_them(client, query):
    name = query.split("=")[0]
    body = assert_problem(client.get(f"/api/v1/articles?{query}"), 400, f"'{name}'")
    assert ["query", name] in [e["loc"] for e in body["errors"]]


def test_repeated_single_parameter_is_400(client):
    assert_problem(client.get("/api/v1/articles?limit=1&limit=2"), 400, "limit")


def test_limit_and_offset_page_through(client, auth):
    spec = KINDS[0]
    make_entries(client, auth, spec, 7)
    all_ids = [i["id"] for i in client.get("/api/v1/articles?limit=100").json()["items"]]
    page = client.get("/api/v1/articles?limit=3&offset=3").json()
    assert [i["id"] for i in page["items"]] == all_ids[3:6]
    assert page["total"] == 7


@kinds
@pytest.mark.parametrize("sort", ["-date", "date", "title", "-title", "created_at",
                                  "-updated_at", "id", "-id", "date,-title"])
def test_cursor_visits_every_item_once_in_order(client, auth, spec, sort):
    make_entries(client, auth, spec, 11, undated_every=5)
    expected = [i["id"] for i in client.get(
        f"/api/v1/{spec.plural}?limit=100&sort={sort}").json()["items"]]
    seen, cursor = [], None
    for _ in range(20):
        url = f"/api/v1/{spec.plural}?limit=3&sort={sort}" + (f"&cursor={cursor}" if cursor
                                                             else "")
        response = client.get(url)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            assert 'rel="next"' not in response.headers["link"]
            break
        assert 'rel="next"' in response.headers["link"]
    assert seen == expected
    assert len(set(seen)) == 11


def test_sort_orders_are_right(client, auth):
    spec = KINDS[0]
    made = make_entries(client, auth, spec, 6)
    titles = [i["title"] for i in client.get("/api/v1/articles?sort=title").json()["items"]]
    assert titles == sorted(titles, key=str.lower)
    ids = [i["id"] for i in client.get("/api/v1/articles?sort=-id").json()["items"]]
    assert ids == sorted((m["id"] for m in made), reverse=True)


def test_cursor_survives_inserts_between_pages(client, auth):
    spec = KINDS[0]
    make_entries(client, auth, spec, 6)
    first = client.get("/api/v1/articles?limit=3&sort=id").json()
    make_entries(client, auth, spec, 2)
    second = client.get(f"/api/v1/articles?limit=3&sort=id&cursor={first['next_cursor']}").json()
    ids = [i["id"] for i in first["items"] + second["items"]]
    assert ids == sorted(ids) and len(set(ids)) == 6


def test_link_header_carries_the_cursor(client, auth):
    make_entries(client, auth, KINDS[0], 3)
    response = client.get("/api/v1/articles?limit=2&sort=title")
    cursor = response.json()["next_cursor"]
    assert response.headers["link"] == (
        '</api/v1/articles?limit=2&sort=title>; rel="first", '
        f'</api/v1/articles?limit=2&sort=title&cursor={cursor}>; rel="next"')
    follow = client.get(response.headers["link"].split(", ")[1].split(">")[0][1:])
    assert len(follow.json()["items"]) == 1


@pytest.mark.parametrize("cursor", ["garbage", "eyJzIjoiLWRhdGUsLWlkIn0", "eyJ4IjoxfQ",
                                    "e30", "eyJzIjoiLWRhdGUsLWlkIiwidiI6WyJ4IiwieSJdfQ"])
def test_tampered_cursor_is_400(client, cursor):
    assert_problem(client.get(f"/api/v1/articles?cursor={cursor}"), 400, "cursor")


def test_cursor_for_another_sort_is_400(client, auth):
    make_entries(client, auth, KINDS[0], 3)
    cursor = client.get("/api/v1/articles?limit=1").json()["next_cursor"]
    assert_problem(client.get(f"/api/v1/articles?sort=title&cursor={cursor}"), 400, "sort")


def test_cursor_with_offset_is_400(client, auth):
    make_entries(client, auth, KINDS[0], 3)
    cursor = client.get("/api/v1/articles?limit=1").json()["next_cursor"]
    assert_problem(client.get(f"/api/v1/articles?offset=1&cursor={cursor}"), 400, "offset")


@pytest.mark.parametrize("sort", ["relevancy", "-", "date,date", "title;drop table entries"])
def test_bad_sort_is_400(client, sort):
    assert_problem(client.get(f"/api/v1/articles?sort={sort}"), 400, "sort")


def test_count_modes(client, auth, monkeypatch):
    """`total` is exact by default, past any cap; `count=capped` stops at the cap where it
    would read the matches to count them, and says so; `none` counts nothing."""
    from app.core.config import get_settings

    make_entries(client, auth, KINDS[0], 5)
    monkeypatch.setattr(get_settings(), "count_cap", 3)
    dated = "/api/v1/articles?limit=1&date_from=2021-01-01"  # counted by reading the matches
    for url in ("/api/v1/articles?limit=1", dated, f"{dated}&count=exact"):
        body = client.get(url).json()
        assert (body["total"], body["total_exact"]) == (5, True), url
    capped = client.get(f"{dated}&count=capped").json()
    assert capped["total"] == 3 and capped["total_exact"] is False
    # A kind's list filtered by kind alone is counted from the tallies: exact at no cost.
    tallied = client.get("/api/v1/articles?limit=1&count=capped").json()
    assert tallied["total"] == 5 and tallied["total_exact"] is True
    none = client.get(f"{dated}&count=none").json()
    assert none["total"] is None and none["total_exact"] is False


def _many(db) -> None:
    """250 statements and 120 events with heavy ties in date and title (written directly)."""
    from app.entries import service

    statements, events = KINDS[2], KINDS[1]
    for index in range(250):
        day = None if index % 9 == 0 else f"2021-03-{1 + index % 5:02d}"
        payload = statements.create_model(
            title=f"Statement {'ABC'[index % 3]} on rights", delivered_on=day,
            summary="human rights " * (1 + index % 4), speaker=f"Speaker {index % 7}")
        service.create(db, statements, payload)
    for index in range(120):
        payload = events.create_model(title=f"Seminar {index % 4} on rights",
                                      starts_on=f"2021-03-{1 + index % 3:02d}")
        service.create(db, events, payload)


@pytest.fixture(scope="module")
def many_rows(engine) -> Rewritable:
    return Rewritable(engine, _many)


@pytest.fixture
def many(db, many_rows) -> None:
    """250 statements and 120 events with heavy ties in date and title."""
    many_rows.write(db)


@pytest.mark.parametrize(("path", "sort"), [
    ("/api/v1/statements", "-date"), ("/api/v1/statements", "date"),
    ("/api/v1/statements", "title,-date"), ("/api/v1/statements", "-title"),
    ("/api/v1/statements", "-updated_at"), ("/api/v1/statements?q=rights", "relevance"),
    ("/api/v1/statements?q=human", "-relevance,date"), ("/api/v1/search?q=rights", "relevance"),
    ("/api/v1/search", "-date,title"), ("/api/v1/timeline", "date"),
])
def test_cursor_over_a_larger_generated_set(client, auth, many, path, sort):
    joiner = "&" if "?" in path else "?"
    base = f"{path}{joiner}sort={sort}"
    expected = []
    offset = 0
    while True:  # the same order read with offsets, 100 at a time
        chunk = client.get(f"{base}&limit=100&offset={offset}").json()["items"]
        expected += [i["id"] for i in chunk]
        offset += 100
        if len(chunk) < 100:
            break
    seen, cursor, pages = [], None, 0
    while True:
        url = f"{base}&limit=17" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url).json()
        seen += [i["id"] for i in page["items"]]
        cursor, pages = page["next_cursor"], pages + 1
        # An entry written mid-walk lands before the cursor or after it, once.
        if pages == 3:
            client.post("/api/v1/statements", json=sample(KINDS[2], title="Late on rights",
                                                          delivered_on="2021-03-03"),
                        headers=auth)
        if cursor is None:
            break
    late = [i for i in seen if i not in expected]
    assert [i for i in seen if i in expected] == expected
    assert len(seen) == len(set(seen)) and len(late) <= 1


def test_topic_and_country_counts_are_per_kind_and_distinct(client, auth, monkeypatch):
    """A kind's topic/country total counts its own entries once, whichever values match."""
    from app.core.config import get_settings

    articles, events = KINDS[0], KINDS[1]
    tagged = [(articles, ["xinjiang", "tibet"], ["CN", "US"]), (articles, ["xinjiang"], ["CN"]),
              (articles, ["tibet"], ["FR"]), (events, ["xinjiang", "tibet"], ["CN"])]
    ids = []
    for index, (spec, topics, countries) in enumerate(tagged):
        payload = sample(spec, title=f"Tagged {index}", slug=f"tagged-{index}",
                         topics=topics, countries=countries)
        response = client.post(f"/api/v1/{spec.plural}", json=payload, headers=auth)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])

    def counted(url: str) -> tuple[int, bool, int]:
        body = client.get(url).json()
        exact = client.get(url + "&count=exact").json()["total"]
        past_end = client.get(url + "&offset=50").json()  # no row carries the count
        assert past_end["items"] == [] and past_end["total"] == body["total"]
        return body["total"], body["total_exact"], exact

    assert counted("/api/v1/articles?topic=xinjiang") == (2, True, 2)
    assert counted("/api/v1/articles?topic=xinjiang&topic=tibet") == (3, True, 3)
    assert counted("/api/v1/events?topic=tibet") == (1, True, 1)
    assert counted("/api/v1/articles?country=CN&country=US") == (2, True, 2)
    assert counted("/api/v1/events?country=US") == (0, True, 0)
    # The links follow an update: the first article leaves xinjiang and China.
    payload = sample(articles, title="Tagged 0", slug="tagged-0", topics=["tibet"],
                     countries=["US"])
    response = client.put(f"/api/v1/articles/{ids[0]}", json=payload,
                          headers=auth | {"If-Match": "*"})
    assert response.status_code == 200, response.text
    assert counted("/api/v1/articles?topic=xinjiang") == (1, True, 1)
    assert counted("/api/v1/articles?country=CN") == (1, True, 1)
    monkeypatch.setattr(get_settings(), "count_cap", 1)
    assert counted("/api/v1/articles?topic=tibet") == (2, True, 2)  # exact by default
    for url, total in (("/api/v1/articles?topic=tibet", (2, True)),  # from the tallies
                       ("/api/v1/articles?topic=tibet&topic=xinjiang", (1, False))):
        for offset in (0, 50):  # the page's count, and the count of its own
            body = client.get(f"{url}&count=capped&offset={offset}").json()
            assert (body["total"], body["total_exact"]) == total


def test_facets_are_exact_and_capped_facets_count_the_newest_matches(client, auth,
                                                                      monkeypatch):
    """Facets count every match, past any cap; with `count=capped`, a facet whose matches
    are read to be counted and outnumber the cap counts the newest `count_cap` of them and
    says it is not exact."""
    from app.core.config import get_settings

    articles = KINDS[0]
    topics = ["xinjiang", "tibet", "tibet", "poverty-alleviation", "xinjiang"]  # oldest first
    for index, topic in enumerate(topics):
        payload = sample(articles, title=f"Dated {index}", slug=f"dated-{index}",
                         topics=[topic], published_on=f"2021-03-{10 + index:02d}")
        assert client.post("/api/v1/articles", json=payload, headers=auth).status_code == 201

    def facet(url: str) -> tuple[dict[str, int], bool]:
        body = client.get(url).json()
        return {f["value"]: f["count"] for f in body["facets"]["topic"]}, body["facets_exact"]

    everything = {"xinjiang": 2, "tibet": 2, "poverty-alleviation": 1}
    read = "/api/v1/articles?facets=topic&date_from=2021-01-01"  # counted by reading them
    assert facet(read) == (everything, True)
    monkeypatch.setattr(get_settings(), "count_cap", 3)
    newest = {"xinjiang": 1, "poverty-alleviation": 1, "tibet": 1}
    for url in (read, "/api/v1/articles?facets=topic", f"{read}&count=exact",
                f"{read}&count=none", "/api/v1/articles?facets=topic&count=capped"):
        assert facet(url) == (everything, True), url  # the last from the tallies
    assert facet(f"{read}&count=capped") == (newest, False)
    # A facet the tallies do not hold is read from the matches, sampled past the cap,
    # though the list's total, from the tallies, is exact (5, over the cap of 3).
    for url in ("/api/v1/articles?facets=genre&count=capped",
                "/api/v1/articles?facets=genre&genre=news&count=capped"):
        body = client.get(url).json()
        assert body["total_exact"] and body["facets_exact"] is False, url
        assert sum(f["count"] for f in body["facets"]["genre"]) == 3, url
    # The facet ignores its own filter: its matches are all 5 articles, over the cap,
    # though the list's own (xinjiang: 2) are within it.
    dated = "/api/v1/articles?date_from=2021-01-01&topic=xinjiang&count=capped"
    body = client.get(f"{dated}&facets=topic,type").json()
    assert body["total"] == 2 and body["total_exact"] is True
    assert body["facets_exact"] is False
    assert body["facets"]["type"] == [{"value": "article", "count": 2}]
    # Within the cap everywhere: exact.
    body = client.get(f"{dated}&facets=type").json()
    assert body["facets_exact"] is True
    monkeypatch.setattr(get_settings(), "count_cap", 5)
    assert facet(f"{read}&count=capped") == (everything, True)
