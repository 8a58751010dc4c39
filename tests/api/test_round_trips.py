"""Round trips: what a GET gives can be sent back with PUT or PATCH.

The server's fields (`id`, `type`, timestamps, `version`, `provenance`, `date_from`,
`date_to`, `href`) are accepted when they equal the stored entry's and ignored then; a
different `version` is a 412, any other difference a 409 naming every field that differs.
"""

from datetime import datetime

import pytest

from app.entries.registry import BY_PLURAL, KINDS
from app.entries.schemas import SERVER_FIELDS
from tests.helpers import KIND_IDS, assert_problem, sample


def _created(client, auth, spec) -> dict:
    response = client.post(f"/api/v1/{spec.plural}", json=sample(spec), headers=auth)
    assert response.status_code == 201, response.text
    return client.get(response.headers["location"]).json()


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)
def test_a_get_sent_back_unchanged_changes_nothing(client, auth, spec, method):
    got = _created(client, auth, spec)
    assert set(SERVER_FIELDS) <= got.keys()
    url = got["href"]
    response = getattr(client, method)(url, json=got, headers=auth)
    assert response.status_code == 200, response.text
    # Nothing changed: the same version, timestamps and body (an identical write is a no-op).
    assert response.json() == got
    assert client.get(url).json() == got
    assert client.get("/api/v1/changes").json()["items"][-1]["action"] == "created"


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("plural", ["articles", "events", "statements"])
def test_a_loaded_entry_goes_back_with_its_provenance_and_placement(client, auth, plural,
                                                                     method):
    first = client.get(f"/api/v1/{plural}?limit=1").json()["items"][0]
    got = client.get(first["href"]).json()
    assert got["provenance"] is not None
    response = getattr(client, method)(got["href"], json=got, headers=auth)
    assert response.status_code == 200, response.text
    assert response.json() == got


@pytest.mark.parametrize("method", ["put", "patch"])
def test_an_edited_get_body_writes_the_edit_and_ignores_the_read_only_fields(client, auth,
                                                                            method):
    got = _created(client, auth, BY_PLURAL["events"])
    edited = got | {"title": "Renamed forum", "starts_on": "2021-03-09",
                    "ends_on": "2021-03-10"}
    response = getattr(client, method)(got["href"], json=edited, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == got["version"] + 1 and body["title"] == "Renamed forum"
    # The placement the GET gave (derived) is derived again from the new primary date.
    assert (body["date"], body["date_precision"], body["date_from"], body["date_to"]) == (
        "2021-03-09", "day", "2021-03-09", "2021-03-09")
    assert body["created_at"] == got["created_at"] and body["updated_at"] > got["updated_at"]


def test_a_month_placement_sent_back_is_kept(client, auth):
    spec = BY_PLURAL["articles"]
    created = client.post("/api/v1/articles", json=sample(spec, published_on=None,
                                                          date_precision="month",
                                                          date="2021-03-17"), headers=auth)
    got = client.get(created.headers["location"]).json()
    assert got["date_precision"] == "month"
    response = client.put(got["href"], json=got | {"title": "Renamed"}, headers=auth)
    assert response.status_code == 200, response.text
    assert (response.json()["date_precision"], response.json()["date"]) == ("month",
                                                                            "2021-03-01")


@pytest.mark.parametrize("method", ["put", "patch"])
def test_another_id_is_a_409_saying_the_body_and_the_url_differ(client, auth, method):
    got = _created(client, auth, KINDS[0])
    response = getattr(client, method)(got["href"], json=got | {"id": got["id"] + 1},
                                       headers=auth)
    body = assert_problem(response, 409, f"the id in the body ({got['id'] + 1}) differs "
                          f"from the URL's ({got['id']})")
    assert body["errors"] == [{"loc": ["body", "id"], "msg": body["errors"][0]["msg"]}]
    assert client.get(got["href"]).json() == got


@pytest.mark.parametrize("method", ["put", "patch"])
def test_another_version_is_a_412_like_a_stale_if_match(client, auth, method):
    got = _created(client, auth, KINDS[0])
    client.patch(got["href"], json={"summary": "changed meanwhile"}, headers=auth)
    stale = got | {"title": "My edit"}
    response = getattr(client, method)(got["href"], json=stale, headers=auth)
    body = assert_problem(response, 412, "is at version 2, not 1", "changed since it was read")
    assert [e["loc"] for e in body["errors"]] == [["body", "version"]]
    current = client.get(got["href"]).json()
    assert current["title"] == got["title"] and current["version"] == 2
    # Only `version`, as a precondition: the current one lets the edit through.
    fresh = client.patch(got["href"], json={"version": 2, "title": "My edit"}, headers=auth)
    assert fresh.status_code == 200 and fresh.json()["version"] == 3


def test_another_type_is_a_409(client, auth):
    got = _created(client, auth, BY_PLURAL["statements"])
    assert_problem(client.put(got["href"], json=got | {"type": "event"}, headers=auth), 409,
                   "the type in the body ('event') is not this endpoint's ('statement')")


def test_a_stale_copy_with_a_wrong_id_is_a_409_naming_both(client, auth):
    got = _created(client, auth, KINDS[0])
    client.patch(got["href"], json={"summary": "changed meanwhile"}, headers=auth)
    body = assert_problem(client.put(got["href"], json=got | {"id": 12345}, headers=auth),
                          409, "id", "version")
    assert {e["loc"][1] for e in body["errors"]} == {"id", "updated_at", "version"}


def test_every_read_only_field_that_differs_is_named_in_one_problem(client, auth):
    got = _created(client, auth, BY_PLURAL["events"])
    changed = {"id": 999, "type": "article", "created_at": "2020-01-01T00:00:00Z",
               "updated_at": "2020-01-01T00:00:00Z", "version": 9,
               "provenance": {"source": "mine"}, "date_from": "2020-01-01",
               "date_to": None, "href": "/api/v1/events/999"}
    assert changed.keys() == set(SERVER_FIELDS)
    response = client.put(got["href"], json=got | changed, headers=auth)
    body = assert_problem(response, 409, "read-only fields differ", *SERVER_FIELDS)
    assert [e["loc"] for e in body["errors"]] == [["body", name] for name in SERVER_FIELDS]
    assert client.get(got["href"]).json() == got


def _milliseconds(stamp: str) -> str:
    """A timestamp as JavaScript's Date.toISOString() writes it back."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def test_timestamps_compare_to_the_millisecond_in_any_offset(client, auth):
    got = _created(client, auth, KINDS[0])
    as_javascript = {name: _milliseconds(got[name]) for name in ("created_at", "updated_at")}
    as_offset = {name: got[name].replace("Z", "+00:00") for name in ("created_at",
                                                                      "updated_at")}
    for sent in (as_javascript, as_offset):
        response = client.put(got["href"], json=got | sent, headers=auth)
        assert response.status_code == 200, response.text
        assert response.json()["version"] == got["version"]
    moved = {"created_at": "2001-02-03T04:05:06Z"}
    assert_problem(client.patch(got["href"], json=moved, headers=auth), 409,
                   "created_at: read-only")


@pytest.mark.parametrize("name", ["id", "type", "created_at", "updated_at", "version", "href"])
def test_null_for_a_read_only_field_a_get_never_gives_null_is_a_422(client, auth, name):
    got = _created(client, auth, KINDS[0])
    assert_problem(client.patch(got["href"], json={name: None}, headers=auth), 422,
                   f"body.{name}")


def test_the_document_shows_put_and_patch_taking_the_read_only_fields(client):
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    put = document["paths"]["/api/v1/articles/{entry_id}"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ArticleReplace")
    for model in ("ArticleReplace", "ArticleUpdate"):
        properties = schemas[model]["properties"]
        assert set(SERVER_FIELDS) <= properties.keys()
        assert "412" in properties["version"]["description"]
        assert "409" in properties["id"]["description"]
        assert not set(SERVER_FIELDS) & set(schemas[model].get("required", []))
