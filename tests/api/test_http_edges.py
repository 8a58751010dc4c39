"""The HTTP edges: HEAD on every GET route, the body cap before authentication, the rate
limiter's cost for made-up tokens, iCalendar text, and links never built from `Host`."""

import asyncio
import json
import re
import secrets
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar

from app.core import ratelimit
from app.core.config import Settings, get_settings
from app.core.ratelimit import TOKEN_LOOKUPS
from app.entries.registry import BY_PLURAL, KINDS
from app.main import create_app
from tests.helpers import KIND_IDS, assert_problem, sample

ARTICLES = "/api/v1/articles"
# Differ between any two requests, whatever the method.
PER_REQUEST = frozenset({"content-length", "x-request-id", "ratelimit"})


def fresh_client(monkeypatch, **settings) -> TestClient:
    """A client for an app built after overriding these settings."""
    for name, value in settings.items():
        monkeypatch.setattr(get_settings(), name, value)
    return TestClient(create_app(), raise_server_exceptions=False)


def create(client, auth, plural: str, **fields) -> dict:
    """Create an entry over the API."""
    response = client.post(f"/api/v1/{plural}", json=sample(BY_PLURAL[plural], **fields),
                           headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def entries(client, auth) -> dict[str, dict]:
    """Three articles (so a page of one has a next Link) and a dated event."""
    made = {f"article{n}": create(client, auth, "articles", title=f"Rights article {n}",
                                  topics=["xinjiang"]) for n in range(3)}
    made["event"] = create(client, auth, "events", title="Rights forum", starts_on="2021-03-05")
    return made


# --- HEAD -----------------------------------------------------------------------------


HEAD_PATHS = [
    "/api/v1/articles?limit=1",  # with a Link to the next page
    "/api/v1/articles/{id}",  # with the entry's own ETag
    "/api/v1/search?q=rights",
    "/api/v1/topics",
    "/api/v1/changes",
    "/api/v1/feeds/articles.atom",
    "/api/v1/feeds/events.ics",
    "/api/v1/articles/export",  # streamed, untagged
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
]


@pytest.mark.parametrize("path", HEAD_PATHS)
def test_head_answers_as_get_without_a_body(client, entries, path):
    url = path.format(id=entries["article0"]["id"])
    got, head = client.get(url), client.head(url)
    assert got.status_code == head.status_code == 200, head.text
    assert head.content == b""
    same = {k: v for k, v in got.headers.items() if k not in PER_REQUEST}
    assert {k: v for k, v in head.headers.items() if k not in PER_REQUEST} == same


def test_head_carries_the_next_link_and_the_entry_etag(client, entries):
    listed = client.head("/api/v1/articles?limit=1")
    assert 'rel="next"' in listed.headers["link"]
    article = entries["article0"]
    url = f"{ARTICLES}/{article['id']}"
    assert client.head(url, headers={"Accept-Encoding": "identity"}).headers["etag"] == (
        f'"{article["id"]}-1"')
    assert client.head(url).headers["etag"] == f'"{article["id"]}-1-gzip"'


@pytest.mark.parametrize("path", ["/api/v1/articles?limit=1", "/api/v1/articles/{id}",
                                  "/api/v1/feeds/all.atom", "/api/v1/topics"])
def test_head_with_the_current_etag_is_304(client, entries, path):
    url = path.format(id=entries["article0"]["id"])
    tag = client.get(url).headers["etag"]
    response = client.head(url, headers={"If-None-Match": tag})
    assert response.status_code == 304
    assert response.headers["etag"] == tag and response.content == b""
    assert client.head(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_head_of_a_missing_entry_is_404_and_of_a_write_only_route_405(client):
    assert client.head(f"{ARTICLES}/999999").status_code == 404
    refused = client.head(f"{ARTICLES}/bulk")
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    assert client.post("/api/v1/feeds/all.atom").headers["allow"] == "GET, HEAD"


async def _asgi(app, method: str, path: str) -> list[dict]:
    """The ASGI messages the app sends for a request (the test client drops HEAD bodies
    itself, so what the app sends is looked at here)."""
    sent: list[dict] = []
    path, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
             "http_version": "1.1", "method": method, "scheme": "http", "path": path,
             "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 50000),
             "server": ("testserver", 80)}
    requested, never = False, asyncio.Event()

    async def receive() -> dict:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await never.wait()  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), timeout=30)
    return sent


@pytest.mark.parametrize("path", ["/api/v1/articles", "/api/v1/articles/export",
                                  "/api/v1/feeds/events.ics", "/api/v1/nowhere"])
def test_the_app_sends_no_body_bytes_for_head(app, entries, path):
    get = asyncio.run(_asgi(app, "GET", path))
    head = asyncio.run(_asgi(app, "HEAD", path))
    assert head[0]["status"] == get[0]["status"]
    assert b"".join(m.get("body", b"") for m in get[1:])  # GET has a body …
    assert [m["type"] for m in head] == ["http.response.start", "http.response.body"]
    assert head[1]["body"] == b"" and not head[1].get("more_body", False)  # … HEAD none


def test_head_is_logged_and_counted_as_head(client):
    client.head("/api/v1/topics")
    metrics = client.get("/metrics").text
    assert re.search(r'hrc_http_requests_total\{method="HEAD",route="/api/v1/topics",'
                     r'status="200"\} [1-9]', metrics), metrics


# --- the body cap ---------------------------------------------------------------------


@pytest.fixture
def capped(monkeypatch, engine) -> Iterator[TestClient]:
    """An app allowing 1,000-byte bodies, and 100,000 on the bulk routes."""
    with fresh_client(monkeypatch, max_body_bytes=1000, max_bulk_bytes=100_000) as test_client:
        yield test_client


def _streamed(size: int) -> Iterator[bytes]:
    """A body without Content-Length (chunked), `size` bytes of a JSON array."""
    yield b'["'
    for _ in range(size // 500):
        yield b"x" * 500
    yield b'"]'


# Routes that would read the body (before authentication: FastAPI parses a body first),
# then paths no route takes a body on: a declared size over the cap is 413 on all of them.
@pytest.mark.parametrize(("method", "path", "reads_body"), [
    ("PATCH", "/api/v1/topics/bulk", True), ("PATCH", "/api/v1/sessions/46", True),
    ("POST", "/api/v1/articles", True), ("PUT", "/api/v1/events/1", True),
    ("POST", "/api/v1/topics/bulk", False), ("PUT", "/api/v1/articles/bulk", False),
    ("PATCH", "/api/v1/articles/bulk", False), ("POST", "/api/v1/articles/bulk/", False),
    ("POST", "/api/v1/articles/bulk/bulk", False), ("POST", "/api/v1/bulk", False),
])
def test_a_body_over_the_cap_is_413_before_authentication(capped, method, path, reads_body):
    body = json.dumps({"title": "x" * 5000}).encode()
    declared = capped.request(method, path, content=body,
                              headers={"Content-Type": "application/json"})
    assert_problem(declared, 413, "1,000")
    if reads_body:  # without Content-Length: refused once 1,000 bytes have been read
        streamed = capped.request(method, path, content=_streamed(5000),
                                  headers={"Content-Type": "application/json"})
        assert_problem(streamed, 413, "1,000")


@pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)
def test_the_bulk_routes_take_a_body_between_the_two_caps(capped, auth, spec):
    items = [sample(spec, slug=f"bulk-{spec.type}-{n}", title=f"Bulk {spec.type} {n}")
             for n in range(10)]
    body = json.dumps(items).encode()
    assert 1000 < len(body) < 100_000
    headers = {"Content-Type": "application/json"}
    # Without a key: refused by authentication (the body is not read), not by size.
    assert_problem(capped.post(f"/api/v1/{spec.plural}/bulk", content=body, headers=headers),
                   401)
    response = capped.post(f"/api/v1/{spec.plural}/bulk", content=body, headers=auth | headers)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 10
    too_big = json.dumps([sample(spec, summary="y" * 120_000)]).encode()
    assert_problem(capped.post(f"/api/v1/{spec.plural}/bulk", content=too_big,
                               headers=auth | headers), 413, "100,000")


# --- rate limiting and made-up tokens -------------------------------------------------


def _random_token() -> dict[str, str]:
    return {"Authorization": f"Bearer hrcd_{secrets.token_urlsafe(32)}"}


def test_made_up_tokens_cost_a_bounded_number_of_lookups(monkeypatch, engine, auth,
                                                         key_lookups):
    with fresh_client(monkeypatch, rate_limit=3, rate_limit_keyed=50,
                      rate_limit_window=60) as limited:
        keyed = limited.get(ARTICLES, headers=auth)  # a real key, seen before the flood
        assert keyed.headers["RateLimit-Policy"].startswith('"api-key"')
        for _ in range(3):
            assert limited.get(ARTICLES).status_code == 200
        before = len(key_lookups)
        flood = [limited.get(ARTICLES, headers=_random_token()) for _ in range(4 * TOKEN_LOOKUPS)]
        assert all(r.status_code == 429 for r in flood)
        assert all(r.headers["RateLimit-Policy"].startswith('"anonymous"') for r in flood)
        assert len(key_lookups) - before <= TOKEN_LOOKUPS
        # The key seen before still has its own quota, from the same address.
        assert limited.get(ARTICLES, headers=auth).status_code == 200


def test_a_key_seen_valid_is_checked_again_whatever_the_budget(monkeypatch, engine, auth,
                                                              key_lookups):
    monkeypatch.setattr(ratelimit, "KEY_CHECK_SECONDS", 0.0)  # every check is due again
    with fresh_client(monkeypatch, rate_limit=3, rate_limit_keyed=50) as limited:
        assert limited.get(ARTICLES, headers=auth).headers["RateLimit-Policy"].startswith(
            '"api-key"')
        for _ in range(TOKEN_LOOKUPS + 3):  # the address's lookups and quota are spent
            limited.get(ARTICLES, headers=_random_token())
        before = len(key_lookups)
        for _ in range(3):
            response = limited.get(ARTICLES, headers=auth)
            assert response.status_code == 200
            assert response.headers["RateLimit-Policy"].startswith('"api-key"')
        assert len(key_lookups) - before == 3


def test_a_known_token_is_not_looked_up_again(monkeypatch, engine, auth, key_lookups):
    with fresh_client(monkeypatch, rate_limit=100, rate_limit_keyed=100) as limited:
        for _ in range(5):
            assert limited.get(ARTICLES, headers=auth).status_code == 200
            assert limited.get(ARTICLES, headers={"Authorization": "Bearer same-wrong"}
                               ).status_code == 200
    assert len(key_lookups) == 2


# --- iCalendar text -------------------------------------------------------------------


CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")


def test_calendar_text_has_no_control_characters(client, auth):
    create(client, auth, "events", title="Opening\x01 session\x1b[31m, red",
           summary="Line one\r\nline two\x07; with \\ and\ttab\x7f\x85",
           location="Geneva\x08 Palais", starts_on="2021-03-05")
    # The calendar's name repeats the filters as sent, control characters and all.
    filtered = client.get("/api/v1/feeds/events.ics?location=geneva%01%1b")
    assert filtered.status_code == 200, filtered.text
    assert not CONTROL.search(filtered.content.replace(b"\r\n", b"")), filtered.content
    assert "(location: geneva)" in str(Calendar.from_ical(filtered.content)["X-WR-CALNAME"])
    raw = client.get("/api/v1/feeds/events.ics").content
    assert not CONTROL.search(raw.replace(b"\r\n", b"")), raw
    (vevent,) = Calendar.from_ical(raw).walk("VEVENT")
    assert str(vevent["SUMMARY"]) == "Opening session[31m, red"
    assert str(vevent["DESCRIPTION"]) == "Line one\nline two; with \\ and\ttab"
    assert str(vevent["LOCATION"]) == "Geneva Palais"
    assert b"SUMMARY:Opening session[31m\\, red" in raw
    assert b"Line one\\nline two\\; with \\\\ and\ttab" in raw


# --- links and the Host header --------------------------------------------------------


EVIL = {"Host": "evil.example"}
FEEDS = ["/api/v1/feeds/articles.atom?topic=xinjiang", "/api/v1/feeds/all.atom",
         "/api/v1/feeds/events.ics"]


def _mentions(response, text: str) -> bool:
    return text in response.text or any(text in v for v in response.headers.values())


@pytest.mark.parametrize("path", [*FEEDS, "/api/v1/articles?limit=1", "/api/v1/articles/",
                                  "/api/v1/feeds/all.atom/"])
def test_no_link_comes_from_the_host_header(client, entries, path):
    response = client.get(path, headers=EVIL, follow_redirects=False)
    assert response.status_code in (200, 404), response.text
    assert not _mentions(response, "evil.example")


def test_feed_links_are_root_relative_without_a_public_url(client, entries):
    body = client.get(FEEDS[0], headers=EVIL).text
    assert 'href="/api/v1/feeds/articles.atom?topic=xinjiang"' in body
    assert 'href="/api/v1/articles?topic=xinjiang&amp;sort=-updated_at"' in body
    assert f'href="/api/v1/articles/{entries["article0"]["id"]}"' in body


def test_a_write_location_is_a_path(client, auth):
    response = client.post(ARTICLES, json=sample(KINDS[0]), headers=auth | EVIL)
    assert response.headers["location"].startswith("/api/v1/articles/")


def test_feed_links_use_the_public_url(client, entries, monkeypatch):
    monkeypatch.setattr(get_settings(), "public_url", "https://digest.example.org/hrc")
    response = client.get(FEEDS[0], headers=EVIL)
    assert not _mentions(response, "evil.example")
    body = response.text
    base = "https://digest.example.org/hrc/api/v1"
    assert f'rel="self" type="application/atom+xml" href="{base}/feeds/articles.atom?topic=' \
           'xinjiang"' in body
    assert f'href="{base}/articles?topic=xinjiang&amp;sort=-updated_at"' in body
    assert f'href="{base}/articles/{entries["article0"]["id"]}"' in body
    assert 'href="/api' not in body


@pytest.mark.parametrize(("value", "stored"), [
    ("https://digest.example.org/", "https://digest.example.org"),
    ("http://127.0.0.1:8000/hrc", "http://127.0.0.1:8000/hrc"), ("", None)])
def test_the_public_url_setting_is_an_absolute_url(value, stored):
    assert Settings(public_url=value).public_url == stored


@pytest.mark.parametrize("value", ["digest.example.org", "ftp://x.example", "/hrc",
                                   "https://x.example/?a=1", "https://x.example/#top",
                                   "https://x.example/a b"])
def test_a_public_url_that_is_not_one_is_refused(value):
    with pytest.raises(ValueError, match="HRC_DIGEST_PUBLIC_URL"):
        Settings(public_url=value)
