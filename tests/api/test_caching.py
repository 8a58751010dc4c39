"""Conditional GET and the Cache-Control policy on every read."""

import pytest
from fastapi.testclient import TestClient

from app.core.config import get_settings
from app.core.http import none_match
from app.entries.registry import KINDS
from app.main import create_app
from tests.helpers import sample

ARTICLES = "/api/v1/articles"
READS = [ARTICLES + "?limit=2", "/api/v1/statements?q=china", "/api/v1/search?q=rights",
         "/api/v1/timeline", "/api/v1/topics", "/api/v1/countries?used=true",
         "/api/v1/sessions/46", "/api/v1/feeds/articles.atom"]


@pytest.mark.parametrize("url", READS)
def test_every_read_revalidates_to_304(client, seeded, url):
    first = client.get(url)
    assert first.status_code == 200
    tag = first.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"') and not tag.startswith("W/")
    assert first.headers["cache-control"]
    again = client.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    assert again.headers["cache-control"] == first.headers["cache-control"]
    assert "content-type" not in again.headers
    assert "x-request-id" in again.headers


def test_list_page_tag_changes_with_its_content(client, auth, seeded):
    url = f"{ARTICLES}?limit=3"
    tag = client.get(url).headers["etag"]
    assert client.get(url, headers={"If-None-Match": tag}).status_code == 304
    assert client.get(f"{ARTICLES}?limit=2").headers["etag"] != tag  # another page
    client.post(ARTICLES, json=sample(KINDS[0], title="A newer article",
                                      published_on="2030-01-01"), headers=auth)
    changed = client.get(url, headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.json()["items"][0]["title"] == "A newer article"
    assert changed.headers["etag"] != tag


def test_if_none_match_lists_weak_tags_and_star():
    tag = '"abc"'
    assert none_match('"x", W/"abc"', tag)
    assert none_match("*", tag)
    assert not none_match('"abcd", "ab"', tag)
    assert not none_match(None, tag) and not none_match("", tag)


def test_entry_tag_is_its_version_and_a_stale_one_gives_the_page(client, auth):
    created = client.post(ARTICLES, json=sample(KINDS[0]), headers=auth)
    url = created.headers["location"]
    body = created.json()
    assert created.headers["etag"] == f'"{body["id"]}-{body["version"]}"'
    identity = {"Accept-Encoding": "identity"}
    assert client.get(url, headers=identity).headers["etag"] == created.headers["etag"]
    # Gzipped (the test client accepts gzip), the JSON is another representation.
    assert client.get(url).headers["etag"] == f'"{body["id"]}-{body["version"]}-gzip"'
    assert client.get(url, headers={"If-None-Match": f'"{body["id"]}-0", "x"'}
                      ).status_code == 200


def test_reads_default_to_revalidate_every_time(client, seeded):
    assert client.get(ARTICLES).headers["cache-control"] == "no-cache"
    # Feeds set their own policy: readers poll them.
    assert client.get("/api/v1/feeds/articles.atom").headers["cache-control"] == (
        "public, max-age=60")


def test_max_age_setting_lets_caches_keep_reads(monkeypatch, engine):
    monkeypatch.setattr(get_settings(), "cache_max_age", 120)
    with TestClient(create_app()) as test_client:
        assert test_client.get(ARTICLES).headers["cache-control"] == "public, max-age=120"


@pytest.mark.parametrize("url", ["/healthz", "/readyz", "/metrics"])
def test_probes_and_metrics_are_never_cached(client, url):
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers


def test_streamed_export_and_errors_carry_no_tag(client, seeded):
    export = client.get(f"{ARTICLES}/export")
    assert export.status_code == 200 and export.text.count("\n") == 4
    assert "etag" not in export.headers
    assert export.headers["cache-control"] == "no-cache"  # the reads' policy, as pages
    missing = client.get(f"{ARTICLES}/999999")
    assert missing.status_code == 404 and "etag" not in missing.headers


@pytest.mark.parametrize("url", [f"{ARTICLES}/999999", f"{ARTICLES}?topc=x",
                                 f"{ARTICLES}?limit=0", "/api/v1/nowhere"])
def test_problems_are_never_kept_by_a_cache(client, url):
    # A CDN may keep a 404 by heuristics (RFC 9111 §4.2.2) when nothing says otherwise,
    # and would go on answering it after the entry is created.
    problem = client.get(url)
    assert problem.status_code in (400, 404, 422)
    assert problem.headers["cache-control"] == "no-store"
    assert client.head(url).headers["cache-control"] == "no-store"


def test_writes_and_refusals_are_never_kept_by_a_cache(client, auth, monkeypatch):
    created = client.post(ARTICLES, json=sample(KINDS[0]), headers=auth)
    url = created.headers["location"]
    patched = client.patch(url, json={"summary": "changed"}, headers=auth)
    deleted = client.delete(url, headers=auth)
    unauthorised = client.post(ARTICLES, json=sample(KINDS[0]))
    assert [a.status_code for a in (created, patched, deleted, unauthorised)] == [
        201, 200, 204, 401]
    assert all(a.headers["cache-control"] == "no-store"
               for a in (created, patched, deleted, unauthorised))
    monkeypatch.setattr(get_settings(), "rate_limit", 1)
    monkeypatch.setattr(get_settings(), "max_body_bytes", 10)
    with TestClient(create_app()) as limited:
        too_large = limited.post(ARTICLES, content=b"x" * 100, headers=auth)
        assert too_large.status_code == 413
        limited.get(ARTICLES)
        too_many = limited.get(ARTICLES)
        assert too_many.status_code == 429
    assert too_large.headers["cache-control"] == too_many.headers["cache-control"] == "no-store"


def test_a_request_with_a_key_is_answered_for_its_client_alone(monkeypatch, engine, auth):
    monkeypatch.setattr(get_settings(), "cache_max_age", 120)
    with TestClient(create_app()) as test_client:
        public, keyed = (test_client.get(ARTICLES, headers=headers) for headers in ({}, auth))
        feed = test_client.get("/api/v1/feeds/articles.atom", headers=auth)
        export = test_client.get(f"{ARTICLES}/export", headers=auth)
        again = test_client.get(ARTICLES, headers=auth | {"If-None-Match": keyed.headers["etag"]})
    assert public.headers["cache-control"] == "public, max-age=120"
    assert keyed.headers["cache-control"] == export.headers["cache-control"] == (
        "private, max-age=120")
    assert feed.headers["cache-control"] == "private, max-age=60"
    assert again.status_code == 304 and again.headers["cache-control"] == "private, max-age=120"


def test_writes_are_not_answered_from_if_none_match(client, auth):
    created = client.post(ARTICLES, json=sample(KINDS[0]), headers=auth)
    tag = created.headers["etag"]
    patched = client.patch(created.headers["location"], json={"summary": "changed"},
                           headers=auth | {"If-None-Match": tag})
    assert patched.status_code == 200
    assert patched.json()["summary"] == "changed"
