"""Operations over HTTP: request ids, JSON request logs, /metrics, rate limits and CORS."""

import json
import logging
import sqlite3
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.core.config import Settings, get_settings
from app.core.observability import JsonFormatter, StderrHandler
from app.entries.registry import KINDS
from app.main import create_app
from tests.databases import IS_POSTGRES
from tests.helpers import assert_problem, sample
from tests.process.server import free_port

ARTICLES = "/api/v1/articles"


def fresh_client(monkeypatch, **settings) -> TestClient:
    """A client for an app built after overriding these settings."""
    for name, value in settings.items():
        monkeypatch.setattr(get_settings(), name, value)
    return TestClient(create_app(), raise_server_exceptions=False)


def scrape(client) -> dict[tuple[str, frozenset], float]:
    """Every sample of /metrics, keyed by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


# --- request ids ----------------------------------------------------------------------


def test_request_id_is_generated_and_returned(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get(ARTICLES).headers["X-Request-ID"]
    assert len(first) == 32 and first.isalnum()
    assert first != second


def test_a_well_formed_incoming_request_id_is_echoed(client):
    response = client.get(ARTICLES, headers={"X-Request-ID": "lb-2026.11_28-abc"})
    assert response.headers["X-Request-ID"] == "lb-2026.11_28-abc"


@pytest.mark.parametrize("bad", ["a" * 65, "has space", "<script>", "x;y=1", "a/b", ""])
def test_a_bad_incoming_request_id_is_replaced(client, bad):
    returned = client.get("/healthz", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
    assert returned != bad
    assert len(returned) == 32


def test_problems_carry_the_request_id(client, auth, monkeypatch):
    assert client.get("/api/v1/nowhere").headers["X-Request-ID"]
    monkeypatch.setattr(get_settings(), "max_body_bytes", 100)
    with TestClient(create_app()) as small:
        response = small.post(ARTICLES, content=b"x" * 500,
                              headers={**auth, "Content-Type": "application/json"})
    assert_problem(response, 413)
    assert response.headers["X-Request-ID"]


# --- request logs ---------------------------------------------------------------------


def access_lines(caplog) -> list[dict]:
    """The request log records, rendered by the app's JSON formatter."""
    formatter = JsonFormatter()
    return [json.loads(formatter.format(record)) for record in caplog.records
            if record.name == "hrc_digest.access"]


def test_one_json_log_line_per_request_without_secrets(client, auth, caplog):
    created = client.post(ARTICLES, json=sample(KINDS[0]), headers=auth)
    assert created.status_code == 201, created.text
    entry_id = created.json()["id"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="hrc_digest.access"):
        response = client.get(f"{ARTICLES}/{entry_id}?fields=title&api_key=hunter2",
                              headers={**auth, "X-Request-ID": "trace-1"})
    lines = access_lines(caplog)
    assert len(lines) == 1
    line = lines[0]
    assert line["message"] == "request"
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/articles/{entry_id}"
    assert line["status"] == response.status_code
    assert line["request_id"] == "trace-1" == response.headers["X-Request-ID"]
    assert line["client"] == "testclient"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    rendered = caplog.text + json.dumps(lines)
    secret = auth["Authorization"].split()[1]
    assert secret not in rendered and "hunter2" not in rendered
    assert "Authorization" not in rendered and "api_key" not in rendered


def test_unknown_routes_are_logged_as_unmatched(client, caplog):
    with caplog.at_level(logging.INFO, logger="hrc_digest.access"):
        client.get("/wp-admin/setup.php?id=1")
    (line,) = access_lines(caplog)
    assert line["route"] == "<unmatched>" and line["status"] == 404


def test_the_app_logs_json_to_stderr_by_default(client):
    handlers = [h for h in logging.getLogger("hrc_digest").handlers
                if isinstance(h, StderrHandler)]
    assert len(handlers) == 1
    assert isinstance(handlers[0].formatter, JsonFormatter)


def test_text_log_format_is_a_setting(monkeypatch, engine):
    fresh_client(monkeypatch, log_format="text")
    (handler,) = [h for h in logging.getLogger("hrc_digest").handlers
                  if isinstance(h, StderrHandler)]
    record = logging.LogRecord("hrc_digest.access", logging.INFO, __file__, 1, "request", None,
                               None)
    record.http = {"method": "GET", "route": "/healthz", "status": 200}
    assert "route=/healthz status=200" in handler.format(record)


# --- metrics --------------------------------------------------------------------------


def test_metrics_count_requests_by_route_and_status(client):
    key = ("hrc_http_requests_total",
           frozenset({"method": "GET", "route": ARTICLES, "status": "200"}.items()))
    count_key = ("hrc_http_request_duration_seconds_count",
                 frozenset({"method": "GET", "route": ARTICLES}.items()))
    before = scrape(client)
    client.get(ARTICLES)
    client.get(f"{ARTICLES}?limit=1")
    client.get("/no/such/route")
    after = scrape(client)
    assert after[key] - before.get(key, 0) == 2
    assert after[count_key] - before.get(count_key, 0) == 2
    unmatched = ("hrc_http_requests_total",
                 frozenset({"method": "GET", "route": "<unmatched>", "status": "404"}.items()))
    assert after[unmatched] >= 1


def test_metrics_expose_histogram_pool_and_process_figures(client):
    client.get(ARTICLES)
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE hrc_http_request_duration_seconds histogram" in text
    assert 'hrc_http_request_duration_seconds_bucket{le="0.005",method="GET",' \
           'route="/api/v1/articles"}' in text
    settings = get_settings()
    # Reads and writes have pools of their own, each reported under its label.
    assert f'hrc_db_pool_size{{pool="read"}} {float(settings.db_pool_size)}' in text
    assert f'hrc_db_pool_size{{pool="write"}} {float(settings.db_write_pool_size)}' in text
    assert 'hrc_db_pool_checkedout{pool="read"} 0.0' in text  # the GET gave its connection back
    assert "process_cpu_seconds_total" in text or "python_info" in text


def test_metrics_is_documented_but_not_under_the_api_prefix(client):
    spec = client.get("/openapi.json").json()
    assert "/metrics" in spec["paths"]
    assert spec["paths"]["/metrics"]["get"]["tags"] == ["operations"]
    assert client.get("/api/v1/metrics").status_code == 404


# --- rate limits ----------------------------------------------------------------------


@pytest.fixture
def limited(monkeypatch, engine) -> Iterator[TestClient]:
    """An app allowing 3 anonymous and 5 keyed requests a minute."""
    with fresh_client(monkeypatch, rate_limit=3, rate_limit_keyed=5,
                      rate_limit_window=60) as test_client:
        yield test_client


def test_requests_past_the_limit_get_429_problem(limited):
    for remaining in (2, 1, 0):
        response = limited.get(ARTICLES)
        assert response.status_code == 200
        assert response.headers["RateLimit-Policy"] == '"anonymous";q=3;w=60'
        assert response.headers["RateLimit"].startswith(f'"anonymous";r={remaining};t=')
    refused = limited.get(ARTICLES, headers={"Origin": "https://x.example"})
    body = assert_problem(refused, 429, "3 requests per 60 seconds")
    assert body["type"] == "/problems/too-many-requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit"].startswith('"anonymous";r=0;t=')
    assert refused.headers["RateLimit-Policy"] == '"anonymous";q=3;w=60'
    assert refused.headers["X-Request-ID"]
    # CORS sits outside the limiter, so a browser can read the 429 and its headers.
    assert refused.headers["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in refused.headers["Access-Control-Expose-Headers"]


def test_api_keys_are_counted_apart_from_anonymous_clients(limited, auth):
    for _ in range(3):
        assert limited.get(ARTICLES).status_code == 200
    assert limited.get(ARTICLES).status_code == 429
    for remaining in (4, 3, 2, 1, 0):
        response = limited.get(ARTICLES, headers=auth)
        assert response.status_code == 200
        assert response.headers["RateLimit-Policy"] == '"api-key";q=5;w=60'
        assert response.headers["RateLimit"].startswith(f'"api-key";r={remaining};')
    assert_problem(limited.get(ARTICLES, headers=auth), 429, "per API key")


def test_an_unknown_bearer_token_is_counted_as_anonymous(limited):
    for n in range(4):
        response = limited.get(ARTICLES, headers={"Authorization": f"Bearer made-up-{n}"})
        assert response.headers["RateLimit-Policy"] == '"anonymous";q=3;w=60'
    assert response.status_code == 429


def test_probes_and_metrics_are_never_limited(limited):
    for _ in range(10):
        for path in ("/healthz", "/readyz", "/metrics"):
            response = limited.get(path)
            assert response.status_code == 200, path
            assert "RateLimit" not in response.headers
    assert limited.get(ARTICLES).status_code == 200


def test_forwarded_for_is_honoured_only_behind_a_trusted_proxy(monkeypatch, engine):
    def refused_after_three(test_client: TestClient) -> bool:
        codes = [test_client.get(ARTICLES, headers={"X-Forwarded-For": f"203.0.113.{n}"})
                 .status_code for n in range(4)]
        return codes[-1] == 429

    assert refused_after_three(fresh_client(monkeypatch, rate_limit=3))
    assert not refused_after_three(fresh_client(monkeypatch, rate_limit=3, trust_proxy=True))


def test_zero_disables_the_limit(monkeypatch, engine):
    test_client = fresh_client(monkeypatch, rate_limit=0, rate_limit_keyed=0)
    responses = [test_client.get("/api/v1/topics") for _ in range(5)]
    assert all(r.status_code == 200 and "RateLimit" not in r.headers for r in responses)


def test_a_window_ends_and_the_quota_starts_again(monkeypatch, engine):
    with fresh_client(monkeypatch, rate_limit=2, rate_limit_window=1) as test_client:
        assert [test_client.get(ARTICLES).status_code for _ in range(3)] == [200, 200, 429]
        time.sleep(1.2)  # the 1-second window has ended
        response = test_client.get(ARTICLES)
    assert response.status_code == 200
    assert response.headers["RateLimit"].startswith('"anonymous";r=1;')


def test_an_unreachable_redis_fails_open(monkeypatch, engine, caplog):
    errors = ("hrc_rate_limit_storage_errors_total", frozenset())
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens: connection refused
    with fresh_client(monkeypatch, rate_limit=2, redis_url=closed) as test_client, \
            caplog.at_level(logging.WARNING, logger="hrc_digest.ratelimit"):
        before = scrape(test_client).get(errors, 0)
        started = time.monotonic()
        responses = [test_client.get(ARTICLES) for _ in range(6)]
        elapsed = time.monotonic() - started
        after = scrape(test_client)[errors]
    # Served, unlimited (no quota to report), without waiting on retries.
    assert [r.status_code for r in responses] == [200] * 6
    assert not any("RateLimit" in r.headers for r in responses)
    assert elapsed < 5
    # One failed try, then the store is left alone for a while: one error, one warning.
    assert after - before == 1
    warnings = [r for r in caplog.records if r.name == "hrc_digest.ratelimit"]
    assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()


@pytest.mark.parametrize("value", ["http://127.0.0.1:6379", "redis://", "redis://h:port/0"])
def test_a_bad_redis_url_is_refused_at_start(value):
    with pytest.raises(ValueError, match="REDIS_URL|Port"):
        Settings(redis_url=value)


# --- CORS -----------------------------------------------------------------------------


def test_any_origin_may_read_by_default(client):
    response = client.get(ARTICLES, headers={"Origin": "https://news.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    exposed = response.headers["Access-Control-Expose-Headers"]
    assert "X-Request-ID" in exposed and "RateLimit" in exposed


def test_a_page_on_another_origin_can_read_what_it_needs(client):
    """The headers a browser page reads: an export's file name, the ETag to send back in
    If-Match, the next page's Link, the request id to report."""
    response = client.get(f"{ARTICLES}/export?format=csv",
                          headers={"Origin": "https://news.example"})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="articles.csv"'
    exposed = {name.strip().lower()
               for name in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"content-disposition", "etag", "link", "location", "x-request-id",
            "retry-after"} <= exposed


def test_preflight_is_answered(client):
    response = client.options(ARTICLES, headers={
        "Origin": "https://news.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type"})
    assert response.status_code == 200
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_origins_setting_narrows_it(monkeypatch, engine):
    test_client = fresh_client(monkeypatch, cors_origins=["https://a.example"])
    allowed = test_client.get(ARTICLES, headers={"Origin": "https://a.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://a.example"
    other = test_client.get(ARTICLES, headers={"Origin": "https://b.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = test_client.options(ARTICLES, headers={
        "Origin": "https://b.example", "Access-Control-Request-Method": "GET"})
    assert preflight.headers.get("Access-Control-Allow-Origin") != "https://b.example"


def test_the_served_app_freezes_its_start_up_objects(engine):
    """`serve` runs serve_app(): start-up objects leave the collector's sight (GC pauses)."""
    import gc

    from app.main import serve_app

    gc.unfreeze()
    try:
        serve_app()
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def test_reads_take_one_autocommit_connection_from_their_own_pool(client, auth):
    from sqlalchemy import event

    from app.core.db import get_engine, get_read_engine

    read, write = get_read_engine(), get_engine()
    assert read is not write and read.pool is not write.pool
    taken: list[tuple[str, bool]] = []

    def checked_out(dbapi_connection, _record, _proxy, pool_name):
        if isinstance(dbapi_connection, sqlite3.Connection):
            return  # SQLAlchemy, not the driver, begins SQLite transactions: see executed
        taken.append((pool_name, dbapi_connection.autocommit))

    def executed(_conn, cursor, statement, _params, _context, _many, pool_name):
        if isinstance(cursor.connection, sqlite3.Connection) and statement[:5] != "BEGIN":
            taken.append((pool_name, not cursor.connection.in_transaction))  # outside BEGIN?

    listeners = [(read, "checkout", lambda *a: checked_out(*a, "read")),
                 (write, "checkout", lambda *a: checked_out(*a, "write")),
                 (read, "before_cursor_execute", lambda *a: executed(*a, "read")),
                 (write, "before_cursor_execute", lambda *a: executed(*a, "write"))]
    for engine_, name, listener in listeners:
        event.listen(engine_, name, listener)
    try:
        created = client.post(ARTICLES, json=sample(KINDS[0], topics=["xinjiang"]),
                              headers=auth)
        assert created.status_code == 201
        assert taken and {name for name, _ in taken} == {"write"}
        assert not any(autocommit for _, autocommit in taken)  # writes: transactions
        taken.clear()
        # A page no answer is kept for (app.entries.answers): several statements (the page
        # with its count and data version; the data version and the facets) on one
        # connection: PostgreSQL counts one checkout, SQLite each statement through
        # SQLAlchemy, none of them in a transaction.
        page = client.get(f"{ARTICLES}?topic=xinjiang&facets=topic")
        assert page.status_code == 200 and page.json()["total"] == 1
        if IS_POSTGRES:
            assert taken == [("read", True)]
        else:
            assert len(taken) >= 2 and set(taken) == {("read", True)}
        assert read.pool.checkedout() == 0  # given back before the answer was sent
    finally:
        for engine_, name, listener in listeners:
            event.remove(engine_, name, listener)
