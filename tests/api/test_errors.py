"""Every error is RFC 9457 problem+json that names what is wrong, with nothing internal."""

import logging

import pytest

from app.core.observability import request_id_var
from app.entries.registry import KINDS
from tests.helpers import KIND_IDS, assert_problem, sample

kinds = pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)


def test_unknown_route_is_problem_404(client):
    assert_problem(client.get("/api/v1/nothing-here"), 404, "/api/v1/nothing-here")


def test_unknown_id_is_problem_404(client):
    body = assert_problem(client.get("/api/v1/articles/999999"), 404, "article 999999")
    assert body["instance"] == "/api/v1/articles/999999"
    assert body["type"] == "/problems/not-found"


def test_non_numeric_id_is_422_naming_the_path(client):
    body = assert_problem(client.get("/api/v1/articles/abc"), 422, "path.entry_id")
    assert body["errors"][0]["loc"] == ["path", "entry_id"]


def test_wrong_method_is_405_with_allow(client):
    response = client.delete("/api/v1/articles")
    assert_problem(response, 405, "DELETE")
    assert "GET" in response.headers["allow"]


def test_malformed_json_is_400(client, auth):
    response = client.post("/api/v1/articles", content=b'{"title": ', headers=auth |
                           {"Content-Type": "application/json"})
    assert_problem(response, 400, "not valid JSON")


@kinds
def test_missing_title_is_422_naming_it(client, auth, spec):
    payload = sample(spec)
    del payload["title"]
    body = assert_problem(client.post(f"/api/v1/{spec.plural}", json=payload, headers=auth),
                          422, "body.title")
    assert ["body", "title"] in [e["loc"] for e in body["errors"]]


@pytest.mark.parametrize(("field", "value", "mention"), [
    ("title", "", "body.title"),
    ("title", "x" * 501, "body.title"),
    ("title", "   ", "body.title"),
    ("summary", "x" * 20_001, "body.summary"),
    ("url", "ftp://example.org/a", "body.url"),
    ("url", "javascript:alert(1)", "body.url"),
    ("url", "not a url", "body.url"),
    ("language", "english!", "body.language"),
    ("session", 0, "body.session"),
    ("session", "forty-six", "body.session"),
    ("countries", ["CHN"], "body.countries.0"),
    ("topics", "xinjiang", "body.topics"),
    ("slug", "Not A Slug", "body.slug"),
    ("published_on", "26/02/2021", "body.published_on"),
    ("published_on", "2021-02-30", "body.published_on"),
    ("genre", "opinion", "body.genre"),
    ("unexpected", 1, "body.unexpected"),
])
def test_invalid_article_fields_are_422_naming_the_field(client, auth, field, value, mention):
    payload = sample(KINDS[0]) | {field: value}
    body = assert_problem(client.post("/api/v1/articles", json=payload, headers=auth), 422,
                          mention)
    assert body["errors"]


@pytest.mark.parametrize(("plural", "field", "value"), [
    ("events", "event_type", "party"),
    ("events", "format", "radio"),
    ("statements", "statement_type", "tweet"),
    ("statements", "event_id", -1),
])
def test_kind_enums_are_enforced(client, auth, plural, field, value):
    spec = next(s for s in KINDS if s.plural == plural)
    response = client.post(f"/api/v1/{plural}", json=sample(spec) | {field: value},
                           headers=auth)
    assert_problem(response, 422, f"body.{field}")


def test_event_ending_before_it_starts_is_422(client, auth):
    payload = sample(KINDS[1], starts_on="2021-03-02", ends_on="2021-03-01")
    assert_problem(client.post("/api/v1/events", json=payload, headers=auth), 422, "ends_on")


def test_patch_leaving_an_invalid_record_is_422_and_changes_nothing(client, auth):
    created = client.post("/api/v1/events", json=sample(KINDS[1], starts_on="2021-03-02"),
                          headers=auth).json()
    url = f"/api/v1/events/{created['id']}"
    assert_problem(client.patch(url, json={"ends_on": "2021-03-01"}, headers=auth), 422,
                   "ends_on")
    assert_problem(client.patch(url, json={"title": None}, headers=auth), 422, "title")
    assert client.get(url).json()["version"] == 1


@pytest.mark.parametrize(("field", "value", "mention"), [
    ("topics", ["xinjiang", "atlantis"], "unknown topic 'atlantis'"),
    ("countries", ["CN", "ZZ"], "unknown country 'ZZ'"),
    ("session", 999, "unknown session 999"),
])
def test_unknown_references_are_422_naming_the_value(client, auth, field, value, mention):
    payload = sample(KINDS[0]) | {field: value}
    body = assert_problem(client.post("/api/v1/articles", json=payload, headers=auth), 422,
                          mention)
    assert body["errors"][0]["loc"][:2] == ["body", field]
    assert client.get("/api/v1/articles").json()["total"] == 0


def test_nul_byte_in_title_is_422(client, auth):
    payload = sample(KINDS[0], title="bad\u0000title")
    assert_problem(client.post("/api/v1/articles", json=payload, headers=auth), 422, "title")


def test_problem_for_server_error_hides_internals(fresh_app, auth):
    app = fresh_app
    from fastapi.testclient import TestClient

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internal path /work/main/app/x.py")

    logged: list[tuple[str | None, str]] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:  # as the JSON formatter sees it
            logged.append((request_id_var.get(), logging.Formatter().format(record)))

    handler = Capture(logging.ERROR)
    logging.getLogger("hrc_digest.errors").addHandler(handler)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get("/boom", headers={"X-Request-ID": "trace-500-abc"})
    finally:
        logging.getLogger("hrc_digest.errors").removeHandler(handler)
    body = assert_problem(response, 500)
    assert "secret" not in response.text
    assert body["detail"] == "internal server error"
    assert response.headers["x-request-id"] == "trace-500-abc"
    assert logged[0][0] == "trace-500-abc" and "secret internal path" in logged[0][1]


def test_body_over_the_limit_is_413_before_it_is_read(client, auth, monkeypatch):
    from app.core.config import get_settings
    from app.main import create_app

    monkeypatch.setattr(get_settings(), "max_body_bytes", 1000)
    from fastapi.testclient import TestClient

    with TestClient(create_app(), raise_server_exceptions=False) as small:
        big = sample(KINDS[0], summary="x" * 5000)
        assert_problem(small.post("/api/v1/articles", json=big, headers=auth), 413, "1,000")

        def chunks():
            yield b'{"title": "streamed", "summary": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}'

        streamed = small.post("/api/v1/articles", content=chunks(),
                              headers=auth | {"Content-Type": "application/json"})
        assert_problem(streamed, 413, "1,000")
        assert small.get("/api/v1/articles").json()["total"] == 0
        assert small.post("/api/v1/articles", json=sample(KINDS[0]), headers=auth
                          ).status_code == 201


def test_offset_bound_follows_the_setting(monkeypatch):
    from fastapi.testclient import TestClient

    from app.core.config import get_settings
    from app.main import create_app

    monkeypatch.setattr(get_settings(), "max_offset", 5)
    with TestClient(create_app(), raise_server_exceptions=False) as small:
        assert_problem(small.get("/api/v1/articles?offset=6"), 422, "offset")
        assert small.get("/api/v1/articles?offset=5").status_code == 200


def test_deleted_ids_are_never_reused(client, auth):
    first = client.post("/api/v1/events", json=sample(KINDS[1], title="A"), headers=auth)
    client.delete(first.headers["location"], headers=auth)
    second = client.post("/api/v1/events", json=sample(KINDS[1], title="B"), headers=auth)
    assert second.json()["id"] > first.json()["id"]
    assert client.get(first.headers["location"], headers={
        "If-None-Match": first.headers["etag"]}).status_code == 404


def test_exhausted_connection_pool_is_503_with_retry_after(app, monkeypatch):
    from fastapi.testclient import TestClient
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from app.entries.listing import run

    def exhausted(*args, **kwargs):
        raise PoolTimeout("QueuePool limit reached")

    monkeypatch.setattr(run, "versioned_page", exhausted)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/articles")
    assert_problem(response, 503, "overloaded")
    assert response.headers["retry-after"] == "2"
