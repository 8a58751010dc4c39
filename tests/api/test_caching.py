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
    missing = client.get(f"{ARTICLES}/999999")
    assert missing.status_code == 404 and "etag" not in missing.headers


def test_writes_are_not_answered_from_if_none_match(client, auth):
    created = client.post(ARTICLES, json=sample(KINDS[0]), headers=auth)
    tag = created.headers["etag"]
    patched = client.patch(created.headers["location"], json={"summary": "changed"},
                           headers=auth | {"If-None-Match": tag})
    assert patched.status_code == 200
    assert patched.json()["summary"] == "changed"
