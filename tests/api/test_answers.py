"""Whole answers kept until the data changes (app/entries/answers.py): list pages and
entries.

A kept page is sent without its page statement: `page_runs` (tests/conftest.py)
records the page statements the read pool sends, so a request that sends none was
answered as kept (`kept_response`). An entry is read on the lean path (app/core/fetch.py),
below SQLAlchemy's events: `hrc_page_answers_total{source="process"}` counts it sent as
kept. Across processes on real servers, with concurrent writers:
tests/process/test_shared_cache.py.
"""


import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import OperationalError

from app.core import fetch
from app.core.config import get_settings
from app.entries.listing import kept
from app.entries.registry import BY_PLURAL, KINDS
from app.main import create_app
from tests.helpers import REDIS_URL, kept_response, redis_keys, sample

ARTICLES = "/api/v1/articles"
TOPICAL = f"{ARTICLES}?topic=xinjiang&limit=1"


def answered(client) -> dict[str, float]:
    """`hrc_page_answers_total` by source."""
    text = client.get("/metrics").text
    return {sample.labels["source"]: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == "hrc_page_answers_total"}


def article(title: str, **fields) -> dict:
    return sample(KINDS[0], title=title, **{"topics": ["xinjiang"]} | fields)


@pytest.mark.usefixtures("seeded")
def test_a_page_asked_again_is_sent_as_kept_with_its_headers(client, page_runs):
    first = client.get(TOPICAL)
    kept_answer = kept_response(client, TOPICAL, page_runs)
    assert kept_answer.json()["items"] and kept_answer.json()["next_cursor"]
    assert kept_answer.content == first.content
    for header in ("content-type", "link", "etag", "cache-control", "vary"):
        assert kept_answer.headers.get(header) == first.headers.get(header), header
    before = answered(client)
    again = client.get(TOPICAL)
    assert answered(client)["process"] == before["process"] + 1
    assert again.content == first.content and not page_runs
    # The HTTP layer still applies to the kept bytes: conditional GET, HEAD and gzip.
    assert client.get(TOPICAL, headers={"If-None-Match": first.headers["etag"]}
                      ).status_code == 304
    head = client.head(TOPICAL)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == first.headers["etag"]
    zipped = client.get(TOPICAL, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == first.content  # httpx decodes it
    assert not page_runs


@pytest.mark.usefixtures("seeded")
def test_the_query_as_sent_is_the_question(client, page_runs):
    kept_response(client, TOPICAL, page_runs)
    reordered = client.get(f"{ARTICLES}?limit=1&topic=xinjiang")
    assert page_runs  # another question, computed
    assert reordered.json() == client.get(TOPICAL).json()
    # Its links keep the request's own query: different links, both right.
    assert reordered.headers["link"] != client.get(TOPICAL).headers["link"]
    assert "limit=1&topic=xinjiang" in reordered.headers["link"]


@pytest.mark.usefixtures("seeded")
def test_every_write_to_an_entry_moves_a_kept_page_on(client, auth, page_runs):
    url = f"{ARTICLES}?topic=xinjiang&sort=-id&limit=3"
    total = kept_response(client, url, page_runs).json()["total"]
    created = client.post(ARTICLES, json=article("Kept page check"), headers=auth)
    assert created.status_code == 201, created.text
    entry = created.json()
    listed = client.get(url).json()
    assert listed["total"] == total + 1 and listed["items"][0]["id"] == entry["id"]
    kept_response(client, url, page_runs)
    patched = client.patch(f"{ARTICLES}/{entry['id']}", json={"title": "Kept page renamed"},
                           headers=auth | {"If-Match": created.headers["etag"]})
    assert patched.status_code == 200, patched.text
    assert client.get(url).json()["items"][0]["title"] == "Kept page renamed"
    kept_response(client, url, page_runs)
    assert client.delete(f"{ARTICLES}/{entry['id']}", headers=auth).status_code == 204
    listed = client.get(url).json()
    assert listed["total"] == total and entry["id"] not in [i["id"] for i in listed["items"]]


@pytest.mark.usefixtures("seeded")
def test_a_topic_renamed_is_named_so_in_kept_facets(client, auth, page_runs):
    url = f"{ARTICLES}?facets=topic&limit=1"
    labels = {f["value"]: f["label"] for f in kept_response(client, url, page_runs).json()[
        "facets"]["topic"]}
    assert "xinjiang" in labels
    renamed = client.patch("/api/v1/topics/xinjiang", json={"name": "Xinjiang (renamed)"},
                           headers=auth)
    assert renamed.status_code == 200, renamed.text
    facets = client.get(url).json()["facets"]["topic"]
    assert {f["value"]: f["label"] for f in facets}["xinjiang"] == "Xinjiang (renamed)"


@pytest.mark.usefixtures("seeded")
def test_a_topic_deleted_is_unknown_to_a_kept_page_that_named_it(client, auth, page_runs):
    created = client.post("/api/v1/topics", json={"slug": "kept-check", "name": "Kept check"},
                          headers=auth)
    assert created.status_code == 201, created.text
    url = f"{ARTICLES}?topic=xinjiang,kept-check&limit=1"
    assert kept_response(client, url, page_runs).json()["items"]
    assert client.delete("/api/v1/topics/kept-check", headers=auth).status_code == 204
    gone = client.get(url)
    assert gone.status_code == 422 and "kept-check" in gone.json()["detail"]


@pytest.mark.usefixtures("seeded")
def test_a_setting_that_shapes_answers_is_part_of_the_question(client, page_runs,
                                                               monkeypatch):
    url = "/api/v1/search?q=human&count=capped&limit=1"
    first = kept_response(client, url, page_runs).json()
    assert first["total"] > 2 and first["total_exact"]
    monkeypatch.setattr(get_settings(), "count_cap", 2)
    capped = client.get(url).json()
    assert page_runs and capped["total"] == 2 and not capped["total_exact"]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("setting", ["page_cache", "page_cache_bytes"])
def test_no_page_is_kept_when_keeping_is_off(client, page_runs, monkeypatch, setting):
    monkeypatch.setattr(get_settings(), setting, 0)  # no answers, or no bytes to keep one in
    for _ in range(3):
        page_runs.clear()
        assert client.get(TOPICAL).status_code == 200
        assert len(page_runs) == 1 and "_version" not in page_runs[0]  # no version read


@pytest.mark.usefixtures("seeded")
def test_errors_and_empty_pages_are_not_kept(client, page_runs):
    for url in (f"{ARTICLES}?topic=tibbet", f"{ARTICLES}?q=nosuchwordanywhere"):
        first = client.get(url)
        page_runs.clear()
        assert client.get(url).content == first.content
        assert page_runs, url


@pytest.mark.usefixtures("seeded")
def test_an_answer_too_large_to_keep_is_computed_each_time(client, page_runs, monkeypatch):
    monkeypatch.setattr(kept, "MAX_SHARED_BYTES", 200)  # below any page of entries
    for _ in range(2):
        page_runs.clear()
        assert client.get(TOPICAL).status_code == 200
        assert page_runs


@pytest.mark.usefixtures("seeded")
def test_a_page_kept_in_redis_serves_a_process_that_never_computed_it(
        client, auth, page_runs, monkeypatch, redis_prefix):
    for name, value in {"redis_url": REDIS_URL, "redis_prefix": redis_prefix,
                        "aggregate_cache_ttl": 600}.items():
        monkeypatch.setattr(get_settings(), name, value)
    computed = kept_response(client, TOPICAL, page_runs)
    assert redis_keys(f"{redis_prefix}:page:")
    kept.answers.clear()  # another process: only Redis could answer
    before = answered(client)
    served = client.get(TOPICAL)
    assert not page_runs and served.content == computed.content
    assert served.headers["link"] == computed.headers["link"]
    assert answered(client)["redis"] == before.get("redis", 0) + 1
    # A write moves the version: Redis's answer is not served at the new one.
    assert client.post(ARTICLES, json=article("Kept in Redis"), headers=auth).status_code == 201
    kept.answers.clear()
    fresh = client.get(TOPICAL)
    assert page_runs and fresh.json()["total"] == computed.json()["total"] + 1


def test_a_kept_answer_in_redis_holds_its_bytes_as_sent():
    store = kept.SharedPages(None, "prefix", "database", sqlite.dialect(), 60)
    page = kept.Page(b'{"items":[]}\n{"x": 1}', '</api/v1/articles>; rel="first"')
    stored = store.encode(7, page)
    assert store.decode(stored, 7) == page
    assert store.decode(stored, 8) is None



# --- entries --------------------------------------------------------------------------

RIS = "application/x-research-info-systems"


def kept_count(client):
    """A callable for `kept_response`: answers sent as kept so far."""
    return lambda: answered(client).get("process", 0)


def newest(client) -> dict:
    return client.get(f"{ARTICLES}?limit=1").json()["items"][0]


@pytest.mark.usefixtures("seeded")
def test_an_entry_asked_again_is_sent_as_kept_until_it_changes(client, auth):
    entry = newest(client)
    url = f"{ARTICLES}/{entry['id']}"
    first = kept_response(client, url, kept_count(client))
    again = client.get(url)
    assert again.content == first.content
    for header in ("content-type", "etag", "vary", "cache-control"):
        assert again.headers[header] == first.headers[header], header
    assert client.get(url, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    head = client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == first.headers["etag"]
    by_slug = f"{ARTICLES}/by-slug/{entry['slug']}"
    assert kept_response(client, by_slug, kept_count(client)).content == first.content
    patched = client.patch(url, json={"title": "Kept entry renamed"},
                           headers=auth | {"If-Match": first.headers["etag"]})
    assert patched.status_code == 200, patched.text
    for path in (url, by_slug):
        fresh = client.get(path)
        assert fresh.json()["title"] == "Kept entry renamed", path
        assert fresh.json()["version"] == patched.json()["version"] == entry["version"] + 1
        assert fresh.headers["etag"] != first.headers["etag"]
    assert client.delete(url, headers=auth).status_code == 204
    hits = answered(client)["process"]
    for _ in range(2):
        assert client.get(url).status_code == 404
    assert answered(client)["process"] == hits  # a 404 is never kept


@pytest.mark.usefixtures("seeded")
def test_a_citation_and_the_json_are_kept_apart(client, auth):
    entry = newest(client)
    url = f"{ARTICLES}/{entry['id']}"
    as_json = kept_response(client, url, kept_count(client))
    cited = kept_response(client, url, kept_count(client), headers={"Accept": RIS})
    assert cited.headers["content-type"].startswith(RIS)
    assert client.get(url).content == as_json.content
    assert client.get(url, headers={"Accept": RIS}).content == cited.content
    # A citation names the session: renaming it moves the version (a reference write).
    number = entry["session"]
    name = client.get(f"/api/v1/sessions/{number}").json()["name"]
    assert name in cited.text
    renamed = client.patch(f"/api/v1/sessions/{number}", json={"name": "Kept session"},
                           headers=auth)
    assert renamed.status_code == 200, renamed.text
    assert "Kept session" in client.get(url, headers={"Accept": RIS}).text


@pytest.mark.usefixtures("seeded")
def test_a_kept_entry_is_sent_with_its_route_in_the_metrics(client):
    url = f"{ARTICLES}/{newest(client)['id']}"
    kept_response(client, url, kept_count(client))
    route = f'hrc_http_requests_total{{method="GET",route="{ARTICLES}/{{entry_id}}",' \
            'status="200"}'

    def served() -> float:
        line = next(line for line in client.get("/metrics").text.splitlines()
                    if line.startswith(route))
        return float(line.rpartition(" ")[2])

    before, hits = served(), answered(client)["process"]
    client.get(url)
    assert served() == before + 1 and answered(client)["process"] == hits + 1


@pytest.mark.usefixtures("seeded")
def test_a_database_that_fails_gets_its_503_not_a_kept_answer(client, monkeypatch):
    url = f"{ARTICLES}/{newest(client)['id']}"
    kept_response(client, url, kept_count(client))

    def down(*_args):
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(fetch, "one", down)
    failed = client.get(url)
    assert failed.status_code == 503, failed.text
    assert failed.headers["retry-after"]
    assert failed.headers["content-type"].startswith("application/problem+json")


@pytest.mark.usefixtures("seeded")
def test_a_kept_answer_carries_this_request_s_rate_limit_fields(client, monkeypatch):
    url = f"{ARTICLES}/{newest(client)['id']}"
    for name, value in {"rate_limit": 50, "rate_limit_window": 60}.items():
        monkeypatch.setattr(get_settings(), name, value)
    with TestClient(create_app(), raise_server_exceptions=False) as limited:
        kept_response(limited, url, kept_count(limited))
        hits = answered(limited)["process"]
        fields = [limited.get(url).headers.get_list("ratelimit") for _ in range(3)]
        assert answered(limited)["process"] == hits + 3
    assert all(len(field) == 1 for field in fields), fields  # none kept from an earlier one
    assert len({field[0] for field in fields}) == 3, fields  # each request's own count


@pytest.mark.usefixtures("seeded")
def test_an_included_entry_written_moves_the_kept_answer_on(client, auth):
    events, statements = (BY_PLURAL[plural] for plural in ("events", "statements"))
    event = client.post("/api/v1/events", json=sample(events, title="Kept forum"),
                        headers=auth)
    assert event.status_code == 201, event.text
    said = client.post("/api/v1/statements", headers=auth, json=sample(
        statements, title="Kept words", event=event.json()["slug"]))
    assert said.status_code == 201, said.text
    url = f"/api/v1/events/{event.json()['id']}?include=statements"
    first = kept_response(client, url, kept_count(client))
    assert [s["title"] for s in first.json()["statements"]] == ["Kept words"]
    renamed = client.patch(f"/api/v1/statements/{said.json()['id']}", headers=auth,
                           json={"title": "Kept words, renamed"})
    assert renamed.status_code == 200, renamed.text
    assert [s["title"] for s in client.get(url).json()["statements"]] == [
        "Kept words, renamed"]


def test_whole_answers_kept_are_bounded_by_count_and_by_bytes():
    store = kept.Remembered(size=3, weigh=len, budget=10)
    store.put("a", 1, b"12345")
    store.put("b", 1, b"1234")
    assert store.get("a", 1) == b"12345"  # "b" is now the least recently used
    store.put("c", 1, b"123")  # 12 bytes: over the budget, "b" goes
    assert store.get("b", 1) is None and store.get("a", 1) and store.get("c", 1)
    store.put("a", 2, b"1")  # replaced: only its new weight counts (4 bytes in all)
    store.put("d", 1, b"12345")  # 9 bytes, 3 answers: all kept
    assert store.get("a", 2) == b"1" and store.get("c", 1) and store.get("d", 1)
    store.put("e", 1, b"1")  # 4 answers: over the size, the least recently used goes
    assert store.get("a", 2) is None and store.get("e", 1) == b"1"
    store.put("f", 1, b"x" * 11)  # larger than the budget alone: not kept, nothing dropped
    assert store.get("f", 1) is None and "f" not in store
    assert store.get("c", 1) and store.get("d", 1) and store.get("e", 1)
    assert store.get("c", 2) is None and "c" not in store  # the data moved on: dropped
    store.put("g", 1, b"1234")  # the dropped answer's bytes are free again: 5 + 1 + 4
    assert store.get("d", 1) and store.get("e", 1) and store.get("g", 1)
