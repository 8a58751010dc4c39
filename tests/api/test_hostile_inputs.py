"""Hostile input that used to reach the database: forged cursors, NUL in any parameter or
body field, null for a field its column cannot hold, a boolean for a number, and an export
while the database is down. Each is a 4xx (or a 503 with Retry-After) problem naming what
is wrong, never a 500, on both engines (PostgreSQL refuses NUL in text, so most of these
failed only there).
"""

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core import db as core_db
from app.core.config import get_settings
from app.entries.fields import PLACEMENT_INPUT
from app.entries.models import Entry
from app.entries.registry import KINDS
from app.entries.schemas import SERVER_FIELDS
from app.main import create_app
from tests.databases import IS_POSTGRES
from tests.helpers import KIND_IDS, assert_problem, sample

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


# --- NUL in parameters and bodies ---------------------------------------------------------


def operations(client) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path template, operation) of every operation the API documents."""
    document = client.get("/openapi.json").json()
    return [(method.upper(), path, operation)
            for path, item in document["paths"].items()
            for method, operation in item.items()]


def _fill(path: str, operation: dict[str, Any], nul_in: str | None) -> str:
    """The path with each parameter filled: `a%00b` in `nul_in`, a plausible value elsewhere."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            name = parameter["name"]
            value = "a%00b" if name == nul_in else "1"
            path = path.replace("{" + name + "}", value)
    return path


def test_nul_in_any_path_parameter_is_422_naming_it(client, auth):
    seen = []
    for method, path, operation in operations(client):
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "path":
                continue
            name = parameter["name"]
            url = _fill(path, operation, name)
            response = client.request(method, url, headers=auth, json={})
            assert_problem(response, 422, f"path.{name}")
            seen.append((method, path))
    # The routes where PostgreSQL used to answer 500, and an id route, are among them.
    for method in ("GET", "PATCH", "DELETE"):
        assert (method, "/api/v1/topics/{slug}") in seen
        assert (method, "/api/v1/articles/{entry_id}") in seen


def test_nul_in_any_query_parameter_value_is_422_naming_it(client, auth):
    checked = 0
    for method, path, operation in operations(client):
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            name = parameter["name"]
            url = f"{_fill(path, operation, None)}?{name}=a%00b"
            response = client.request(method, url, headers=auth, json={})
            assert_problem(response, 422, f"query.{name}", "NUL")
            checked += 1
    assert checked > 50  # every list filter of every kind, /changes, feeds, export, bulk


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize(("url", "name"), [
    ("/api/v1/topics/xinjiang%00", "path.slug"),
    ("/api/v1/changes?since=2021-02-26%00", "query.since"),
    ("/api/v1/changes?since=%00", "query.since"),
    ("/api/v1/statements?speaker=Chen%00Xu", "query.speaker"),
    ("/api/v1/articles?source=Xinhua%00", "query.source"),
    ("/api/v1/search?q=council%00", "query.q"),
    ("/api/v1/articles?topic=xinjiang%00", "query.topic"),
    ("/api/v1/timeline?q=council%00", "query.q"),
    ("/api/v1/articles/export?topic=xinjiang%00", "query.topic"),
    ("/api/v1/articles/export?format=csv%00", "query.format"),
    ("/api/v1/feeds/articles.atom?topic=xinjiang%00", "query.topic"),
])
def test_nul_in_text_parameters_that_reach_sql_is_422(client, url, name):
    assert client.get(url.replace("%00", "")).status_code == 200
    assert_problem(client.get(url), 422, name, "must not contain NUL characters")


def test_a_cursor_holding_nul_is_422(client):
    assert_problem(client.get("/api/v1/articles?cursor=%00"), 422, "query.cursor", "NUL")


def test_nul_in_a_parameter_name_is_400(client):
    assert_problem(client.get("/api/v1/articles?to%00pic=x"), 400, "contains a NUL")


def _string_fields(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, bool]:
    """Properties of a request schema holding text: name -> whether it is a list of text."""
    found = {}
    for name, prop in schema["properties"].items():
        for option in prop.get("anyOf", [prop]):
            if "$ref" in option:
                option = components[option["$ref"].rsplit("/", 1)[1]]
            if option.get("type") == "string" or "enum" in option:
                found[name] = False
            elif option.get("type") == "array" and option["items"].get("type") == "string":
                found[name] = True
    return found


def _with_nul(value: Any, is_list: bool) -> Any:
    """A value that would be accepted, but for the NUL appended to it."""
    if is_list:
        return [str(value[0] if value else "xinjiang") + "\x00"]
    return str(value if isinstance(value, str) else "x") + "\x00"


# Valid values for text fields the examples leave out, so the NUL is what gets refused.
PLAIN = {"url": "https://example.org/a", "slug": "a-slug", "body": "Text.",
         "speaker_role": "Envoy", "on_behalf_of": "Some countries", "location": "Geneva",
         "source": "Xinhua", "authors": ["Li Yunlong"], "organizers": ["UN"]}


@pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)
def test_nul_in_any_text_field_of_an_entry_body_is_422_naming_it(client, auth, spec):
    components = client.get("/openapi.json").json()["components"]["schemas"]
    fields = _string_fields(components[f"{spec.title}Create"], components)
    assert {"title", "summary", "url", "slug", "topics", "countries"} <= fields.keys()
    base = f"/api/v1/{spec.plural}"
    created = client.post(base, json=sample(spec), headers=auth)
    location = created.headers["location"]
    for name, is_list in fields.items():
        value = _with_nul((sample(spec) | PLAIN).get(name), is_list)
        body = json.dumps(sample(spec, **{name: value}))
        for method, url, content in (("POST", base, body), ("PUT", location, body),
                                     ("PATCH", location, json.dumps({name: value}))):
            response = client.request(method, url, content=content, headers=auth | JSON)
            assert_problem(response, 422, f"body.{name}")
        bulk = client.post(f"{base}/bulk", content=f"[{body}]", headers=auth | JSON)
        assert_problem(bulk, 422, "nothing was written")
        assert name in bulk.json()["errors"][0]["detail"]
    assert client.get(location).json()["version"] == 1


def _number_fields(schema: dict[str, Any]) -> list[str]:
    """Properties of a request schema holding a number (an integer or any number)."""
    return [name for name, prop in schema["properties"].items()
            if any(option.get("type") in ("integer", "number")
                   for option in prop.get("anyOf", [prop]))]


@pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)
def test_true_or_false_in_any_number_field_of_an_entry_body_is_422_naming_it(client, auth,
                                                                             spec):
    """JSON's booleans are no numbers, though pydantic's lax mode would read them as 1, 0."""
    components = client.get("/openapi.json").json()["components"]["schemas"]
    fields = _number_fields(components[f"{spec.title}Create"])
    assert "session" in fields
    base = f"/api/v1/{spec.plural}"
    location = client.post(base, json=sample(spec), headers=auth).headers["location"]
    for name in fields:
        for value in (True, False):
            body = sample(spec, **{name: value})
            for method, url, sent in (("POST", base, body), ("PUT", location, body),
                                      ("PATCH", location, {name: value})):
                response = client.request(method, url, json=sent, headers=auth)
                assert_problem(response, 422, f"body.{name}")
            bulk = client.post(f"{base}/bulk", json=[body], headers=auth)
            assert_problem(bulk, 422, "nothing was written")
            assert bulk.json()["errors"][0]["detail"].startswith(f"{name}: ")
    assert client.get(location).json()["version"] == 1


TOPIC = {"slug": "a-topic", "name": "A name", "description": "Text.", "keywords": ["word"]}
SESSION = {"number": 999, "name": "A name", "starts_on": "2021-02-22", "ends_on": "2021-03-24",
           "location": "Geneva", "description": "Text."}


@pytest.mark.parametrize(("create", "item", "schema", "valid"), [
    ("/api/v1/topics", "/api/v1/topics/xinjiang", "TopicCreate", TOPIC),
    ("/api/v1/sessions", "/api/v1/sessions/46", "SessionCreate", SESSION),
])
def test_nul_in_any_text_field_of_a_reference_body_is_422_naming_it(client, auth, create,
                                                                     item, schema, valid):
    components = client.get("/openapi.json").json()["components"]["schemas"]
    fields = _string_fields(components[schema], components)
    assert {"name", "description"} <= fields.keys()
    for name, is_list in fields.items():
        value = _with_nul(valid.get(name), is_list)
        response = client.post(create, json=valid | {name: value}, headers=auth)
        assert_problem(response, 422, f"body.{name}")
        if name != "slug":
            assert_problem(client.patch(item, json={name: value}, headers=auth), 422,
                           f"body.{name}")


# --- null for a field its column cannot hold -----------------------------------------------


def _column_nullable(spec, name: str) -> bool:
    """Whether the database column behind an API field may hold NULL (from the tables)."""
    entries = Entry.__table__.c
    name = spec.reference_slugs.get(name, name)  # an alias (`event`) is its link's column
    if name == spec.primary_date:
        return entries["date"].nullable
    column = entries[name] if name in entries else spec.detail_table.c[name]
    return bool(column.nullable)


# The fields a PATCH writes (the server's own, taken back unchanged: test_round_trips).
PATCH_FIELDS = [(spec, name) for spec in KINDS for name in spec.update_model.model_fields
                if name not in SERVER_FIELDS]


@pytest.mark.parametrize(("spec", "name"), PATCH_FIELDS,
                         ids=[f"{spec.plural}-{name}" for spec, name in PATCH_FIELDS])
def test_patch_null_is_422_where_the_column_cannot_hold_it(client, auth, spec, name):
    created = client.post(f"/api/v1/{spec.plural}", json=sample(spec), headers=auth)
    location = created.headers["location"]
    response = client.patch(location, json={name: None}, headers=auth)
    if name in PLACEMENT_INPUT:  # null asks for the derived placement (test_date_precision)
        assert response.status_code == 200, response.text
        assert response.json()[name] == created.json()[name]
    elif _column_nullable(spec, name):
        assert response.status_code == 200, response.text
        assert response.json()[name] is None
    else:
        assert_problem(response, 422, f"body.{name}")
        assert client.get(location).json() == created.json()


def test_patch_null_slug_is_422_and_put_without_slug_keeps_it(client, auth):
    created = client.post("/api/v1/articles", json=sample(KINDS[0], slug="kept"), headers=auth)
    location = created.headers["location"]
    assert_problem(client.patch(location, json={"slug": None}, headers=auth), 422, "body.slug")
    for body in (sample(KINDS[0], slug=None), sample(KINDS[0])):
        replaced = client.put(location, json=body | {"summary": str(body)}, headers=auth)
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["slug"] == "kept"


# --- export while the database is down ------------------------------------------------------


@pytest.fixture
def unreachable_reads(engine, monkeypatch, tmp_path):
    """Reads go to a database that cannot be reached (a closed port, a missing directory)."""
    url = ("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2" if IS_POSTGRES
           else f"sqlite:///{tmp_path / 'missing' / 'none.db'}")
    monkeypatch.setattr(get_settings(), "read_database_url", url)
    core_db.reset_engines()
    yield
    monkeypatch.undo()
    core_db.reset_engines()


@pytest.mark.usefixtures("unreachable_reads")
@pytest.mark.parametrize("query", ["", "?format=csv", "?topic=xinjiang", "?q=council"])
@pytest.mark.parametrize("kind", KIND_IDS)
def test_export_with_the_database_down_is_503_like_other_reads(kind, query):
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        listed = client.get(f"/api/v1/{kind}{query.replace('format=csv', 'limit=5')}")
        assert_problem(listed, 503, "the database is unavailable")
        exported = client.get(f"/api/v1/{kind}/export{query}")
        assert_problem(exported, 503, "the database is unavailable")
        assert exported.headers["Retry-After"] == listed.headers["Retry-After"] == "5"
        # The lean one-row read (detail) and the kept answers' version probe (every list,
        # above) fail alike when no connection can be made.
        one = client.get(f"/api/v1/{kind}/1")
        assert_problem(one, 503, "the database is unavailable")
        assert one.headers["Retry-After"] == "5"


def test_an_export_streams_every_row_and_an_empty_one_is_empty(client, seeded):
    lines = client.get("/api/v1/articles/export").text.splitlines()
    assert len(lines) == client.get("/api/v1/articles").json()["total"] == 4
    assert client.get("/api/v1/articles/export?date_from=2100-01-01").text == ""
