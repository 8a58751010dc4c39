"""Hostile input that used to reach the database: forged cursors, NUL in any parameter or
body field, null for a field its column cannot hold, and an export while the database is
down. Each is a 4xx (or a 503 with Retry-After) problem naming what is wrong, never a 500,
on both engines (PostgreSQL refuses NUL in text, so most of these failed only there).
"""

import base64
import json
from typing import Any

import pytest

from app.entries.registry import KINDS
from tests.helpers import assert_problem, sample

JSON = {"Content-Type": "application/json"}
LISTS = [f"/api/v1/{spec.plural}" for spec in KINDS] + ["/api/v1/search", "/api/v1/timeline"]

# --- forged cursors ---------------------------------------------------------------------

# A cursor is base64url of {"s": the sort it was made for, "v": the last row's key values}.
# Each sort: its canonical token, the query that asks for it, and its keys' value types.
SORTS = {
    "-date": ("-date,-id", "sort=-date", ("date", "int")),
    "title": ("title,id", "sort=title", ("text", "int")),
    "created_at": ("created_at,id", "sort=created_at", ("time", "int")),
    "-updated_at": ("-updated_at,-id", "sort=-updated_at", ("time", "int")),
    "id": ("id", "sort=id", ("int",)),
    "relevance": ("relevance,-id", "q=council&sort=relevance", ("float", "int")),
}
# A valid value of each type (JSON text): a cursor of these answers 200.
VALID = {"date": '"2021-02-26"', "text": '"china"', "time": '"2021-02-26T10:00:00"',
         "int": "7", "float": "0.5"}
# Wrong for a key of any type.
FORGED_ANY = {
    "lone surrogate": '"\\ud800"',
    "surrogate in a date": '"\\ud800-01-01"',
    "NUL in text": '"china\\u0000"',
    "NUL in a date": '"2021-02-26\\u0000"',
    "NUL in a time": '"2021-02-26T10:00:00\\u0000"',
    "400 digits": "1" + "0" * 400,
    "-400 digits": "-1" + "0" * 400,
    "1e400": "1e400",
    "-1e400": "-1e400",
    "NaN": "NaN",
    "Infinity": "Infinity",
    "object": '{"v": 1}',
    "array": "[1]",
    "nested arrays": '[[[["china"]]]]',
    "true": "true",
    "false": "false",
    "overlong text": '"' + "x" * 2500 + '"',
}
# Wrong for a key of one type (and right for some other).
FORGED_FOR = {
    "int": {"zero": "0", "negative": "-5", "past int32": str(2**31), "past int64": str(2**63),
            "fraction": "1.5", "text": '"7"', "null": "null"},
    "float": {"text": '"0.5"', "null": "null"},
    "date": {"no such day": '"2021-02-30"', "a time": '"2021-02-26T10:00:00"',
             "number": "20210226", "word": '"yesterday"', "null": "null"},
    "time": {"no such hour": '"2021-02-26T25:00:00"', "number": "1614333600",
             "word": '"yesterday"', "null": "null"},
    "text": {"number": "5", "fraction": "1.5", "null": "null"},
}


def cursor(token: Any, values: str) -> str:
    """A cursor of this sort token and values (JSON text, kept verbatim: escapes survive)."""
    raw = '{"s": %s, "v": %s}' % (json.dumps(token), values)  # noqa: UP031
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def forged(types: tuple[str, ...]) -> list[tuple[str, str]]:
    """(what, values) for every forgery of every position of a sort with these key types."""
    cases = []
    for position, kind in enumerate(types):
        for what, value in (FORGED_ANY | FORGED_FOR[kind]).items():
            values = [VALID[t] for t in types]
            values[position] = value
            cases.append((f"{kind} key #{position}: {what}", "[" + ", ".join(values) + "]"))
    return cases


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("sort", list(SORTS))
@pytest.mark.parametrize("url", LISTS)
def test_forged_cursor_values_are_400_naming_the_cursor(client, url, sort):
    token, query, types = SORTS[sort]
    valid = "[" + ", ".join(VALID[t] for t in types) + "]"
    assert client.get(f"{url}?{query}&cursor={cursor(token, valid)}").status_code == 200
    for what, values in forged(types):
        response = client.get(f"{url}?{query}&cursor={cursor(token, values)}")
        assert response.status_code == 400, (what, response.text)
        assert_problem(response, 400, "cursor: not a valid cursor")


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("value", [
    _raw("[1, 2]"), _raw('"-date,-id"'), _raw("7"), _raw("null"), _raw('{"v": ["x", 1]}'),
    _raw('{"s": ["-date,-id"], "v": ["2021-02-26", 7]}'), _raw('{"s": "-date,-id", "v": 7}'),
    _raw('{"s": "-date,-id", "v": {"0": "2021-02-26"}}'),
    _raw('{"s": "-date,-id", "v": ["2021-02-26", 7, 8]}'),
    _raw('{"s": "\\ud800", "v": ["2021-02-26", 7]}'),
    _raw('{"s": "-date,-id", "v": ' + "[" * 1500 + "]" * 1500 + "}"),  # deeper than the decoder
    _raw("[" * 3000),
    base64.urlsafe_b64encode(b'{"s": "-date,-id", "v": ["\xff", 7]}').decode(),  # not UTF-8
    "not base64!", "%C3%A9t%C3%A9", "A" * 4001,
])
@pytest.mark.parametrize("url", LISTS)
def test_forged_cursors_are_400(client, url, value):
    assert_problem(client.get(f"{url}?cursor={value}"), 400, "cursor")


def test_a_cursor_past_its_length_limit_is_422(client):
    assert_problem(client.get(f"/api/v1/articles?cursor={'A' * 4097}"), 422, "query.cursor")


def test_a_long_non_latin_title_pages_by_title(client, auth):
    """The next cursor of a 500-character title of 4-byte characters fits its limit."""
    for letter in ("😀", "😁"):
        response = client.post("/api/v1/articles", headers=auth,
                               json=sample(KINDS[0], title=letter * 500))
        assert response.status_code == 201, response.text
    first = client.get("/api/v1/articles?sort=title&limit=1").json()
    following = client.get(f"/api/v1/articles?sort=title&limit=1&cursor={first['next_cursor']}")
    assert following.status_code == 200, following.text
    assert following.json()["items"][0]["title"] == "😁" * 500
