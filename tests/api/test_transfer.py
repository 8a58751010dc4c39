"""Transfer: gzip with its own entity tags, Link (first, prev, next), each item's href and
date, through HTTP; the streamed gzip encoder through the HTTP layer itself."""

import asyncio
import gzip
import json

import pytest
from starlette.responses import StreamingResponse

from app.core import http
from app.core.http import HttpPolicies
from app.entries.registry import BY_PLURAL, KINDS
from tests.helpers import KIND_IDS, sample

ARTICLES = "/api/v1/articles"
GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}


def _envoy(client) -> int:
    """The id of a seeded statement with related entries of every kind (ids differ from
    run to run: they are never reused)."""
    listed = client.get("/api/v1/statements?slug=chinese-envoy-rejects-groundless-accusations"
                        "-by-u-s-britain-at-un-human-rights-forum").json()["items"]
    return listed[0]["id"]


def raw(client, url: str, headers: dict[str, str]):
    """A GET answered as sent: (response, the body's bytes still coded)."""
    with client.stream("GET", url, headers=headers) as response:
        return response, b"".join(response.iter_raw())


# --- gzip ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("path", [
    "/api/v1/articles?limit=100", "/api/v1/search?limit=100&facets=topic",
    "/api/v1/statements/{envoy}", "/api/v1/feeds/all.atom", "/api/v1/feeds/events.ics",
    "/api/v1/topics"])
def test_gzip_when_accepted_with_vary_and_an_etag_of_its_own(client, path):
    path = path.format(envoy=_envoy(client))
    plain, plain_bytes = raw(client, path, IDENTITY)
    coded, coded_bytes = raw(client, path, GZIP)
    assert plain.status_code == coded.status_code == 200
    assert "content-encoding" not in plain.headers
    assert coded.headers["content-encoding"] == "gzip"
    assert gzip.decompress(coded_bytes) == plain_bytes
    assert int(coded.headers["content-length"]) == len(coded_bytes) < len(plain_bytes)
    for response in (plain, coded):
        assert "Accept-Encoding" in response.headers["vary"]
    # Another representation, another strong tag: the identity's, suffixed.
    assert coded.headers["etag"] == http.coded_tag(plain.headers["etag"])
    assert not coded.headers["etag"].startswith("W/")


@pytest.mark.usefixtures("seeded")
def test_if_none_match_takes_either_form_and_the_304_carries_the_served_one(client):
    url = f"{ARTICLES}?limit=50"
    plain_tag = client.get(url, headers=IDENTITY).headers["etag"]
    coded_tag = client.get(url, headers=GZIP).headers["etag"]
    for sent in (plain_tag, coded_tag, f"W/{coded_tag}", f'"x", {plain_tag}'):
        for accept, served in ((GZIP, coded_tag), (IDENTITY, plain_tag)):
            answer = client.get(url, headers=accept | {"If-None-Match": sent})
            assert answer.status_code == 304, (sent, accept)
            assert answer.headers["etag"] == served and answer.content == b""
            assert "Accept-Encoding" in answer.headers["vary"]
    assert client.get(url, headers=GZIP | {"If-None-Match": '"other"'}).status_code == 200


@pytest.mark.usefixtures("seeded")
def test_head_gives_the_headers_of_the_gzipped_get(client):
    url = f"{ARTICLES}?limit=100"
    got, _ = raw(client, url, GZIP)
    head = client.head(url, headers=GZIP)
    assert head.status_code == 200 and head.content == b""
    for name in ("content-encoding", "content-length", "etag", "vary", "link"):
        assert head.headers[name] == got.headers[name], name


@pytest.mark.parametrize("accept", ["", "identity", "br, zstd", "gzip;q=0",
                                    "*;q=0", "gzip;q=0, *", "deflate"])
def test_an_encoding_that_refuses_gzip_gets_identity(client, auth, accept):
    client.post(ARTICLES, json=sample(KINDS[0]), headers=auth)
    response, body = raw(client, ARTICLES, {"Accept-Encoding": accept})
    assert "content-encoding" not in response.headers
    assert json.loads(body)["total"] == 1


def test_no_accept_encoding_at_all_gets_identity(client, auth):
    client.post(ARTICLES, json=sample(KINDS[0]), headers=auth)
    del client.headers["accept-encoding"]  # httpx sends one by default
    response, body = raw(client, ARTICLES, {})
    assert "content-encoding" not in response.headers
    assert "Accept-Encoding" in response.headers["vary"]
    assert json.loads(body)["total"] == 1


@pytest.mark.parametrize(("header", "accepted"), [
    ("gzip", True), ("GZIP", True), ("x-gzip", True), ("gzip;q=0.001", True), ("*", True),
    ("br;q=1.0, gzip;q=0.8, *;q=0.1", True), ("deflate, gzip", True), ("gzip;q=0", False),
    ("gzip; q=0.0", False), ("*;q=0", False), ("*, gzip;q=0", False), ("identity", False),
    ("", False), ("br", False), ("gzip;q=oops", False)])
def test_accept_encoding_is_read_with_its_weights(header, accepted):
    assert http.accepts_gzip(header) is accepted


def test_small_answers_stay_uncompressed(client):
    response, body = raw(client, ARTICLES, GZIP)  # an empty page
    assert len(body) < http.MINIMUM_SIZE
    assert "content-encoding" not in response.headers
    # The same bytes whatever the encoding: no Vary on it.
    assert "Accept-Encoding" not in response.headers.get("vary", "")


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("query", ["format=ndjson", "format=csv", "format=ris"])
def test_exports_stream_gzipped(client, query):
    url = f"/api/v1/statements/export?{query}"
    plain, plain_bytes = raw(client, url, IDENTITY)
    coded, coded_bytes = raw(client, url, GZIP)
    assert coded.headers["content-encoding"] == "gzip"
    assert "content-length" not in coded.headers and "etag" not in coded.headers
    assert coded.headers.get("content-disposition") == plain.headers.get("content-disposition")
    assert gzip.decompress(coded_bytes) == plain_bytes and len(coded_bytes) < len(plain_bytes)


def test_a_streamed_body_is_compressed_as_it_streams():
    """Each part goes through the encoder as it comes: compressed output leaves while the
    body is still being produced, and no message holds more than the encoder's window."""
    sent: list[dict] = []
    progress: list[int] = []
    part = b"".join(b"%06d,some text that repeats,\n" % n for n in range(2000))  # ~70 KB

    def parts():
        for _ in range(40):
            progress.append(len(sent))  # messages sent before this part was made
            yield part

    async def app(scope, receive, send):
        await StreamingResponse(parts(), media_type="text/csv")(scope, receive, send)

    async def send(message):
        sent.append(message)

    async def receive():  # the client stays: waits until the answer ends
        await asyncio.Event().wait()

    layer = HttpPolicies(app, rate_limits=None, max_body=1000, max_bulk_body=1000,
                         bulk_paths=frozenset())
    scope = {"type": "http", "method": "GET", "path": "/export", "query_string": b"",
             "headers": [(b"accept-encoding", b"gzip")], "root_path": "", "app": None}
    asyncio.run(layer(scope, receive, send))
    start, *bodies = sent
    assert dict(start["headers"])[b"content-encoding"] == b"gzip"
    assert progress[-1] > 2  # compressed parts left before the last part was made
    assert all(len(m["body"]) < 256 * 1024 for m in bodies)
    assert bodies[-1]["more_body"] is False and all(m["more_body"] for m in bodies[:-1])
    assert gzip.decompress(b"".join(m["body"] for m in bodies)) == part * 40


def test_if_match_takes_either_form_of_the_entry_tag(client, auth):
    created = client.post(ARTICLES, json=sample(KINDS[0]), headers=auth)
    url = created.headers["location"]
    coded = client.get(url, headers=GZIP).headers["etag"]
    assert coded.endswith('-gzip"')
    first = client.patch(url, json={"summary": "one"}, headers=auth | {"If-Match": coded})
    assert first.status_code == 200, first.text
    plain = client.get(url, headers=IDENTITY).headers["etag"]
    second = client.patch(url, json={"summary": "two"}, headers=auth | {"If-Match": plain})
    assert second.status_code == 200, second.text
    stale = client.patch(url, json={"summary": "three"}, headers=auth | {"If-Match": coded})
    assert stale.status_code == 412  # the tag of version 1
    weak = client.patch(url, json={"summary": "three"},
                        headers=auth | {"If-Match": f"W/{http.coded_tag(plain)}"})
    assert weak.status_code == 412  # If-Match compares strongly


def test_a_100_item_page_gzips_to_a_fraction(client, auth):
    spec = BY_PLURAL["articles"]
    items = [sample(spec, slug=f"page-item-{n}", title=f"Council session item {n}: "
                    f"{spec.example['title']}", summary=f"{n} {spec.example['summary']}")
             for n in range(100)]
    assert client.post(f"{ARTICLES}/bulk", json=items, headers=auth).json()["created"] == 100
    plain, plain_bytes = raw(client, f"{ARTICLES}?limit=100", IDENTITY)
    coded, coded_bytes = raw(client, f"{ARTICLES}?limit=100", GZIP)
    assert len(json.loads(plain_bytes)["items"]) == 100
    # Measured: 100 generated articles (bench corpus) 126 KB -> 12 KB (docs/benchmarks.md).
    assert len(coded_bytes) * 5 < len(plain_bytes)


# --- Link ---------------------------------------------------------------------------------


def _links(response) -> dict[str, str]:
    """rel -> target of a Link header."""
    found = {}
    for member in response.headers["link"].split(", "):
        target, rel = member.split("; ")
        found[rel.removeprefix('rel="').removesuffix('"')] = target[1:-1]
    return found


def _ids(client, url: str) -> list[int]:
    return [item["id"] for item in client.get(url).json()["items"]]


def test_offset_pages_link_first_prev_and_next(client, auth):
    for n in range(7):
        client.post(ARTICLES, json=sample(KINDS[0], title=f"Paged {n}"), headers=auth)
    url = f"{ARTICLES}?topic=double-standards&limit=2&offset=4&sort=id"
    links = _links(client.get(url))
    assert links.keys() == {"first", "prev", "next"}
    assert links["first"] == f"{ARTICLES}?topic=double-standards&limit=2&sort=id"
    assert links["prev"] == f"{ARTICLES}?topic=double-standards&limit=2&sort=id&offset=2"
    everything = _ids(client, f"{ARTICLES}?sort=id&limit=100")
    assert _ids(client, links["first"]) == everything[:2]
    assert _ids(client, links["prev"]) == everything[2:4]
    assert _ids(client, links["next"]) == everything[6:8]
    # Less than a page in: prev is the first page.
    assert _links(client.get(f"{ARTICLES}?limit=2&offset=1"))["prev"] == f"{ARTICLES}?limit=2"


def test_cursor_pages_link_first_and_next_only(client, auth):
    for n in range(5):
        client.post(ARTICLES, json=sample(KINDS[0], title=f"Paged {n}"), headers=auth)
    first = client.get(f"{ARTICLES}?limit=2")
    second = client.get(_links(first)["next"])
    links = _links(second)
    assert links.keys() == {"first", "next"}  # a keyset cursor leads forward only
    assert _ids(client, links["first"]) == [item["id"] for item in first.json()["items"]]
    assert links["first"] == f"{ARTICLES}?limit=2"
    last = client.get(links["next"])
    assert _links(last).keys() == {"first"} and len(last.json()["items"]) == 1


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("path", ["/api/v1/search", "/api/v1/timeline"])
def test_cross_kind_lists_link_the_same_way(client, path):
    links = _links(client.get(f"{path}?limit=5&offset=5&topic=xinjiang"))
    assert links["first"] == f"{path}?limit=5&topic=xinjiang"
    assert links["prev"] == links["first"]  # one page back is the first page


# --- href and date on every item ----------------------------------------------------------


def _check_item(client, item: dict) -> None:
    spec = next(s for s in KINDS if s.type == item["type"])
    assert item["href"] == f"/api/v1/{spec.plural}/{item['id']}"
    detail = client.get(item["href"], headers=IDENTITY).json()
    assert detail["id"] == item["id"] and detail["href"] == item["href"]
    # `date` beside the kind's own primary date: the same day when it is known.
    assert "date" in item
    if detail["date_precision"] == "day":
        assert detail["date"] == detail[spec.primary_date]


@pytest.mark.usefixtures("every_kind")
@pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)
def test_kind_list_items_carry_href_and_date(client, spec):
    items = client.get(f"/api/v1/{spec.plural}?limit=100").json()["items"]
    assert items
    for item in items:
        assert spec.primary_date in item
        _check_item(client, item)
    sparse = client.get(f"/api/v1/{spec.plural}?fields=title&limit=1").json()["items"][0]
    assert set(sparse) == {"id", "type", "href", "title"}


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("path", ["/api/v1/search?limit=100", "/api/v1/timeline?limit=100",
                                  "/api/v1/statements/{envoy}/related?limit=50"])
def test_cross_kind_items_carry_href_by_their_type_and_date(client, path):
    path = path.format(envoy=_envoy(client))
    items = client.get(path).json()["items"]
    assert {item["type"] for item in items} == {"article", "event", "statement"}
    for item in items:
        _check_item(client, item)


def test_created_and_replaced_entries_carry_their_href(client, auth):
    created = client.post("/api/v1/events", json=sample(BY_PLURAL["events"]), headers=auth)
    assert created.json()["href"] == created.headers["location"]
    replaced = client.patch(created.headers["location"], json={"title": "New"}, headers=auth)
    assert replaced.json()["href"] == created.headers["location"]
