"""Hostile bodies and numbers: each is a clean 4xx naming what is wrong, and nothing is written.

(SQL-looking strings, hostile `q`, NUL bytes and script tags are tested beside the features
they attack: tests/api/test_query.py, test_errors.py, test_feeds.py.)
"""

import base64
import json

import pytest

from app.entries.registry import KINDS
from tests.helpers import assert_problem, sample

ARTICLES = "/api/v1/articles"
JSON = {"Content-Type": "application/json"}
NDJSON = {"Content-Type": "application/x-ndjson"}
DEEP = b"[" * 100_000 + b"]" * 100_000


def nothing_written(client) -> bool:
    return client.get("/api/v1/search?count=exact").json()["total"] == 0


@pytest.mark.parametrize(("url", "headers", "body", "status", "mention"), [
    (ARTICLES, JSON, DEEP, 400, "nested too deeply"),
    (ARTICLES, JSON, b'{"title": ' + b"[" * 5_000 + b"]" * 5_000 + b"}", 400, "nested"),
    (ARTICLES, JSON, b'{"title": "caf\xc3\x28 au lait"}', 400, "UTF-8"),
    (ARTICLES, JSON, b'{"title": "\xff\xfe"}', 400, "UTF-8"),
    (ARTICLES + "/bulk", JSON, DEEP, 400, "not valid JSON"),
    (ARTICLES + "/bulk", JSON, b'[{"title": "caf\xff au lait"}]', 400, "not valid JSON"),
    (ARTICLES + "/bulk", NDJSON, DEEP + b"\n", 422, "invalid"),
    (ARTICLES + "/bulk", NDJSON, b'{"title": "A good one here"}\n{"title": "caf\xff"}\n',
     422, "nothing was written"),
])
def test_malformed_bodies_are_4xx_and_write_nothing(client, auth, url, headers, body, status,
                                                    mention):
    response = client.post(url, content=body, headers=auth | headers)
    assert_problem(response, status, mention)
    assert nothing_written(client)


def test_huge_json_within_the_size_limit_is_422_naming_the_field(client, auth):
    payload = sample(KINDS[0], topics=[f"topic-{i}" for i in range(100_000)])
    body = json.dumps(payload).encode()
    assert len(body) > 1_000_000
    response = client.post(ARTICLES, content=body, headers=auth | JSON)
    assert_problem(response, 422, "body.topics", "at most 50")
    assert nothing_written(client)


@pytest.mark.parametrize(("field", "value"), [
    ("title", "x" * 100_000), ("summary", "x" * 1_000_000), ("url", "https://a.b/" + "x" * 5000),
    ("slug", "a" * 10_000), ("authors", ["x" * 10_000]),
])
def test_overlong_strings_are_422_naming_the_field(client, auth, field, value):
    response = client.post(ARTICLES, json=sample(KINDS[0], **{field: value}), headers=auth)
    assert_problem(response, 422, f"body.{field}")
    assert nothing_written(client)


@pytest.mark.parametrize(("url", "mention"), [
    (f"{ARTICLES}/99999999999999999999999", "path.entry_id"),
    (f"{ARTICLES}/9223372036854775808", "path.entry_id"),
    (f"{ARTICLES}/-1", "path.entry_id"),
    (f"{ARTICLES}/0", "path.entry_id"),
    ("/api/v1/articles/9223372036854775808/related", "path.entry_id"),
    (f"{ARTICLES}?limit=99999999999999999999", "query.limit"),
    (f"{ARTICLES}?limit=-5", "query.limit"),
    (f"{ARTICLES}?offset=-1", "query.offset"),
    (f"{ARTICLES}?offset=1e30", "query.offset"),
    (f"{ARTICLES}?session=99999999999999999999", "query.session"),
    (f"{ARTICLES}?session=0", "query.session"),  # -46 excludes session 46
    (f"{ARTICLES}?session=-99999999999999999999", "query.session"),
    (f"{ARTICLES}?facets=topic&facet_limit=100000", "query.facet_limit"),
    ("/api/v1/changes?since=99999999999999999999999999", "query.since"),
    ("/api/v1/changes?since=%C2%B2", "query.since"),  # a superscript digit, not a token
    ("/api/v1/changes?limit=-1", "query.limit"),
    ("/api/v1/sessions/99999999999", "path.number"),
])
def test_negative_and_enormous_numbers_are_422_naming_the_parameter(client, url, mention):
    assert_problem(client.get(url), 422, mention)


def _cursor(values: list) -> str:
    raw = json.dumps({"s": "-date,-id", "v": values}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("values", [
    ["2020-01-01", 10**30], ["2020-01-01", -(10**30)], ["2020-01-01", 2**31],
    ["99999-01-01", 1], [None, 1],
    ["2020-01-01", 1.5], ["2020-01-01", True], ["2020-01-01"], "x",
])
def test_forged_cursors_are_400_naming_the_cursor(client, seeded, values):
    assert client.get(f"{ARTICLES}?cursor={_cursor(['2020-01-01', 5])}").status_code == 200
    assert_problem(client.get(f"{ARTICLES}?cursor={_cursor(values)}"), 400, "cursor")


@pytest.mark.parametrize("body", [
    {"title": "A proper title", "session": 10**20},
    {"title": "A proper title", "session": -1},
    {"title": "A proper title", "session": 1e400},
])
def test_enormous_numbers_in_bodies_are_422(client, auth, body):
    response = client.post(ARTICLES, content=json.dumps(body).encode(), headers=auth | JSON)
    assert_problem(response, 422, "body.session")
    assert nothing_written(client)
