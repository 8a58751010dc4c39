"""Create, read, replace, update and delete, the same for every kind."""

import json

import pytest

from app.entries.registry import KINDS
from tests.helpers import KIND_IDS, assert_problem, sample

kinds = pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)


@kinds
def test_create_returns_201_location_and_the_record(client, auth, spec):
    payload = sample(spec)
    response = client.post(f"/api/v1/{spec.plural}", json=payload, headers=auth)
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/api/v1/{spec.plural}/{body['id']}"
    assert body["type"] == spec.type
    assert body["version"] == 1
    assert body["provenance"] is None
    assert body["created_at"] == body["updated_at"]
    assert body["created_at"].endswith("Z")
    for field, value in payload.items():
        assert body[field] == value, field
    fetched = client.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json() == body


@kinds
def test_slug_is_generated_from_title_stable_ascii_and_unique(client, auth, spec):
    payload = sample(spec, title="Chen Xu’s remarks on “Xinjiang” — Genève 2021")
    first = client.post(f"/api/v1/{spec.plural}", json=payload, headers=auth).json()
    assert first["slug"] == "chen-xus-remarks-on-xinjiang-geneve-2021"
    second = client.post(f"/api/v1/{spec.plural}", json=payload, headers=auth).json()
    assert second["slug"] == "chen-xus-remarks-on-xinjiang-geneve-2021-2"


@kinds
def test_explicit_duplicate_slug_is_409(client, auth, spec):
    payload = sample(spec, slug="same-slug")
    assert client.post(f"/api/v1/{spec.plural}", json=payload, headers=auth).status_code == 201
    response = client.post(f"/api/v1/{spec.plural}", json=payload, headers=auth)
    assert_problem(response, 409, "same-slug")


def test_same_slug_in_two_kinds_is_allowed(client, auth):
    for spec in KINDS:
        response = client.post(f"/api/v1/{spec.plural}", json=sample(spec, slug="shared"),
                               headers=auth)
        assert response.status_code == 201, response.text


@kinds
def test_patch_changes_only_given_fields_and_bumps_version(client, auth, spec):
    created = client.post(f"/api/v1/{spec.plural}", json=sample(spec), headers=auth).json()
    response = client.patch(f"/api/v1/{spec.plural}/{created['id']}",
                            json={"summary": "Updated summary.", "topics": []}, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["summary"] == "Updated summary."
    assert body["topics"] == []
    assert body["title"] == created["title"]
    assert body["version"] == 2
    assert body["updated_at"] > created["updated_at"]
    assert body["created_at"] == created["created_at"]
    assert response.headers["etag"] == f'"{body["id"]}-2"'


@kinds
def test_patch_without_change_keeps_version(client, auth, spec):
    created = client.post(f"/api/v1/{spec.plural}", json=sample(spec), headers=auth).json()
    body = client.patch(f"/api/v1/{spec.plural}/{created['id']}",
                        json={"title": created["title"]}, headers=auth).json()
    assert body["version"] == 1
    assert body["updated_at"] == created["updated_at"]


@kinds
def test_put_replaces_every_field(client, auth, spec):
    created = client.post(f"/api/v1/{spec.plural}", json=sample(spec), headers=auth).json()
    replacement = {"title": "Replaced title", "language": "fr"}
    response = client.put(f"/api/v1/{spec.plural}/{created['id']}", json=replacement,
                          headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["title"] == "Replaced title"
    assert body["language"] == "fr"
    assert body["summary"] == ""
    assert body["topics"] == [] and body["countries"] == [] and body["session"] is None
    assert body["slug"] == created["slug"]
    assert body["version"] == 2
    assert body[spec.primary_date] is None


@kinds
def test_delete_is_204_then_404(client, auth, spec):
    created = client.post(f"/api/v1/{spec.plural}", json=sample(spec), headers=auth).json()
    url = f"/api/v1/{spec.plural}/{created['id']}"
    response = client.delete(url, headers=auth)
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(client.get(url), 404, str(created["id"]))
    assert_problem(client.delete(url, headers=auth), 404)


def test_an_id_of_another_kind_is_404(client, auth):
    article = client.post("/api/v1/articles", json=sample(KINDS[0]), headers=auth).json()
    assert_problem(client.get(f"/api/v1/events/{article['id']}"), 404, "event")
    assert_problem(client.delete(f"/api/v1/events/{article['id']}", headers=auth), 404)
    assert client.get(f"/api/v1/articles/{article['id']}").status_code == 200


@kinds
def test_etag_and_conditional_get(client, auth, spec):
    created = client.post(f"/api/v1/{spec.plural}", json=sample(spec), headers=auth)
    url = created.headers["location"]
    tag = client.get(url).headers["etag"]
    not_modified = client.get(url, headers={"If-None-Match": tag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    client.patch(url, json={"summary": "x"}, headers=auth)
    assert client.get(url, headers={"If-None-Match": tag}).status_code == 200


@kinds
def test_stale_if_match_is_412_and_current_one_passes(client, auth, spec):
    created = client.post(f"/api/v1/{spec.plural}", json=sample(spec), headers=auth)
    url, tag = created.headers["location"], created.headers["etag"]
    assert client.patch(url, json={"summary": "first"},
                        headers=auth | {"If-Match": tag}).status_code == 200
    stale = client.patch(url, json={"summary": "second"}, headers=auth | {"If-Match": tag})
    assert_problem(stale, 412, "version 2")
    assert client.get(url).json()["summary"] == "first"
    assert_problem(client.delete(url, headers=auth | {"If-Match": tag}), 412)
    fresh = client.get(url).headers["etag"]
    assert client.delete(url, headers=auth | {"If-Match": fresh}).status_code == 204


def test_statement_event_id_must_name_an_event(client, auth):
    statements = KINDS[2]
    article = client.post("/api/v1/articles", json=sample(KINDS[0]), headers=auth).json()
    response = client.post("/api/v1/statements",
                           json=sample(statements, event_id=article["id"]), headers=auth)
    body = assert_problem(response, 422, "event_id")
    assert body["errors"][0]["loc"] == ["body", "event_id"]
    event = client.post("/api/v1/events", json=sample(KINDS[1]), headers=auth).json()
    linked = client.post("/api/v1/statements", json=sample(statements, event_id=event["id"]),
                         headers=auth)
    assert linked.status_code == 201
    client.delete(f"/api/v1/events/{event['id']}", headers=auth)
    assert client.get(linked.headers["location"]).json()["event_id"] is None


def test_topics_and_countries_are_normalised(client, auth):
    payload = sample(KINDS[0], topics=["tibet", "tibet", "xinjiang"], countries=["cn", "US", "CN"])
    body = client.post("/api/v1/articles", json=payload, headers=auth).json()
    assert body["topics"] == ["tibet", "xinjiang"]
    assert body["countries"] == ["CN", "US"]


def test_stored_json_reads_back_exactly(client, auth, db):
    """JSON columns are decoded fast, but never differently: integers past 64 bits stay
    integers, and NaN (which SQLite can hold) still reads."""
    from sqlalchemy import text

    from tests.databases import IS_POSTGRES

    created = client.post("/api/v1/articles", json=sample(KINDS[0]), headers=auth).json()
    stored = '{"line": 123456789012345678901, "page": "p", "ratio": 0.1' + (
        "}" if IS_POSTGRES else ', "missing": NaN}')
    db.execute(text("UPDATE entries SET provenance = :p WHERE id = :id"),
               {"p": stored, "id": created["id"]})
    db.commit()
    for url in (f"/api/v1/articles/{created['id']}", "/api/v1/articles"):
        response = client.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        record = body if "id" in body else body["items"][0]
        assert record["provenance"]["line"] == 123456789012345678901
        assert record["provenance"]["ratio"] == 0.1
        # Strict JSON for every client: a NaN SQLite kept is written as null.
        json.loads(response.text, parse_constant=lambda word: pytest.fail(f"{word} in JSON"))
        assert record["provenance"].get("missing") is None
