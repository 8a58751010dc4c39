"""Dates with a precision through the API: placement on write, filters, timeline, calendar."""

import json

import pytest

from app.entries.registry import BY_PLURAL
from tests.helpers import assert_problem, sample

ARTICLES, EVENTS, STATEMENTS = (BY_PLURAL[name] for name in ("articles", "events", "statements"))
SESSION_46 = {"date": "2021-02-22", "date_precision": "session", "date_from": "2021-02-22",
              "date_to": "2021-03-23"}  # seed_data/sessions.toml
NDJSON = {"Content-Type": "application/x-ndjson"}


def placement(item: dict) -> dict:
    return {key: item[key] for key in ("date", "date_precision", "date_from", "date_to")}


def day(value: str) -> dict:
    return {"date": value, "date_precision": "day", "date_from": value, "date_to": value}


def create(client, auth, spec, **fields) -> dict:
    response = client.post(f"/api/v1/{spec.plural}", json=sample(spec, **fields), headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


def titles(client, url: str) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return sorted(item["title"] for item in response.json()["items"])


class TestPlacementOnWrite:
    def test_primary_date_session_dates_or_nothing(self, client, auth):
        article = create(client, auth, ARTICLES, published_on="2021-03-24")
        assert placement(article) == day("2021-03-24")
        statement = create(client, auth, STATEMENTS, title="Undated")
        assert statement["delivered_on"] is None and placement(statement) == SESSION_46
        loose = create(client, auth, STATEMENTS, title="Sessionless", session=None)
        assert placement(loose) == {"date": None, "date_precision": "unknown",
                                    "date_from": None, "date_to": None}
        assert client.get(f"/api/v1/statements/{statement['id']}").json() == statement

    def test_a_month_is_kept_and_stands_for_the_whole_month(self, client, auth):
        event = create(client, auth, EVENTS, starts_on=None, date_precision="month",
                       date="2021-03-15")
        assert event["starts_on"] is None
        assert placement(event) == {"date": "2021-03-01", "date_precision": "month",
                                    "date_from": "2021-03-01", "date_to": "2021-03-31"}
        renamed = client.patch(f"/api/v1/events/{event['id']}", json={"title": "Renamed"},
                               headers=auth).json()
        assert placement(renamed) == placement(event)
        dated = client.patch(f"/api/v1/events/{event['id']}", json={"starts_on": "2021-03-05"},
                             headers=auth).json()
        assert placement(dated) == day("2021-03-05")  # a known day is more precise

    def test_a_day_without_primary_date_becomes_the_primary_date(self, client, auth):
        statement = create(client, auth, STATEMENTS, date_precision="day", date="2021-03-23")
        assert statement["delivered_on"] == "2021-03-23"
        assert placement(statement) == day("2021-03-23")

    def test_patch_and_put_place_the_entry_again(self, client, auth):
        statement = create(client, auth, STATEMENTS)
        url = f"/api/v1/statements/{statement['id']}"
        dated = client.patch(url, json={"delivered_on": "2021-03-01"}, headers=auth).json()
        assert placement(dated) == day("2021-03-01") and dated["version"] == 2
        undated = client.patch(url, json={"delivered_on": None}, headers=auth).json()
        assert placement(undated) == SESSION_46
        replaced = client.put(url, json=sample(STATEMENTS, session=None), headers=auth).json()
        assert replaced["date_precision"] == "unknown" and replaced["date"] is None

    @pytest.mark.parametrize(("fields", "field", "says"), [
        ({"published_on": "2021-03-24", "date_precision": "session"}, "date_precision",
         "published_on is 2021-03-24"),
        ({"date_precision": "day"}, "date_precision", "session 46 runs"),
        ({"session": None, "date_precision": "session"}, "date_precision",
         "no published_on and no session dates"),
        ({"date_precision": "session", "date": "2021-03-01"}, "date", "placed at 2021-02-22"),
        ({"date_precision": "month"}, "date", "needs a date"),
    ])
    def test_a_sent_placement_that_disagrees_is_422_naming_it(self, client, auth, fields,
                                                               field, says):
        body = assert_problem(client.post("/api/v1/articles", json=sample(
            ARTICLES, published_on=None) | fields, headers=auth), 422, says)
        assert [error["loc"] for error in body["errors"]] == [["body", field]]

    def test_derived_bounds_are_read_only(self, client, auth):
        assert_problem(client.post("/api/v1/articles", json=sample(
            ARTICLES, date_from="2021-01-01"), headers=auth), 422, "date_from")
        schema = client.get("/openapi.json").json()["components"]["schemas"]
        public = schema["ArticlePublic"]["properties"]
        assert public["date_from"]["readOnly"] and public["date_to"]["readOnly"]
        assert {"date", "date_precision"} <= set(schema["ArticleCreate"]["properties"])
        assert "date_from" not in schema["ArticleCreate"]["properties"]
        assert set(public["date_precision"]["enum"]) == {"day", "month", "session", "unknown"}

    def test_a_session_whose_dates_change_moves_its_entries(self, client, auth):
        undated = create(client, auth, STATEMENTS, title="Undated")
        dated = create(client, auth, STATEMENTS, title="Dated", delivered_on="2021-03-01")
        response = client.patch("/api/v1/sessions/46", json={"ends_on": "2021-03-24"},
                                headers=auth)
        assert response.status_code == 200, response.text
        moved = client.get(f"/api/v1/statements/{undated['id']}").json()
        assert placement(moved) == SESSION_46 | {"date_to": "2021-03-24"}
        assert moved["version"] == undated["version"] + 1
        assert client.get(f"/api/v1/statements/{dated['id']}").json() == dated
        changes = client.get("/api/v1/changes?limit=100").json()["items"]
        assert (undated["id"], "updated", 2) in {
            (c["id"], c["action"], c["version"]) for c in changes}
        client.patch("/api/v1/sessions/46", json={"starts_on": None}, headers=auth)
        assert client.get(f"/api/v1/statements/{undated['id']}").json()[
            "date_precision"] == "unknown"

    def test_bulk_resent_export_is_unchanged(self, client, auth):
        create(client, auth, STATEMENTS, title="Undated")
        create(client, auth, STATEMENTS, title="Monthly", date_precision="month",
               date="2021-03-02")
        create(client, auth, STATEMENTS, title="Dated", delivered_on="2021-03-01")
        exported = client.get("/api/v1/statements/export?format=ndjson")
        assert {json.loads(line)["date_precision"] for line in exported.text.splitlines()} == {
            "session", "month", "day"}
        report = client.post("/api/v1/statements/bulk", content=exported.content,
                             headers=auth | NDJSON).json()
        assert report == {"created": 0, "updated": 0, "unchanged": 3, "failed": 0,
                          "errors": []}


@pytest.fixture
def placed(client, auth) -> None:
    """One entry of each precision (and a day event inside and outside the session)."""
    create(client, auth, STATEMENTS, title="Day statement", delivered_on="2021-03-01")
    create(client, auth, STATEMENTS, title="Session statement")
    create(client, auth, STATEMENTS, title="Month statement", date_precision="month",
           date="2021-03-10")
    create(client, auth, STATEMENTS, title="Unknown statement", session=None)
    create(client, auth, EVENTS, title="Day event", starts_on="2021-03-05")
    create(client, auth, EVENTS, title="Session event", starts_on=None)


@pytest.mark.usefixtures("placed")
class TestReading:
    def test_precision_filter_is_any_of_on_every_list(self, client):
        assert titles(client, "/api/v1/statements?date_precision=session&date_precision=month"
                      ) == ["Month statement", "Session statement"]
        assert titles(client, "/api/v1/search?date_precision=day") == [
            "Day event", "Day statement"]
        assert titles(client, "/api/v1/timeline?date_precision=month") == ["Month statement"]
        exported = client.get("/api/v1/statements/export?format=ndjson&date_precision=unknown")
        assert [json.loads(line)["title"] for line in exported.text.splitlines()] == [
            "Unknown statement"]

    @pytest.mark.parametrize("path", ["statements", "search", "timeline", "statements/export"])
    def test_an_unknown_precision_is_422_naming_the_parameter(self, client, path):
        body = assert_problem(client.get(f"/api/v1/{path}?date_precision=week"), 422,
                              "date_precision")
        assert ["query", "date_precision"] in [error["loc"][:2] for error in body["errors"]]

    def test_a_range_holds_a_session_entry_only_when_it_covers_the_session(self, client):
        whole = "/api/v1/statements?date_from=2021-02-22&date_to=2021-03-23"
        assert titles(client, whole) == ["Day statement", "Session statement"]
        assert titles(client, "/api/v1/statements?date_from=2021-02-23&date_to=2021-03-23"
                      ) == ["Day statement"]
        assert titles(client, "/api/v1/statements?date_to=2021-03-22") == ["Day statement"]
        assert titles(client, "/api/v1/statements?date_from=2021-03-01&date_to=2021-03-31"
                      ) == ["Day statement", "Month statement"]
        assert titles(client, "/api/v1/statements?date_from=2021-03-02&date_to=2021-03-30"
                      ) == []

    def test_timeline_places_session_entries_at_the_session_start(self, client):
        items = client.get("/api/v1/timeline?limit=100").json()["items"]
        assert [(item["title"], item["date_precision"], item["date"]) for item in items] == [
            ("Session statement", "session", "2021-02-22"),
            ("Session event", "session", "2021-02-22"),
            ("Day statement", "day", "2021-03-01"),
            ("Month statement", "month", "2021-03-01"),
            ("Day event", "day", "2021-03-05")]

    def test_search_items_carry_the_placement(self, client):
        items = client.get("/api/v1/search?q=statement&limit=100").json()["items"]
        assert {item["title"]: item["date_precision"] for item in items} == {
            "Day statement": "day", "Session statement": "session",
            "Month statement": "month", "Unknown statement": "unknown"}

    def test_calendar_lists_only_events_on_a_known_day(self, client):
        calendar = client.get("/api/v1/feeds/events.ics").text
        assert calendar.count("BEGIN:VEVENT") == 1 and "SUMMARY:Day event" in calendar
        assert "BEGIN:VEVENT" not in client.get(
            "/api/v1/feeds/events.ics?date_precision=session").text
