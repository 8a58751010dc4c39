"""Bulk errors say where each bad item was: its index, its NDJSON line, and its slug or title."""

import orjson

from tests.helpers import assert_problem

NDJSON = {"Content-Type": "application/x-ndjson"}


def _body(*lines: bytes) -> bytes:
    return b"\n".join(lines)


BODY = _body(
    b'{"title": "Good one", "slug": "good-one"}',         # line 1, index 0
    b"",                                                  # line 2: blank, not an item
    b"{not json",                                         # line 3, index 1
    b'{"title": "A poem of an article", "genre": "poem"}',  # line 4, index 2
    b"   ",                                               # line 5: blank
    b'{"title": "Unknown topic", "topics": ["tibbet"]}',  # line 6, index 3
    b'{"title": "Good one", "slug": "good-one"}',         # line 7, index 4: slug again
    b'{"title": 12}',                                     # line 8, index 5
    b'{"title": "No newline at the end", "type": "event"}',  # line 9, index 6
)


def _errors(body: dict) -> list[tuple]:
    return [(e["index"], e["line"], e["slug"], e["title"]) for e in body["errors"]]


EXPECTED = [
    (1, 3, None, None),                      # not JSON: nothing names it but its line
    (2, 4, None, "A poem of an article"),    # failed validation before a slug was made
    (3, 6, "unknown-topic", None),           # slug known: no title needed
    (4, 7, "good-one", None),
    (5, 8, None, None),                      # a title that is not text is not echoed
    (6, 9, None, "No newline at the end"),
]


def test_ndjson_errors_carry_the_line_counting_blank_lines_and_the_title(client, auth):
    response = client.post("/api/v1/articles/bulk?atomic=false", content=BODY,
                           headers=auth | NDJSON)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["failed"]) == (1, len(EXPECTED)) == (1, len(body["errors"]))
    assert _errors(body) == EXPECTED
    assert "tibbet" in body["errors"][2]["detail"] and "index 0" in body["errors"][3]["detail"]


def test_an_atomic_refusal_carries_the_same_lines(client, auth):
    body = assert_problem(client.post("/api/v1/articles/bulk", content=BODY,
                                      headers=auth | NDJSON), 422, "nothing was written")
    assert _errors(body) == EXPECTED
    assert [e["loc"] for e in body["errors"]] == [["body", i] for i, *_ in EXPECTED]


def test_lines_stay_right_past_a_batch(client, auth):
    """Items are parsed 1,000 to a batch: a bad item in the second batch keeps its line."""
    lines = [orjson.dumps({"title": f"Item {i}"}) for i in range(1_100)]
    lines.insert(500, b"")
    lines[1_050] = b'{"title": "Late and bad", "genre": "poem"}'
    response = client.post("/api/v1/articles/bulk?atomic=false", content=b"\n".join(lines),
                           headers=auth | NDJSON)
    body = response.json()
    assert body["failed"] == 1
    assert _errors(body) == [(1_049, 1_051, None, "Late and bad")]


def test_a_json_array_has_no_lines_but_still_the_title(client, auth):
    items = [{"title": "Fine"}, {"title": "Bad genre", "genre": "poem"}, "not an object"]
    body = client.post("/api/v1/articles/bulk?atomic=false", json=items, headers=auth).json()
    assert _errors(body) == [(1, None, None, "Bad genre"), (2, None, None, None)]


def test_the_documented_example_is_consistent(client):
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    result = schema["BulkResult"]
    example = result["examples"][0]
    assert example["failed"] == len(example["errors"])
    assert set(example) == set(result["properties"])
    error_fields = set(schema["BulkError"]["properties"])
    assert {"index", "line", "slug", "title", "detail"} == error_fields
    # (The document leaves null values out of examples.)
    assert all({"index", "detail"} <= set(error) <= error_fields for error in example["errors"])
