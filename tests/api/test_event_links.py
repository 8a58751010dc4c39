"""Statements name their event by slug (`event`) as well as by id (`event_id`).

Written by slug in create, replace, patch and bulk; read back as both; an export loaded
into a database whose ids differ keeps each statement's event, by slug.
"""

import csv
import io
import json

import orjson
from sqlalchemy import text

from app.entries.kinds import events, statements
from tests.helpers import assert_problem, sample

NDJSON = {"Content-Type": "application/x-ndjson"}
STATEMENTS = "/api/v1/statements"


def make_event(client, auth, slug: str) -> dict:
    """An event with this slug."""
    response = client.post("/api/v1/events", json=sample(events.spec, title=slug, slug=slug),
                           headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


def make_statement(client, auth, **fields) -> dict:
    """A statement with these fields."""
    response = client.post(STATEMENTS, json=sample(statements.spec, **fields), headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


def link(body: dict) -> tuple:
    """A statement's event as both fields say it."""
    return body["event_id"], body["event"]


def test_create_by_slug_links_it_and_every_read_shows_id_and_slug(client, auth):
    seminar = make_event(client, auth, "geneva-seminar")
    created = make_statement(client, auth, title="By slug", event="geneva-seminar")
    assert link(created) == (seminar["id"], "geneva-seminar")
    by_id = make_statement(client, auth, title="By id", event_id=seminar["id"])
    assert link(by_id) == (seminar["id"], "geneva-seminar")
    unlinked = make_statement(client, auth, title="Unlinked")
    assert link(unlinked) == (None, None)
    assert link(client.get(f"{STATEMENTS}/{created['id']}").json()) == link(created)
    listed = client.get(f"{STATEMENTS}?sort=id").json()["items"]
    assert [link(item) for item in listed] == [link(created), link(by_id), (None, None)]
    sparse = client.get(f"{STATEMENTS}?sort=id&fields=event").json()["items"]
    assert [item["event"] for item in sparse] == ["geneva-seminar", "geneva-seminar", None]
    filtered = client.get(f"{STATEMENTS}?event_id={seminar['id']}").json()
    assert {item["event"] for item in filtered["items"]} == {"geneva-seminar"}
    exported = client.get(f"{STATEMENTS}/export").text.splitlines()
    assert [link(json.loads(line)) for line in exported] == [
        link(created), link(by_id), (None, None)]
    rows = list(csv.DictReader(io.StringIO(client.get(f"{STATEMENTS}/export?format=csv").text)))
    assert [(row["event_id"], row["event"]) for row in rows] == [
        (str(seminar["id"]), "geneva-seminar")] * 2 + [("", "")]


def test_put_and_patch_name_the_event_by_slug(client, auth):
    first, second = make_event(client, auth, "first"), make_event(client, auth, "second")
    statement = make_statement(client, auth, event_id=first["id"])
    url = f"{STATEMENTS}/{statement['id']}"
    patched = client.patch(url, json={"event": "second"}, headers=auth)
    assert patched.status_code == 200, patched.text
    assert link(patched.json()) == (second["id"], "second")
    assert patched.json()["version"] == 2
    by_id = client.patch(url, json={"event_id": first["id"]}, headers=auth).json()
    assert link(by_id) == (first["id"], "first")
    other_field = client.patch(url, json={"summary": "Kept link."}, headers=auth).json()
    assert link(other_field) == (first["id"], "first")
    cleared = client.patch(url, json={"event": None}, headers=auth).json()
    assert link(cleared) == (None, None)
    replaced = client.put(url, json=sample(statements.spec, event="second"), headers=auth)
    assert replaced.status_code == 200, replaced.text
    assert link(replaced.json()) == (second["id"], "second")
    same = client.put(url, json=sample(statements.spec, event="second"), headers=auth).json()
    assert same["version"] == replaced.json()["version"]  # nothing changed
    without = client.put(url, json=sample(statements.spec), headers=auth).json()
    assert link(without) == (None, None)  # PUT replaces every field


def test_an_unknown_slug_is_a_422_naming_body_event_and_changes_nothing(client, auth):
    statement = make_statement(client, auth)
    url = f"{STATEMENTS}/{statement['id']}"
    for response in (
        client.post(STATEMENTS, json=sample(statements.spec, event="nowhere"), headers=auth),
        client.put(url, json=sample(statements.spec, event="nowhere"), headers=auth),
        client.patch(url, json={"event": "nowhere"}, headers=auth),
    ):
        body = assert_problem(response, 422, "body.event", "nowhere")
        assert body["errors"] == [{"loc": ["body", "event"],
                                   "msg": "no event has slug 'nowhere'"}]
    assert client.get(url).json()["version"] == 1
    assert client.get(STATEMENTS).json()["total"] == 1
    article = client.post("/api/v1/articles", json={"title": "Not an event", "slug": "art"},
                          headers=auth)
    assert article.status_code == 201
    wrong_kind = client.patch(url, json={"event": "art"}, headers=auth)
    assert_problem(wrong_kind, 422, "body.event", "no event has slug 'art'")


def test_event_and_event_id_given_together_must_name_the_same_event(client, auth):
    first, second = make_event(client, auth, "first"), make_event(client, auth, "second")
    agreeing = make_statement(client, auth, event="first", event_id=first["id"])
    assert link(agreeing) == (first["id"], "first")
    url = f"{STATEMENTS}/{agreeing['id']}"
    for response in (
        client.post(STATEMENTS, json=sample(statements.spec, event="first",
                                            event_id=second["id"]), headers=auth),
        client.put(url, json=sample(statements.spec, event="first", event_id=second["id"]),
                   headers=auth),
        client.patch(url, json={"event": "second", "event_id": first["id"]}, headers=auth),
        client.patch(url, json={"event": None, "event_id": second["id"]}, headers=auth),
    ):
        body = assert_problem(response, 422, "body.event:", "body.event_id:")
        assert [error["loc"] for error in body["errors"]] == [["body", "event"],
                                                              ["body", "event_id"]]
    assert link(client.get(url).json()) == (first["id"], "first")
    both = client.patch(url, json={"event": "second", "event_id": second["id"]}, headers=auth)
    assert link(both.json()) == (second["id"], "second")
    neither = client.patch(url, json={"event": None, "event_id": None}, headers=auth)
    assert link(neither.json()) == (None, None)


def test_bulk_links_by_slug_json_and_ndjson_and_the_slug_beats_a_stale_id(client, auth):
    first, second = make_event(client, auth, "first"), make_event(client, auth, "second")
    items = [sample(statements.spec, title=f"Bulk {i}", slug=f"bulk-{i}",
                    event=["first", "second"][i % 2]) for i in range(4)]
    items[3]["event_id"] = first["id"]  # stale, as in another database's export
    report = client.post(f"{STATEMENTS}/bulk", json=items, headers=auth).json()
    assert (report["created"], report["failed"]) == (4, 0), report
    listed = client.get(f"{STATEMENTS}?sort=id").json()["items"]
    assert [link(item) for item in listed] == [
        (first["id"], "first"), (second["id"], "second")] * 2
    again = client.post(f"{STATEMENTS}/bulk", content=b"".join(
        orjson.dumps(item) + b"\n" for item in items), headers=auth | NDJSON).json()
    assert again["unchanged"] == 4, again
    moved = [item | {"event": "first"} for item in items]
    ndjson = b"".join(orjson.dumps(item) + b"\n" for item in moved)
    report = client.post(f"{STATEMENTS}/bulk", content=ndjson, headers=auth | NDJSON).json()
    assert (report["updated"], report["unchanged"]) == (2, 2), report
    assert {link(item) for item in client.get(STATEMENTS).json()["items"]} == {
        (first["id"], "first")}
    by_id = [sample(statements.spec, title="By id", slug="by-id", event_id=second["id"])]
    assert client.post(f"{STATEMENTS}/bulk", json=by_id, headers=auth).json()["created"] == 1
    assert link(client.get(f"{STATEMENTS}?fields=event_id,event&sort=-id").json()["items"][0]
                ) == (second["id"], "second")


def test_bulk_reports_an_unknown_slug_as_the_items_error(client, auth):
    make_event(client, auth, "first")
    items = [sample(statements.spec, title="Good", slug="good", event="first"),
             sample(statements.spec, title="Bad", slug="bad", event="nowhere")]
    atomic = client.post(f"{STATEMENTS}/bulk", json=items, headers=auth)
    body = assert_problem(atomic, 422, "1 of 2 items")
    assert [(e["index"], e["slug"], e["detail"]) for e in body["errors"]] == [
        (1, "bad", "no event has slug 'nowhere'")]
    partial = client.post(f"{STATEMENTS}/bulk?atomic=false", content=b"".join(
        orjson.dumps(item) + b"\n" for item in items), headers=auth | NDJSON).json()
    assert (partial["created"], partial["failed"]) == (1, 1)
    assert partial["errors"][0]["detail"] == "no event has slug 'nowhere'"


def test_export_loaded_where_ids_differ_keeps_each_link_by_slug(client, auth, db):
    seminar, forum = make_event(client, auth, "seminar"), make_event(client, auth, "forum")
    for i, event in enumerate(("seminar", "forum", None)):
        make_statement(client, auth, title=f"Statement {i}", slug=f"statement-{i}", event=event)
    exported_events = client.get("/api/v1/events/export").content
    exported = client.get(f"{STATEMENTS}/export").content
    for table in ("entry_topics", "entry_countries", "statements", "events", "entries"):
        db.execute(text(f"DELETE FROM {table}"))  # as empty as a new database
    db.commit()
    for i in range(3):  # unrelated events first: the same events get other ids
        make_event(client, auth, f"unrelated-{i}")
    loaded = client.post("/api/v1/events/bulk", content=exported_events,
                         headers=auth | NDJSON).json()
    assert loaded["created"] == 2, loaded
    report = client.post(f"{STATEMENTS}/bulk", content=exported, headers=auth | NDJSON).json()
    assert (report["created"], report["failed"]) == (3, 0), report
    ids = {e["slug"]: e["id"] for e in client.get("/api/v1/events?limit=10").json()["items"]}
    assert ids["seminar"] != seminar["id"] and ids["forum"] != forum["id"]
    listed = client.get(f"{STATEMENTS}?sort=id").json()["items"]
    assert sorted((item["slug"], *link(item)) for item in listed) == [
        ("statement-0", ids["seminar"], "seminar"), ("statement-1", ids["forum"], "forum"),
        ("statement-2", None, None)]


def test_deleting_the_event_leaves_event_null_on_its_statements(client, auth):
    seminar = make_event(client, auth, "seminar")
    statement = make_statement(client, auth, event="seminar")
    assert client.delete(f"/api/v1/events/{seminar['id']}", headers=auth).status_code == 204
    assert link(client.get(f"{STATEMENTS}/{statement['id']}").json()) == (None, None)
    assert [link(item) for item in client.get(STATEMENTS).json()["items"]] == [(None, None)]


def test_openapi_describes_event_with_an_example_on_every_statement_model(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("StatementCreate", "StatementUpdate", "StatementPublic"):
        event = schemas[name]["properties"]["event"]
        assert "slug" in event["description"] and "event_id" in event["description"]
        assert event["examples"] and {"type": "null"} in event["anyOf"]
    assert "event" not in schemas["EventPublic"]["properties"]
    assert "event" not in schemas["ArticleCreate"]["properties"]
